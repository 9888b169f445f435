// Browser benchmark of the dashboard (not a test): a swarm of 1,000 mock
// agents shown at /ui#/swarm/big while 100 messages a second are routed
// (each a `message_routed` event flashed on the graph, plus the agents'
// status changes), with the frame time measured in the page from
// requestAnimationFrame deltas. Prints the median, p99 and worst frame.
//
//   npm ci --prefix tests/js            # puppeteer-core
//   cargo build --release
//   node benches/dashboard.mjs [target/release/hive] [chromium] [seconds]
//
// The daemon is started here (in memory, a free loopback port) and stopped
// at the end; the load is bounded (rate × seconds messages).

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const puppeteer = require("puppeteer-core");

const [bin = "target/release/hive", chromium = "/usr/bin/chromium", secs = "10"] = process.argv.slice(2);
const AGENTS = 1000, RATE = 100, SECONDS = Number(secs);

const daemon = spawn(bin, ["serve", "--in-memory", "--listen", "127.0.0.1:0", "--zmq", "tcp://127.0.0.1:0"], {
  stdio: ["ignore", "ignore", "pipe"],
});
const base = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("the daemon did not announce its address")), 30000);
  readline.createInterface({ input: daemon.stderr }).on("line", (l) => {
    const m = l.match(/^hive: serving (\S+)/);
    if (m) { clearTimeout(timer); resolve(m[1].replace(/\/$/, "")); }
  });
});
const post = (p, body) => fetch(base + p, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const toml = `name = "big"\n[[agents]]\nname = "planner"\nbackend = "mock"\n[[agents]]\nname = "worker"\nbackend = "mock"\nreplicas = ${AGENTS}\nmock = { delay_ms = 5, reply = "ok" }\n[topology]\nplanner = ["worker"]\n`;
const made = await post("/api/swarms", { content: toml, format: "toml" });
if (!made.ok) throw new Error(`swarm: ${made.status} ${await made.text()}`);

const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(`${base}/ui#/swarm/big`);
  await page.waitForFunction((n) => document.querySelectorAll("svg.graph .node").length === n, { timeout: 60000 }, AGENTS + 1);
  await page.evaluate(() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  // RATE messages a second for SECONDS, paced against the clock.
  const start = Date.now();
  let sent = 0, refused = 0;
  while (sent < RATE * SECONDS) {
    const due = start + (sent * 1000) / RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const to = `worker_${(sent % AGENTS) + 1}`;
    post("/api/swarms/big/message", { from: "planner", to, content: `m${sent}` }).then((r) => r.ok || refused++);
    sent++;
  }
  const frames = await page.evaluate(() => { window.__stop = true; return window.__frames.slice(1); });
  frames.sort((a, b) => a - b);
  const q = (p) => frames[Math.min(frames.length - 1, Math.floor(p * frames.length))];
  const shown = await page.$$eval("#swarm-events li", (l) => l.length);
  console.log(JSON.stringify({
    agents: AGENTS, rate: RATE, seconds: SECONDS, messages: sent, refused, frames: frames.length,
    median_ms: +q(0.5).toFixed(2), p99_ms: +q(0.99).toFixed(2), max_ms: +frames[frames.length - 1].toFixed(2),
    events_listed: shown,
  }));
} finally {
  await browser.close();
  daemon.kill("SIGTERM");
}
