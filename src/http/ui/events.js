// The live event stream (`/ws/events`) with its filters. It remembers the
// last sequence number it saw and, after a drop or a `lagged` notice,
// reconnects with `since=` so that no event is missed or shown twice. It
// starts from the daemon's `last_event_seq` (`/health`), so even a stream
// that drops before its first event resumes without a gap.

import { wsUrl } from "./api.js";

export class EventStream {
  /** `filters`: `{swarm, agent, level, category, event_type}`; `onEvent(e)`; `onState(text)`. */
  constructor(filters, onEvent, onState = () => {}) {
    this.filters = filters;
    this.onEvent = onEvent;
    this.onState = onState;
    this.since = null;
    this.closed = false;
    this.retry = 500;
    this.opened = false;
    fetch("/health")
      .then((r) => r.json())
      .then((h) => { if (typeof h.last_event_seq === "number") this.since = h.last_event_seq; })
      .catch(() => {})
      .finally(() => !this.closed && this.open());
  }

  open() {
    const params = { ...this.filters };
    if (this.since !== null) params.since = this.since;
    const ws = new WebSocket(wsUrl("/ws/events", params));
    this.ws = ws;
    ws.onopen = () => {
      this.retry = 500;
      this.onState(this.opened ? `live (resumed after #${this.since})` : "live");
      this.opened = true;
    };
    ws.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      if (e.type === "lagged") {
        this.since = e.missed_from - 1;
        return;
      }
      if (e.type === "gap") {
        this.onState(`events ${e.from}–${e.to} are no longer held`);
        return;
      }
      if (typeof e.seq === "number") {
        if (this.since !== null && e.seq <= this.since) return;
        this.since = e.seq;
      }
      this.onEvent(e);
    };
    ws.onclose = () => {
      if (this.closed) return;
      this.onState(`disconnected; reconnecting${this.since === null ? "" : ` with since=${this.since}`}`);
      setTimeout(() => !this.closed && this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
