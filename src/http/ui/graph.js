// A swarm's live graph, hand-laid SVG: its agents and objects as nodes
// coloured by state, each scale group as a box holding its replicas, its
// edges as lines, and routed (green) and denied (red) messages flashed on
// the edge they took as they happen. Updates touch only what changed, so a
// thousand agents and a hundred events a second stay cheap.

import { s } from "./dom.js";

const R = 14; // node radius
const GAP = 38; // node spacing

export class SwarmGraph {
  constructor() {
    this.svg = s("svg", { class: "graph", role: "img", "aria-label": "swarm graph" });
    this.nodes = new Map(); // name → {g, x, y}
    this.groups = new Map(); // group → {x, y, w, h}
    this.memberOf = new Map(); // agent → group
    this.flashLayer = null;
  }

  /** Lays out `status` (a `GET /api/swarms/{name}` answer) afresh. */
  render(status) {
    this.nodes.clear();
    this.groups.clear();
    this.memberOf.clear();
    const loose = [];
    const byGroup = new Map();
    for (const a of status.agents) {
      if (a.group) {
        if (!byGroup.has(a.group)) byGroup.set(a.group, []);
        byGroup.get(a.group).push(a);
        this.memberOf.set(a.name, a.group);
      } else loose.push({ ...a, kind: "agent" });
    }
    for (const o of status.objects) loose.push({ ...o, kind: "object" });
    for (const g of status.groups || []) if (!byGroup.has(g.name)) byGroup.set(g.name, []);

    const width = Math.max(640, (loose.length + 1) * GAP * 2);
    const parts = [];
    // Loose agents and objects in a row at the top.
    loose.forEach((n, i) => {
      const x = GAP + i * GAP * 2, y = 40;
      parts.push(this.node(n, x, y));
    });
    // Each scale group as a box of replicas below, in a square-ish grid.
    let y = 100;
    for (const [name, members] of byGroup) {
      const cols = Math.max(1, Math.min(Math.floor((width - 40) / GAP), Math.ceil(Math.sqrt(members.length * 3))));
      const rows = Math.max(1, Math.ceil(members.length / cols));
      const w = cols * GAP + 20, hgt = rows * GAP + 36;
      const x = 20;
      this.groups.set(name, { x, y, w, h: hgt });
      parts.push(s("rect", { class: "group", x, y, width: w, height: hgt, rx: 8 }));
      parts.push(s("text", { class: "group-label", x: x + 8, y: y + 16 }, `${name} ×${members.length}`));
      members.forEach((a, i) => {
        const nx = x + 10 + GAP / 2 + (i % cols) * GAP, ny = y + 26 + GAP / 2 + Math.floor(i / cols) * GAP;
        parts.push(this.node({ ...a, kind: "agent" }, nx, ny, true));
      });
      y += hgt + 20;
    }
    const edges = s("g", { class: "edges" });
    for (const e of status.topology || []) {
      const a = this.point(e.from), b = this.point(e.to);
      if (a && b) edges.append(s("line", { class: "edge", x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-from": e.from, "data-to": e.to }));
    }
    this.flashLayer = s("g", { class: "flashes" });
    this.svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(y, 120)}`);
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", Math.max(y, 120));
    this.svg.replaceChildren(edges, ...parts, this.flashLayer);
  }

  node(n, x, y, small) {
    const shape = n.kind === "object"
      ? s("rect", { x: x - R, y: y - R, width: 2 * R, height: 2 * R, rx: 3 })
      : s("circle", { cx: x, cy: y, r: small ? R - 4 : R });
    const g = s("g", { class: `node ${n.kind} state-${n.state}`, "data-name": n.name, "data-state": n.state },
      shape, s("title", {}, `${n.name}: ${n.state}`));
    if (!small) g.append(s("text", { x, y: y + R + 12, "text-anchor": "middle" }, n.name));
    g.addEventListener("click", () => this.onSelect?.(n.name, n.kind));
    this.nodes.set(n.name, { g, x, y });
    return g;
  }

  /** Where an edge endpoint is: a node, or the box of a scale group. */
  point(name) {
    const n = this.nodes.get(name);
    if (n) return n;
    const g = this.groups.get(name);
    return g ? { x: g.x + g.w / 2, y: g.y } : null;
  }

  /** Recolours one node. */
  setState(name, state) {
    const n = this.nodes.get(name);
    if (!n) return;
    n.g.setAttribute("class", n.g.getAttribute("class").replace(/state-\S+/, `state-${state}`));
    n.g.setAttribute("data-state", state);
    n.g.querySelector("title").textContent = `${name}: ${state}`;
  }

  /** Flashes a message from → to: `ok` routed, else denied. */
  flash(from, to, ok) {
    const a = this.point(from) || this.point(this.memberOf.get(from));
    const b = this.point(to) || this.point(this.memberOf.get(to));
    if (!a || !b || !this.flashLayer) return;
    if (this.flashLayer.childElementCount > 200) this.flashLayer.firstChild.remove();
    const line = s("line", { class: ok ? "flash routed" : "flash denied", x1: a.x, y1: a.y, x2: b.x, y2: b.y });
    this.flashLayer.append(line);
    setTimeout(() => line.remove(), 800);
  }
}
