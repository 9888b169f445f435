// The REST and WebSocket API with the user's token. The token is asked for
// once and kept in sessionStorage: for this tab only, gone when it closes.

const KEY = "hive.token";

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

/** A refusal of the API: its status and its `{error, error_code}` body. */
export class ApiError extends Error {
  constructor(status, body) {
    super(`${status} ${body.error_code || ""}: ${body.error || "request failed"}`);
    this.status = status;
    this.body = body;
  }
}

/** Calls `method path` with an optional JSON body; the answer's JSON. */
export async function call(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { error: text };
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export const get = (path) => call("GET", path);

/** `encodeURIComponent` for path segments. */
export const seg = encodeURIComponent;

/** A WebSocket URL for `path` with `params` and the token. */
export function wsUrl(path, params = {}) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) u.searchParams.set(k, v);
  if (token()) u.searchParams.set("token", token());
  return u.toString();
}
