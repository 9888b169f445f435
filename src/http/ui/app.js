// The dashboard's entry: the token form, the error banner and the router
// (`#/swarms`, `#/swarm/NAME`, `#/agent/SWARM/AGENT`, `#/events?filters`,
// `#/workers`, `#/tasks?status=`, `#/schedules`).

import { setToken, token } from "./api.js";
import { h, fill } from "./dom.js";
import * as views from "./views.js";

const main = document.getElementById("main");
const banner = document.getElementById("error");
let cleanup = null;

const ctx = {
  fail(e) {
    banner.hidden = false;
    banner.className = "error";
    banner.textContent = e && e.status ? e.message : `error: ${e}`;
    if (e && e.status === 401) document.getElementById("token").focus();
  },
  ok(text) {
    banner.hidden = false;
    banner.className = "ok";
    banner.textContent = text;
  },
  streamState(text) {
    const el = document.getElementById("stream-state");
    if (el) el.textContent = text;
  },
};

async function route() {
  cleanup?.();
  cleanup = null;
  ctx.refresh = null;
  banner.hidden = true;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").map(decodeURIComponent);
  document.getElementById("stream-state")?.remove();
  try {
    switch (parts[0]) {
      case "swarm": cleanup = await views.swarm(main, ctx, parts[1]); break;
      case "agent": cleanup = await views.agent(main, ctx, parts[1], parts[2]); break;
      case "events": cleanup = await views.events(main, ctx, query); break;
      case "workers": cleanup = await views.workers(main, ctx); break;
      case "tasks": cleanup = await views.tasks(main, ctx, query); break;
      case "schedules": cleanup = await views.schedules(main, ctx); break;
      default: cleanup = await views.swarms(main, ctx);
    }
    if (parts[0] === "swarm" || parts[0] === "events") main.prepend(h("p", { id: "stream-state", class: "stream" }, "connecting"));
  } catch (e) {
    fill(main);
    ctx.fail(e);
  }
}

const input = document.getElementById("token");
input.value = token();
document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken(input.value.trim());
  route();
});
window.addEventListener("hashchange", route);
route();
