// Drives the dashboard (/ui) in headless Chromium with puppeteer-core against
// a running daemon (see tests/dashboard.rs): the token's 401, the demo
// swarm's graph, scaling from the UI, the event stream, a task sent from an
// agent's page, markup in user data shown as text and never run, and no
// console errors. Saves screenshots of the main views into SHOTS.
//
//   node dashboard.mjs BASE_URL TOKEN CHROMIUM SHOTS_DIR VIEWER_TOKEN
// Prints one JSON line: {ok, steps, console_errors}.

import puppeteer from "puppeteer-core";
import fs from "node:fs";
import path from "node:path";

const [base, goodToken, chromium, shots, viewerToken] = process.argv.slice(2);
const PAYLOAD = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script><b>bold</b>`;
const steps = [];
const consoleErrors = [];
let phase = "start";

async function api(method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${goodToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let ok = false;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800 });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // The refused request of the bad-token step is logged by Chromium itself.
    if (phase === "bad-token" && /401/.test(m.text())) return;
    if (phase === "refused" && /403/.test(m.text())) return;
    // So are the reconnects that fail while the browser is offline.
    if (phase === "resume" && /WebSocket|held/.test(m.text())) return;
    consoleErrors.push(`${phase}: ${m.text()}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`${phase}: ${e.message}`));
  // The test's hold on the page's sockets: every WebSocket is recorded, and
  // while __hold is set a new one goes nowhere (its reconnect fails), so a
  // stream can be dropped and kept down while events happen.
  await page.evaluateOnNewDocument(() => {
    const Real = window.WebSocket;
    window.__sockets = [];
    window.__hold = false;
    window.WebSocket = function (url, protocols) {
      const ws = new Real(window.__hold ? "ws://127.0.0.1:9/held" : url, protocols);
      window.__sockets.push(ws);
      return ws;
    };
    window.WebSocket.prototype = Real.prototype;
  });
  const wait = (fn, ...args) => page.waitForFunction(fn, { timeout: 15000 }, ...args);
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });
  const t0 = Date.now();
  const step = (s) => { phase = s; steps.push(`${s} @${Date.now() - t0}ms`); };
  // A view re-renders on its events, so an element found by one call may be
  // replaced before a second one clicks it: find and click in one step.
  const press = async (sel) => {
    await page.waitForSelector(sel, { timeout: 15000 });
    await page.$eval(sel, (el) => el.click());
  };
  const clickButton = (label) => page.evaluate((l) => [...document.querySelectorAll("main button")].find((b) => b.textContent === l).click(), label);

  // A bad token: the API's 401 is shown.
  step("bad-token");
  await page.goto(`${base}/ui#/swarms`);
  await page.type("#token", "not-the-token");
  await page.click("#token-form button");
  await wait(() => /401 HIVE_UNAUTHORIZED/.test(document.getElementById("error").textContent));
  await shot("bad-token");

  // The right one: the demo swarm is listed, and its graph appears.
  step("graph");
  await page.$eval("#token", (el) => (el.value = ""));
  await page.type("#token", goodToken);
  await page.click("#token-form button");
  await wait(() => [...document.querySelectorAll("a.swarm-link")].some((a) => a.textContent === "demo"));
  await shot("swarms");
  await press("a.swarm-link");
  await wait(() => document.querySelectorAll("svg.graph .node").length === 5);

  // Scaling from the UI adds nodes; the scale shows in the swarm's events.
  step("scale");
  await page.$eval("#scale-count", (el) => (el.value = ""));
  await page.type("#scale-count", "6");
  await press("#scale");
  await wait(() => document.querySelectorAll("svg.graph .node").length === 8);
  await wait(() => [...document.querySelectorAll("#swarm-events .type")].some((t) => t.textContent === "group_scaled"));

  // Routed and denied messages, carrying markup, while the swarm is shown.
  step("messages");
  await api("POST", "/api/swarms/demo/message", { from: "planner", to: "board", content: PAYLOAD });
  const denied = await api("POST", "/api/swarms/demo/message", { from: "board", to: "planner", content: PAYLOAD });
  if (denied.status !== 403) throw new Error(`denied message answered ${denied.status}`);
  await wait(() => [...document.querySelectorAll("#swarm-events .type")].some((t) => t.textContent === "route_denied"));
  await wait((p) => [...document.querySelectorAll("#swarm-events .meta")].some((m) => m.textContent === p), PAYLOAD);
  await shot("swarm");

  // Edges added and removed, and the swarm paused and resumed, from the UI.
  step("edges-and-pause");
  await page.type("#edge-from", "worker");
  await page.type("#edge-to", "board");
  await press("#edge-add");
  await wait(() => document.querySelector('line.edge[data-from="worker"][data-to="board"]') !== null);
  await press("#edge-remove");
  await wait(() => document.querySelector('line.edge[data-from="worker"][data-to="board"]') === null);
  await clickButton("pause");
  await wait(() => [...document.querySelectorAll("svg.graph .node.agent")].every((n) => n.dataset.state === "paused"));
  await clickButton("resume");
  await wait(() => [...document.querySelectorAll("svg.graph .node.agent")].every((n) => n.dataset.state === "idle"));

  // The event stream with a filter, fed live.
  step("events");
  await page.goto(`${base}/ui#/events?swarm=demo&category=routing`);
  await wait(() => /live/.test(document.getElementById("stream-state")?.textContent || ""));
  await api("POST", "/api/swarms/demo/message", { from: "planner", to: "worker_1", content: PAYLOAD });
  await wait(() => [...document.querySelectorAll("#event-feed .type")].some((t) => t.textContent === "message_broadcast" || t.textContent === "message_routed"));
  await shot("events");

  // A dropped stream resumes with since=: the events routed while the
  // browser was offline arrive after it, each once.
  step("resume");
  await page.evaluate(() => (window.__hold = true));
  await page.evaluate(() => window.__sockets.filter((w) => w.url.includes("/ws/events")).forEach((w) => w.close()));
  await wait(() => /disconnected/.test(document.getElementById("stream-state").textContent));
  for (const n of [1, 2, 3]) await api("POST", "/api/swarms/demo/message", { from: "planner", to: "board", content: `while offline ${n}` });
  await page.evaluate(() => (window.__hold = false));
  await wait(() => /resumed after/.test(document.getElementById("stream-state").textContent));
  await wait(() => [...document.querySelectorAll("#event-feed .meta")].filter((m) => /while offline [123]/.test(m.textContent)).length === 3);
  const seqs = await page.$$eval("#event-feed .seq", (l) => l.map((x) => x.textContent));
  if (new Set(seqs).size !== seqs.length) throw new Error(`an event shown twice: ${seqs}`);

  // A task from an agent's page, its result streamed in; its markup shown as text.
  step("task");
  await page.goto(`${base}/ui#/agent/demo/worker_1`);
  await page.waitForSelector("#task-input", { timeout: 15000 });
  await page.type("#task-input", PAYLOAD);
  await press("#task-form button");
  await wait(() => document.getElementById("task-output").dataset.status === "ok");
  const output = await page.$eval("#task-output", (el) => el.textContent);
  if (output !== "done") throw new Error(`task output ${JSON.stringify(output)}`);
  await wait((p) => document.querySelector("main").textContent.includes(p), PAYLOAD);
  await shot("agent");

  // Workers, tasks and schedules.
  step("lists");
  await page.goto(`${base}/ui#/tasks`);
  await wait((p) => [...document.querySelectorAll("main td")].some((td) => td.textContent === p), PAYLOAD);
  await shot("tasks");
  // A task no worker can take stays queued, and is cancelled from the list.
  const queued = await api("POST", "/api/v1/tasks", { prompt: "never taken", capabilities: ["nobody-has-this"] });
  if (queued.status !== 202) throw new Error(`submit answered ${queued.status}: ${JSON.stringify(queued.body)}`);
  await page.goto(`${base}/ui#/tasks?status=queued`);
  await wait(() => [...document.querySelectorAll("main td")].some((td) => td.textContent === "never taken"));
  await clickButton("cancel");
  await wait(async (id) => {
    const r = await fetch(`/api/v1/tasks/${id}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem("hive.token")}` } });
    return (await r.json()).status === "cancelled";
  }, queued.body.task_id);
  // An HTTP worker, drained from the UI.
  const reg = await api("POST", "/api/v1/workers/register", { id: "ui-worker", slots: 2, capabilities: ["report"] });
  if (reg.status !== 201) throw new Error(`register answered ${reg.status}`);
  await page.goto(`${base}/ui#/workers`);
  await wait(() => [...document.querySelectorAll("main td")].some((td) => td.textContent === "ui-worker"));
  await clickButton("drain");
  await wait(() => [...document.querySelectorAll("main td")].some((td) => td.textContent === "draining"));
  await shot("workers");
  await clickButton("undrain");
  await wait(() => [...document.querySelectorAll("main button")].some((b) => b.textContent === "drain"));
  // A schedule, disabled from the UI, and its history.
  const made = await api("POST", "/api/v1/schedules", {
    name: "hourly", every: "1h", target: { agent: { swarm: "demo", agent: "worker_1" } }, content: "report",
  });
  if (made.status !== 201) throw new Error(`schedule answered ${made.status}: ${JSON.stringify(made.body)}`);
  await page.goto(`${base}/ui#/schedules`);
  await wait(() => [...document.querySelectorAll("main td")].some((td) => td.textContent === "hourly"));
  await clickButton("disable");
  await wait(() => [...document.querySelectorAll("main button")].some((b) => b.textContent === "enable"));
  await clickButton("enable");
  await wait(() => [...document.querySelectorAll("main button")].some((b) => b.textContent === "disable"));
  await clickButton("disable");
  await wait(() => [...document.querySelectorAll("main button")].some((b) => b.textContent === "enable"));
  await clickButton("history");
  await wait(() => /Runs of hourly/.test(document.getElementById("runs").textContent));
  await shot("schedules");

  // None of the markup ran or became an element.
  step("escaping");
  await page.goto(`${base}/ui#/events?swarm=demo`);
  await page.goto(`${base}/ui#/agent/demo/worker_1`);
  await wait((p) => document.querySelector("main").textContent.includes(p), PAYLOAD);
  const injected = await page.evaluate(() => ({
    flag: window.__pwned ?? null,
    elements: document.querySelectorAll("main img, main script, main b").length,
  }));
  if (injected.flag !== null || injected.elements !== 0) throw new Error(`markup ran: ${JSON.stringify(injected)}`);

  // An agent and then the swarm restarted from their pages.
  step("restart");
  const authed = (path) =>
    fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem("hive.token")}` } }).then((r) => r.json());
  await page.goto(`${base}/ui#/agent/demo/worker_1`);
  await page.waitForSelector("#task-input", { timeout: 15000 });
  await clickButton("restart agent");
  await wait(() => /restart agent: done/.test(document.getElementById("error").textContent));
  await wait(async () => {
    const r = await fetch("/api/swarms/demo/agents/worker_1", { headers: { Authorization: `Bearer ${sessionStorage.getItem("hive.token")}` } });
    return (await r.json()).restarts >= 1;
  });
  await page.goto(`${base}/ui#/swarm/demo`);
  await wait(() => document.querySelectorAll("svg.graph .node").length === 8);
  const before = await page.evaluate(authed, "/api/swarms/demo/events?event_type=swarm_started&limit=100");
  await clickButton("restart");
  await wait(() => /^restart: done/.test(document.getElementById("error").textContent));
  await wait(async (n) => {
    const r = await fetch("/api/swarms/demo/events?event_type=swarm_started&limit=100", { headers: { Authorization: `Bearer ${sessionStorage.getItem("hive.token")}` } });
    const b = await r.json();
    return (b.events || b.items || []).length > n;
  }, (before.events || before.items || []).length);

  // A viewer's action is refused by the API, and the page says so.
  step("refused");
  await page.goto(`${base}/ui#/swarm/demo`);
  await page.$eval("#token", (el) => (el.value = ""));
  await page.type("#token", viewerToken);
  await page.click("#token-form button");
  await wait(() => document.querySelectorAll("svg.graph .node").length === 8);
  await press("#scale");
  await wait(() => /403 HIVE_ACCESS_DENIED/.test(document.getElementById("error").textContent));
  await shot("refused");
  ok = consoleErrors.length === 0;
} catch (e) {
  steps.push(`failed in ${phase}: ${e.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok, steps, console_errors: consoleErrors }));
process.exit(ok ? 0 : 1);
