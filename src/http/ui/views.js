// The dashboard's views, one function each: it fetches what it shows from
// the API, renders it with DOM calls (never HTML), and returns a cleanup
// for the streams it opened. `ctx.fail(err)` shows a refusal.

import { call, get, seg, wsUrl } from "./api.js";
import { h, fill, table, when } from "./dom.js";
import { EventStream } from "./events.js";
import { SwarmGraph } from "./graph.js";

const LEVELS = ["", "debug", "info", "warning", "error"];
const CATEGORIES = ["", "swarm", "agent", "object", "routing", "backend", "worker", "task", "system"];
const TASK_STATUSES = ["", "queued", "in_progress", "ok", "error", "cancelled"];

function select(id, values, value) {
  return h("select", { id }, values.map((v) => {
    const o = h("option", { value: v }, v || "(any)");
    if (v === value) o.selected = true;
    return o;
  }));
}

/** A button that runs `action` and refreshes, or shows the refusal. */
function act(ctx, label, action, attrs = {}) {
  return h("button", {
    ...attrs,
    onclick: async (ev) => {
      ev.preventDefault();
      try {
        await action();
        ctx.ok(`${label}: done`);
        ctx.refresh?.();
      } catch (e) {
        ctx.fail(e);
      }
    },
  }, label);
}

function eventRow(e) {
  return h("li", { class: `event level-${e.level}` },
    h("span", { class: "seq" }, `#${e.seq}`), " ", h("span", { class: "time" }, when(e.timestamp)), " ",
    h("span", { class: "type" }, e.event_type), " ",
    h("span", { class: "where" }, [e.swarm, e.agent].filter(Boolean).join("/")), " ",
    h("span", { class: "msg" }, e.message), " ",
    h("span", { class: "meta" }, detail(e.metadata || {})));
}

/** What an event's metadata adds to its message: a message's preview, an output, an error. */
function detail(m) {
  const text = m.content_preview ?? m.content ?? m.error ?? m.reason;
  return typeof text === "string" ? text : "";
}

export async function swarms(main, ctx) {
  const list = await get("/api/swarms?limit=1000");
  fill(main, h("h1", {}, "Swarms"),
    list.swarms.length === 0 ? h("p", {}, "No swarms.") :
      table(["swarm", "state", "started"], list.swarms.map((sw) => [
        h("a", { href: `#/swarm/${seg(sw.name)}`, class: "swarm-link" }, sw.name),
        h("span", { class: `state state-${sw.state}` }, sw.state), when(sw.started_at)])));
}

export async function swarm(main, ctx, name) {
  const graph = new SwarmGraph();
  const feed = h("ul", { class: "events", id: "swarm-events" });
  const agentsBox = h("div");
  const head = h("div", { class: "actions" });
  let status;
  let pending = false;
  const reload = async () => {
    status = await get(`/api/swarms/${seg(name)}`);
    graph.render(status);
    fill(head, h("span", { class: `state state-${status.state}` }, status.state), " ",
      act(ctx, "pause", () => call("POST", `/api/swarms/${seg(name)}/pause`)),
      act(ctx, "resume", () => call("POST", `/api/swarms/${seg(name)}/resume`)),
      act(ctx, "restart", () => call("POST", `/api/swarms/${seg(name)}/restart`)));
    fill(agentsBox, table(["agent", "group", "backend", "state", "inbox", "restarts", "done"],
      status.agents.map((a) => [h("a", { href: `#/agent/${seg(name)}/${seg(a.name)}` }, a.name), a.group || "",
        a.backend, a.state, a.inbox, a.restarts, a.tasks_completed])));
    scaleGroup.replaceChildren(...(status.groups || []).map((g) => h("option", { value: g.name }, g.name)));
  };
  // Structural changes re-lay the graph, at most once a frame.
  const relayout = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      reload().catch(ctx.fail);
    });
  };
  ctx.refresh = relayout;
  graph.onSelect = (n, kind) => kind === "agent" && (location.hash = `#/agent/${seg(name)}/${seg(n)}`);

  const scaleGroup = h("select", { id: "scale-group" });
  const scaleCount = h("input", { id: "scale-count", type: "number", min: 0, value: 4 });
  const edgeFrom = h("input", { id: "edge-from", placeholder: "from" });
  const edgeTo = h("input", { id: "edge-to", placeholder: "to" });
  const edge = (op) => () => call("PATCH", `/api/swarms/${seg(name)}/topology`, { [op]: [[edgeFrom.value, edgeTo.value]] });
  const tools = h("div", { class: "actions" },
    "scale ", scaleGroup, " to ", scaleCount, " ",
    act(ctx, "scale", () => call("POST", `/api/swarms/${seg(name)}/agents/${seg(scaleGroup.value)}/scale`,
      { count: Number(scaleCount.value) }), { id: "scale" }),
    " edge ", edgeFrom, " → ", edgeTo, " ",
    act(ctx, "add edge", edge("add"), { id: "edge-add" }), act(ctx, "remove edge", edge("remove"), { id: "edge-remove" }));

  await reload();
  fill(main, h("h1", {}, "Swarm ", h("span", { class: "name" }, name)), head, tools,
    h("div", { class: "graph-box" }, graph.svg), h("h2", {}, "Agents"), agentsBox, h("h2", {}, "Events"), feed);

  const stream = new EventStream({ swarm: name }, (e) => {
    const m = e.metadata || {};
    switch (e.event_type) {
      case "agent_status": graph.setState(e.agent, m.state); break;
      case "message_routed": graph.flash(m.from, m.to, true); break;
      case "route_denied": graph.flash(m.from, m.to, false); break;
      case "agent_added": case "agent_removed": case "object_added": case "object_removed":
      case "topology_changed": case "group_scaled": case "swarm_started": case "swarm_stopped":
        relayout(); break;
    }
    if (e.event_type === "agent_status") return;
    feed.prepend(eventRow(e));
    while (feed.childElementCount > 200) feed.lastChild.remove();
  }, ctx.streamState);
  return () => stream.close();
}

export async function agent(main, ctx, sw, name) {
  const base = `/api/swarms/${seg(sw)}/agents/${seg(name)}`;
  const info = h("div");
  const output = h("pre", { id: "task-output", class: "output" });
  const taskInput = h("textarea", { id: "task-input", rows: 3, placeholder: "task for this agent" });
  let socket;
  const reload = async () => {
    const [a, hist, logs] = await Promise.all([get(base), get(`${base}/history?limit=50`), get(`${base}/logs?limit=50`)]);
    fill(info,
      table(["state", "backend", "group", "inbox", "restarts", "current task", "done", "failed", "last activity"],
        [[a.state, a.backend, a.group || "", a.inbox, a.restarts, a.current_task || "", a.tasks_completed, a.tasks_failed, when(a.last_activity)]]),
      h("div", { class: "actions" },
        act(ctx, "restart agent", () => call("POST", `${base}/restart`))),
      h("h2", {}, "History"),
      table(["time", "kind", "peer", "content"], hist.history.map((x) => [when(x.timestamp_ms), x.kind, x.peer, x.content])),
      h("h2", {}, "Logs"),
      h("ul", { class: "events" }, logs.logs.map(eventRow)));
  };
  ctx.refresh = () => reload().catch(ctx.fail);
  const send = async (ev) => {
    ev.preventDefault();
    try {
      const r = await call("POST", `${base}/task`, { task: taskInput.value });
      output.textContent = "";
      output.dataset.status = "running";
      socket?.close();
      socket = new WebSocket(wsUrl("/ws/tasks", { task: r.task_id }));
      socket.onmessage = (m) => {
        const n = JSON.parse(m.data);
        if (n.type === "task.output") output.append(document.createTextNode(n.content));
        if (n.type === "task.completed") { output.textContent = n.content ?? output.textContent; output.dataset.status = "ok"; reload().catch(ctx.fail); }
        if (n.type === "task.failed") { output.textContent = `${n.code}: ${n.message}`; output.dataset.status = "error"; }
        if (n.type === "task.cancelled") output.dataset.status = "cancelled";
      };
    } catch (e) {
      ctx.fail(e);
    }
  };
  await reload();
  fill(main, h("h1", {}, "Agent ", h("span", { class: "name" }, name), " of ",
    h("a", { href: `#/swarm/${seg(sw)}` }, sw)), info,
    h("h2", {}, "Send a task"), h("form", { id: "task-form", onsubmit: send }, taskInput, h("button", { type: "submit" }, "send")),
    output);
  return () => socket?.close();
}

export async function events(main, ctx, query) {
  const f = Object.fromEntries(new URLSearchParams(query));
  const inputs = {
    swarm: h("input", { id: "f-swarm", value: f.swarm || "", placeholder: "swarm" }),
    agent: h("input", { id: "f-agent", value: f.agent || "", placeholder: "agent" }),
    level: select("f-level", LEVELS, f.level || ""),
    category: select("f-category", CATEGORIES, f.category || ""),
    event_type: h("input", { id: "f-type", value: f.event_type || "", placeholder: "event_type" }),
  };
  const apply = (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, el] of Object.entries(inputs)) if (el.value) q.set(k, el.value);
    location.hash = `#/events?${q}`;
  };
  const feed = h("ul", { class: "events", id: "event-feed" });
  fill(main, h("h1", {}, "Events"), h("form", { class: "actions", onsubmit: apply }, Object.values(inputs), h("button", { type: "submit" }, "filter")), feed);
  const filters = {};
  for (const k of Object.keys(inputs)) if (f[k]) filters[k] = f[k];
  const stream = new EventStream(filters, (e) => {
    feed.prepend(eventRow(e));
    while (feed.childElementCount > 500) feed.lastChild.remove();
  }, ctx.streamState);
  return () => stream.close();
}

export async function workers(main, ctx) {
  const list = await get("/api/v1/workers?per_page=1000");
  ctx.refresh = () => workers(main, ctx).catch(ctx.fail);
  fill(main, h("h1", {}, "Workers"), list.items.length === 0 ? h("p", {}, "No workers connected.") :
    table(["worker", "transport", "status", "slots", "current tasks", "capabilities", ""], list.items.map((w) => [
      w.worker_id, w.transport, w.status, `${w.running.length}/${w.slots}`,
      w.running.join(", "), w.capabilities.join(", "),
      w.status === "draining"
        ? act(ctx, "undrain", () => call("POST", `/api/v1/zmq/workers/${seg(w.worker_id)}/on`))
        : act(ctx, "drain", () => call("POST", `/api/v1/zmq/workers/${seg(w.worker_id)}/off`))])));
}

export async function tasks(main, ctx, query) {
  const status = new URLSearchParams(query).get("status") || "";
  const list = await get(`/api/v1/tasks?per_page=200&sort=-created_at${status ? `&status=${seg(status)}` : ""}`);
  ctx.refresh = () => tasks(main, ctx, query).catch(ctx.fail);
  const pick = select("task-status", TASK_STATUSES, status);
  pick.onchange = () => (location.hash = `#/tasks${pick.value ? `?status=${seg(pick.value)}` : ""}`);
  fill(main, h("h1", {}, "Tasks"), h("div", { class: "actions" }, "status ", pick),
    table(["task", "status", "swarm/agent", "prompt", "result", "created", ""], list.items.map((t) => [
      h("code", {}, t.task_id.slice(0, 8)), t.status, [t.swarm, t.agent].filter(Boolean).join("/"), t.prompt,
      t.content ?? "", when(t.created_at),
      t.status === "queued" || t.status === "in_progress" ? act(ctx, "cancel", () => call("DELETE", `/api/v1/tasks/${seg(t.task_id)}`)) : ""])));
}

export async function schedules(main, ctx) {
  const list = await get("/api/v1/schedules");
  ctx.refresh = () => schedules(main, ctx).catch(ctx.fail);
  const runs = h("div", { id: "runs" });
  const showRuns = (name) => async () => {
    const r = await get(`/api/v1/schedules/${seg(name)}/runs?limit=50`);
    fill(runs, h("h2", {}, "Runs of ", name), table(["tick", "outcome", "task", "status", "reason"],
      r.runs.map((x) => [when(x.tick), x.outcome, x.task_id || "", x.task_status || "", x.reason || ""])));
  };
  fill(main, h("h1", {}, "Schedules"), list.schedules.length === 0 ? h("p", {}, "No schedules.") :
    table(["schedule", "timing", "enabled", "next", "last run", ""], list.schedules.map((x) => [
      x.name, x.cron || x.every || x.at || "", x.enabled ? "yes" : "no", when((x.next_fires || [])[0]),
      x.last_run ? `${x.last_run.outcome} ${when(x.last_run.at)}` : "",
      h("span", {}, act(ctx, x.enabled ? "disable" : "enable", () => call("PATCH", `/api/v1/schedules/${seg(x.name)}`, { enabled: !x.enabled })),
        " ", h("button", { onclick: () => showRuns(x.name)().catch(ctx.fail) }, "history"))])), runs);
}
