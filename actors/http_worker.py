#!/usr/bin/env python3
"""Hive reference worker over plain HTTP (the job runner's flow).

Standard library only. It registers with the daemon, runs up to ``--slots``
tasks at once (one thread per slot, each long-polling for its next task),
streams each task's prompt back one word at a time as output chunks, then
posts the whole prompt as the result. See docs/api.md, "HTTP workers".

Calls (``/api/v1/workers``):

- ``POST /register`` ``{id, capabilities, slots, tags}`` once at start, and
  again whenever the daemon says it does not know this worker (404: the
  daemon restarted, or declared the worker lost, or it was unregistered);
- ``GET /{id}/next?wait=Ns``: a task ``{task_id, prompt, ..., lease_ms}`` or
  204 when none came. The daemon serves one poll per worker at a time, so
  the free slot threads take turns: one polls while the others wait for it;
- ``POST /{id}/tasks/{task}/output`` ``{content}`` per word;
- ``POST /{id}/tasks/{task}/result`` ``{content}``, or ``.../error``
  ``{code, message}`` for ``--fail-prompt``;
- ``POST /{id}/heartbeat`` every ``--heartbeat-ms`` from its own thread.

A 409 on output or result means the task is no longer this worker's (it
was cancelled, timed out, or given to another worker after this one was
lost): the task is dropped. Network errors are retried with a growing pause
(at most 5 s); nothing the daemon answers makes it crash.

Auth: ``--token T`` is sent as ``x-worker-token`` (the shared gateway token
or a worker token's secret). SIGTERM and SIGINT stop it: running tasks are
ended with an error ``shutdown``, then it unregisters nothing (the daemon
requeues its tasks when it goes silent) and exits 0.

Flags: ``--url`` (default ``http://127.0.0.1:4000``), ``--id`` (default
``http-<pid>``), ``--capabilities a,b`` (default ``echo``), ``--slots N``
(default 1), ``--token T``, ``--wait S`` (poll wait, default 20),
``--heartbeat-ms N`` (default 2000), ``--token-delay-ms N`` (pause after each
chunk, default 0), ``--fail-prompt TEXT``.
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

STOP = threading.Event()


def log(message):
    print(f"http_worker: {message}", file=sys.stderr, flush=True)


class Daemon:
    """The daemon's worker endpoints; answers (status, body)."""

    def __init__(self, url, worker_id, token):
        self.base = url.rstrip("/") + "/api/v1/workers"
        self.id = worker_id
        self.token = token

    def call(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        if self.token:
            req.add_header("x-worker-token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"error": raw.decode(errors="replace")}


def words(text):
    """The prompt cut into words that concatenate to it exactly."""
    return [w for w in re.findall(r"\s*\S+\s*", text)] or [text]


class Worker:
    def __init__(self, args):
        self.args = args
        self.daemon = Daemon(args.url, args.id, args.token)
        self.registered = threading.Event()
        self.register_lock = threading.Lock()
        self.poll_lock = threading.Lock()

    def register(self):
        """Registers (again); retried until it takes or the worker stops."""
        with self.register_lock:
            self.registered.clear()
            pause = 0.1
            while not STOP.is_set():
                body = {
                    "id": self.args.id,
                    "capabilities": self.args.capabilities,
                    "slots": self.args.slots,
                    "tags": {"kind": "http_worker.py"},
                }
                try:
                    code, answer = self.daemon.call("POST", "/register", body)
                except OSError as e:
                    code, answer = None, str(e)
                if code == 201 or code == 409:
                    # 409: the id is still known (a register raced another).
                    log(f"registered as {self.args.id}")
                    self.registered.set()
                    return
                log(f"register failed ({code}: {answer}); retrying")
                STOP.wait(pause)
                pause = min(pause * 2, 5.0)

    def forgotten(self, code):
        """A 404 for this worker: the daemon does not know it any more."""
        if code == 404:
            log("the daemon does not know this worker: registering again")
            self.register()
            return True
        return False

    def slot(self):
        pause = 0.05
        while not STOP.is_set():
            self.registered.wait()
            try:
                with self.poll_lock:
                    code, task = self.daemon.call(
                        "GET", f"/{self.args.id}/next?wait={self.args.wait}s", timeout=self.args.wait + 10
                    )
            except OSError as e:
                log(f"poll failed: {e}")
                STOP.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            pause = 0.05
            if code == 200 and task:
                self.run(task)
            elif code == 409:
                STOP.wait(0.1)  # another process polls as this worker
            elif not self.forgotten(code) and code != 204:
                log(f"poll answered {code}: {task}")
                STOP.wait(0.5)

    def report(self, task_id, kind, body):
        """Posts a report; False when the task is no longer this worker's."""
        for _ in range(20):
            try:
                code, answer = self.daemon.call("POST", f"/{self.args.id}/tasks/{task_id}/{kind}", body)
            except OSError as e:
                log(f"{kind} of {task_id} failed: {e}; retrying")
                STOP.wait(0.2)
                continue
            if code == 200:
                return True
            if code in (404, 409):
                log(f"task {task_id} is no longer ours ({code}): dropped")
                if code == 404:
                    self.forgotten(code)
                return False
            log(f"{kind} of {task_id} answered {code}: {answer}")
            return False
        return False

    def run(self, task):
        task_id, prompt = task["task_id"], task.get("prompt", "")
        if self.args.fail_prompt is not None and prompt == self.args.fail_prompt:
            self.report(task_id, "error", {"code": "failed_on_request", "message": "failed on request"})
            return
        for w in words(prompt):
            if STOP.is_set():
                self.report(task_id, "error", {"code": "shutdown", "message": "worker shutting down"})
                return
            if not self.report(task_id, "output", {"content": w}):
                return
            if self.args.token_delay_ms:
                time.sleep(self.args.token_delay_ms / 1000)
        self.report(task_id, "result", {"content": prompt})

    def heartbeat(self):
        while not STOP.wait(self.args.heartbeat_ms / 1000):
            if not self.registered.is_set():
                continue
            try:
                code, _ = self.daemon.call("POST", f"/{self.args.id}/heartbeat", {})
            except OSError as e:
                log(f"heartbeat failed: {e}")
                continue
            self.forgotten(code)


def main():
    p = argparse.ArgumentParser(description="Hive reference HTTP worker")
    p.add_argument("--url", default="http://127.0.0.1:4000")
    p.add_argument("--id", default=f"http-{os.getpid()}")
    p.add_argument("--capabilities", default="echo", type=lambda s: [c for c in s.split(",") if c])
    p.add_argument("--slots", default=1, type=int)
    p.add_argument("--token", default=os.environ.get("HIVE_WORKER_TOKEN"))
    p.add_argument("--wait", default=20, type=int)
    p.add_argument("--heartbeat-ms", default=2000, type=int)
    p.add_argument("--token-delay-ms", default=0, type=int)
    p.add_argument("--fail-prompt", default=None)
    args = p.parse_args()
    if args.slots < 1 or not 1 <= args.wait <= 60:
        p.error("--slots is at least 1 and --wait runs from 1 to 60")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.set())
    w = Worker(args)
    w.register()
    threads = [threading.Thread(target=w.slot, daemon=True) for _ in range(args.slots)]
    threads.append(threading.Thread(target=w.heartbeat, daemon=True))
    for t in threads:
        t.start()
    while not STOP.is_set():
        STOP.wait(0.2)
    log("stopping")
    # Running tasks end with an error `shutdown` (a poll in progress is
    # simply dropped: the daemon requeues what this worker held).
    deadline = time.monotonic() + 3
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
