// Drives Hive's Phoenix socket with the official `phoenix` JS client.
//
//   node tests/js/phoenix_client.mjs <endpoint> <swarm> [agent]
//
// <endpoint> is the socket URL without the transport suffix, e.g.
// ws://127.0.0.1:4000/swarm (the client appends /websocket?vsn=2.0.0).
// HIVE_TOKEN, if set, is sent as the `token` param. Prints one JSON summary
// line on stdout; exits 0 only if every check passed (run by tests/phoenix.rs).
import { Socket } from "phoenix";
import WebSocket from "ws";

const [endpoint, swarm, agent = "worker"] = process.argv.slice(2);
if (!endpoint || !swarm) {
  console.error("usage: node phoenix_client.mjs <endpoint> <swarm> [agent]");
  process.exit(2);
}
const TIMEOUT_MS = Number(process.env.PHX_TIMEOUT_MS || 20000);
const summary = { ok: false, checks: [] };

function finish(code, error) {
  if (error) summary.error = String(error && error.stack ? error.stack : JSON.stringify(error));
  console.log(JSON.stringify(summary));
  process.exit(code);
}
const timer = setTimeout(() => finish(1, `timed out after ${TIMEOUT_MS} ms`), TIMEOUT_MS);

function check(name, cond, detail) {
  summary.checks.push(name);
  if (!cond) throw new Error(`check failed: ${name}: ${JSON.stringify(detail)}`);
}

// A push's outcome as a promise: resolves {status, response}.
function outcome(p) {
  return new Promise((resolve) => {
    p.receive("ok", (r) => resolve({ status: "ok", response: r }))
      .receive("error", (r) => resolve({ status: "error", response: r }))
      .receive("timeout", () => resolve({ status: "timeout", response: null }));
  });
}

// Resolves when pred() holds, re-checked on every push.
const waiters = [];
function until(what, pred) {
  return new Promise((resolve, reject) => {
    const w = { pred, resolve, what };
    if (pred()) return resolve();
    waiters.push(w);
    w.reject = reject;
  });
}
function poke() {
  for (let i = waiters.length - 1; i >= 0; i--) {
    if (waiters[i].pred()) waiters.splice(i, 1)[0].resolve();
  }
}

async function main() {
  const params = process.env.HIVE_TOKEN ? { token: process.env.HIVE_TOKEN } : {};
  const socket = new Socket(endpoint, {
    transport: WebSocket,
    params,
    timeout: 5000,
    reconnectAfterMs: () => 600000,
    rejoinAfterMs: () => 600000,
  });
  const errors = [];
  socket.onError((e) => errors.push(String(e && e.message ? e.message : e)));
  socket.connect();

  // An unknown swarm is refused.
  const ghost = socket.channel("swarm:no-such-swarm-here");
  const refused = await outcome(ghost.join());
  ghost.leave();
  check("unknown swarm refused", refused.status === "error" && refused.response.reason === "swarm_not_found", refused);
  summary.unknown_swarm = refused.response;

  const ch = socket.channel(`swarm:${swarm}`);
  const pushes = { agent_output: [], event: [], log_entry: [], lagged: [] };
  for (const name of Object.keys(pushes)) {
    ch.on(name, (p) => {
      pushes[name].push(p);
      poke();
    });
  }
  const joined = await outcome(ch.join());
  check("join ok", joined.status === "ok" && joined.response.swarm === swarm, joined);

  // Subscribing twice must not duplicate pushes.
  for (let i = 0; i < 2; i++) {
    const ev = await outcome(ch.push("subscribe_events", { filters: { category: "task" } }));
    check(`subscribe_events #${i + 1}`, ev.status === "ok", ev);
    const logs = await outcome(ch.push("subscribe_logs", {}));
    check(`subscribe_logs #${i + 1}`, logs.status === "ok", logs);
  }
  const badFilter = await outcome(ch.push("subscribe_events", { filters: { level: "loud" } }));
  check(
    "unknown filter value lists the valid ones",
    badFilter.status === "error" && /valid values: debug, info, warning, error/.test(badFilter.response.message),
    badFilter,
  );

  const sent = await outcome(ch.push("send_task", { agent, task: "hello from phoenix.js" }));
  check("send_task ok", sent.status === "ok" && typeof sent.response.task_id === "string", sent);
  const taskId = sent.response.task_id;
  summary.task_id = taskId;

  const mine = (p) => p.metadata && p.metadata.task_id === taskId;
  await until("agent_output and task_completed", () =>
    pushes.agent_output.some((p) => p.agent === agent && p.task_id === taskId) &&
    pushes.event.some((p) => mine(p) && p.event_type === "task_completed"),
  );
  const outputs = pushes.agent_output.filter((p) => p.task_id === taskId);
  summary.agent_output = outputs.map((p) => p.content);
  const taskEvents = pushes.event.filter(mine).map((p) => p.event_type);
  summary.task_events = taskEvents;
  check("one agent_output for the task", outputs.length === 1, outputs);
  check("task events pushed once each", new Set(taskEvents).size === taskEvents.length, taskEvents);
  check("task_queued pushed", taskEvents.includes("task_queued"), taskEvents);
  check("event pushes are filtered", pushes.event.every((p) => p.category === "task" && p.swarm === swarm), pushes.event);
  const seqs = pushes.event.map((p) => p.seq);
  check("no event seq twice", new Set(seqs).size === seqs.length, seqs);

  const status = await outcome(ch.push("get_status", {}));
  check("get_status ok", status.status === "ok" && status.response.name === swarm, status);
  summary.status_agents = status.response.agents.map((a) => a.name);
  check("status lists the agent", summary.status_agents.includes(agent), summary.status_agents);

  const unknownAgent = await outcome(ch.push("send_task", { agent: "nobody", task: "x" }));
  check("unknown agent refused", unknownAgent.status === "error" && unknownAgent.response.reason === "agent_not_found", unknownAgent);
  summary.unknown_agent = unknownAgent.response;

  const unknownEvent = await outcome(ch.push("dance", {}));
  check("unknown event refused", unknownEvent.status === "error" && unknownEvent.response.reason === "unknown_event", unknownEvent);

  const left = await outcome(ch.leave());
  check("leave ok", left.status === "ok", left);
  summary.log_entries = pushes.log_entry.length;
  summary.lagged = pushes.lagged.length;
  summary.socket_errors = errors;
  socket.disconnect();
  summary.ok = true;
}

main().then(
  () => {
    clearTimeout(timer);
    finish(0);
  },
  (e) => finish(1, e),
);
