#!/usr/bin/env python3
"""Hive reference worker for the ZeroMQ worker gateway.

Speaks the ZeroMQ worker protocol (docs/protocol-zmq.md) with the standard
library, pyzmq and msgpack only.

Wire: a DEALER socket whose identity is the worker id connects to the
gateway's ROUTER socket (default ``tcp://127.0.0.1:5555``). Every payload is
ONE msgpack map with string keys and a ``type`` key. With ``--framing plain``
(the default) each message is the single frame ``[payload]``; with
``--framing empty`` it is ``[b"", payload]`` (REQ-style empty delimiter). The
gateway answers in the framing the worker used; incoming messages are
accepted in either framing (an empty first frame is skipped).

Worker -> gateway:

- ``ready`` ``{worker_id, capabilities, slots, [token], [tags]}``: sent once
  at start; it registers the worker and counts as a heartbeat;
- ``heartbeat`` ``{worker_id}``: every ``--heartbeat-ms``, busy or not;
- ``token`` ``{task_id, content}``: the prompt streamed back one word at a
  time (each word keeps the whitespace after it, leading whitespace goes with
  the first word, so the tokens concatenate to exactly the prompt);
- ``result`` ``{task_id, content, status: "ok"}``: the whole prompt, echoed
  (not reversed);
- ``error`` ``{task_id, message}``: ``cancelled`` after a ``cancel``,
  ``failed on request`` for ``--fail-prompt``, ``task has no prompt``, or
  ``worker shutting down`` for tasks in flight at SIGTERM/SIGINT;
- ``log`` ``{level, message}``: start-up, tasks queued beyond the slots,
  cancels of unknown tasks, messages it cannot use, shutdown.

Gateway -> worker:

- ``task`` ``{task_id, prompt, [model, context, priority, swarm, agent]}``:
  run it; up to ``--slots`` tasks stream concurrently, more are queued here
  (with a warning log) and started as slots free up;
- ``cancel`` ``{task_id}``: a running or queued task is stopped and answered
  with ``error`` ``cancelled``; an unknown id gets a debug log line;
- ``rejected`` ``{reason}``: the reason is printed on stderr and the worker
  exits with status 3 — except "... is not registered ..." (the gateway
  restarted, or declared this worker dead): then it sends ``ready`` again.

Anything else (not msgpack, not a map, no string type, unknown type, missing
fields) gets a warning ``log`` line; the worker never crashes on input.

Flags:

- ``--connect URL`` (default ``tcp://127.0.0.1:5555``), ``--id ID`` (default
  ``py-<pid>``), ``--capabilities a,b`` (default ``echo``), ``--slots N``
  (default 1), ``--token T`` (auth token sent in ``ready``), ``--tag K=V``
  (repeatable, sent as the ``tags`` map), ``--heartbeat-ms N`` (default 1000;
  0 sends none), ``--framing plain|empty`` (default plain);
- test behaviour: ``--token-delay-ms N`` (default 0: pause after each streamed
  token, so a test can cancel in mid-stream or see tasks overlap),
  ``--fail-prompt TEXT`` (a task whose prompt is exactly TEXT is answered with
  ``error`` ``failed on request``).

SIGTERM and SIGINT end it cleanly: in-flight and queued tasks get an
``error``, a ``log`` line says it is stopping, the socket is closed with a
short linger, and it exits 0.

Everything runs in one thread (zmq sockets are not thread-safe): a poll loop
whose timeout is the earliest of the next heartbeat and the next token due.

    python3 actors/zmq_worker.py --connect tcp://127.0.0.1:5555 --id w1 \\
        --capabilities echo,gpu --slots 4 --token-delay-ms 50
"""

import argparse
import heapq
import itertools
import os
import signal
import sys
import time
from collections import deque

try:
    import msgpack
    import zmq
except ImportError as e:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "zmq_worker.py needs pyzmq and msgpack (%s): pip install pyzmq msgpack (actors/requirements.txt)\n" % e
    )
    sys.exit(2)

EXIT_REJECTED = 3
MAX_POLL_MS = 100  # upper bound on one poll, so a signal is seen promptly
LINGER_MS = 500
PREVIEW_CHARS = 120

# Words are streamed as echo.py streams them (the same split).
from echo import tokenize  # noqa: E402  (a sibling file; the script's directory is on sys.path)


def preview(value):
    text = repr(value)
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + "..."
    return text


def as_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class Task:
    """A task being streamed: its tokens, how far it got, and its prompt."""

    def __init__(self, task_id, prompt):
        self.task_id = task_id
        self.prompt = prompt
        self.tokens = tokenize(prompt)
        self.sent = 0


class Worker:
    def __init__(self, args):
        self.args = args
        self.worker_id = args.id
        self.slots = max(1, args.slots)
        self.delay = args.token_delay_ms / 1000.0
        self.heartbeat = args.heartbeat_ms / 1000.0
        self.envelope = [b""] if args.framing == "empty" else []
        self.running = {}  # task_id -> Task
        self.waiting = deque()  # Tasks beyond the slots, in arrival order
        self.due = []  # heap of (when, seq, task_id): next step of a running task
        self.seq = itertools.count()
        self.stopping = False
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, self.worker_id.encode("utf-8"))
        self.sock.setsockopt(zmq.LINGER, LINGER_MS)
        self.sock.connect(args.connect)

    # ------------------------------------------------------------ output

    def send(self, **msg):
        payload = msgpack.packb(msg, use_bin_type=True)
        self.sock.send_multipart(self.envelope + [payload])

    def log(self, level, message):
        self.send(type="log", level=level, message=message)

    def ready(self):
        msg = {
            "type": "ready",
            "worker_id": self.worker_id,
            "capabilities": self.args.capabilities,
            "slots": self.slots,
        }
        if self.args.token is not None:
            msg["token"] = self.args.token
        if self.args.tags:
            msg["tags"] = self.args.tags
        self.send(**msg)

    # ------------------------------------------------------------ input

    def receive(self):
        """Handle every message waiting on the socket (never blocks)."""
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if frames and frames[0] == b"" and len(frames) > 1:
                frames = frames[1:]
            if len(frames) != 1:
                self.log("warning", "expected one payload frame, got %d: %s" % (len(frames), preview(frames)))
                continue
            try:
                msg = msgpack.unpackb(frames[0], raw=False)
            except Exception as e:  # any decoding problem
                self.log("warning", "payload is not msgpack (%s): %s" % (e, preview(frames[0])))
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
                self.log("warning", "payload is not a map with a string type: %s" % preview(msg))
                continue
            try:
                self.handle(msg)
            except Exception as e:  # never crash on input
                self.log("warning", "could not handle %s: %r" % (preview(msg), e))

    def handle(self, msg):
        kind = msg["type"]
        if kind == "task":
            self.on_task(msg)
        elif kind == "cancel":
            self.on_cancel(msg)
        elif kind == "rejected" and "not registered" in str(msg.get("reason", "")):
            # The gateway restarted, or declared us dead: register again.
            sys.stderr.write("zmq_worker %s: registering again (%s)\n" % (self.worker_id, msg.get("reason", "")))
            sys.stderr.flush()
            self.ready()
        elif kind == "rejected":
            sys.stderr.write("zmq_worker %s: rejected: %s\n" % (self.worker_id, msg.get("reason", "")))
            sys.stderr.flush()
            self.close()
            sys.exit(EXIT_REJECTED)
        else:
            self.log("warning", "unknown message type %r: %s" % (kind, preview(msg)))

    def on_task(self, msg):
        task_id = msg.get("task_id")
        if task_id is None or isinstance(task_id, (dict, list)):
            self.log("warning", "task without a usable task_id: %s" % preview(msg))
            return
        if task_id in self.running or any(t.task_id == task_id for t in self.waiting):
            self.log("warning", "task %s is already here, duplicate ignored" % preview(task_id))
            return
        if "prompt" not in msg:
            self.send(type="error", task_id=task_id, message="task has no prompt")
            return
        prompt = as_text(msg["prompt"])
        if self.args.fail_prompt is not None and prompt == self.args.fail_prompt:
            self.send(type="error", task_id=task_id, message="failed on request")
            return
        task = Task(task_id, prompt)
        if len(self.running) < self.slots:
            self.start(task)
        else:
            self.waiting.append(task)
            self.log(
                "warning",
                "task %s queued: all %d slots busy (%d waiting)" % (preview(task_id), self.slots, len(self.waiting)),
            )

    def on_cancel(self, msg):
        task_id = msg.get("task_id")
        if task_id in self.running:
            del self.running[task_id]  # its entry in self.due is skipped when it comes up
            self.send(type="error", task_id=task_id, message="cancelled")
            self.start_waiting()
            return
        for task in self.waiting:
            if task.task_id == task_id:
                self.waiting.remove(task)
                self.send(type="error", task_id=task_id, message="cancelled")
                return
        self.log("debug", "cancel for task %s, which is not here" % preview(task_id))

    # ------------------------------------------------------------ tasks

    def start(self, task):
        self.running[task.task_id] = task
        heapq.heappush(self.due, (time.monotonic(), next(self.seq), task.task_id))

    def start_waiting(self):
        while self.waiting and len(self.running) < self.slots:
            self.start(self.waiting.popleft())

    def step(self, task):
        """Send the task's next token, or its result; return True when done."""
        if task.sent < len(task.tokens):
            self.send(type="token", task_id=task.task_id, content=task.tokens[task.sent])
            task.sent += 1
            if self.delay > 0:
                return False  # the result comes after the pause, so a cancel can still land
        if task.sent < len(task.tokens):
            return False
        self.send(type="result", task_id=task.task_id, content=task.prompt, status="ok")
        return True

    def run_due(self):
        """Advance every running task whose next step is due.

        Between two steps of the same task the socket is read, so a ``cancel``
        is seen in mid-stream even with no token delay.
        """
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            _, _, task_id = heapq.heappop(self.due)
            task = self.running.get(task_id)
            if task is None:
                continue  # cancelled meanwhile
            if self.step(task):
                del self.running[task_id]
                self.start_waiting()
            else:
                heapq.heappush(self.due, (now + self.delay, next(self.seq), task_id))
            self.receive()

    # ------------------------------------------------------------ loop

    def run(self):
        self.ready()
        self.log(
            "info",
            "worker %s connected to %s: capabilities=%s slots=%d framing=%s"
            % (self.worker_id, self.args.connect, ",".join(self.args.capabilities), self.slots, self.args.framing),
        )
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        next_beat = time.monotonic() + self.heartbeat
        while not self.stopping:
            now = time.monotonic()
            if self.heartbeat > 0 and now >= next_beat:
                self.send(type="heartbeat", worker_id=self.worker_id)
                next_beat = now + self.heartbeat
            wake = now + MAX_POLL_MS / 1000.0
            if self.heartbeat > 0:
                wake = min(wake, next_beat)
            if self.due:
                wake = min(wake, self.due[0][0])
            timeout_ms = max(0, int((wake - now) * 1000))
            if poller.poll(timeout_ms):
                self.receive()
            self.run_due()
        self.shutdown()
        return 0

    def stop(self, signum, _frame):
        self.stopping = True

    def shutdown(self):
        pending = list(self.running) + [t.task_id for t in self.waiting]
        for task_id in pending:
            self.send(type="error", task_id=task_id, message="worker shutting down")
        self.running.clear()
        self.waiting.clear()
        self.log("info", "worker %s stopping (%d tasks abandoned)" % (self.worker_id, len(pending)))
        self.close()

    def close(self):
        self.sock.close(linger=LINGER_MS)
        self.ctx.term()


def parse_args(argv):
    def non_negative(text):
        n = int(text)
        if n < 0:
            raise argparse.ArgumentTypeError("must be >= 0: %s" % text)
        return n

    def positive(text):
        n = int(text)
        if n < 1:
            raise argparse.ArgumentTypeError("must be >= 1: %s" % text)
        return n

    def tag(text):
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError("expected KEY=VALUE: %s" % text)
        return key, value

    p = argparse.ArgumentParser(description="Hive reference ZeroMQ worker (echo).")
    p.add_argument("--connect", default="tcp://127.0.0.1:5555", help="gateway ROUTER endpoint")
    p.add_argument("--id", default="py-%d" % os.getpid(), help="worker id (also the DEALER identity)")
    p.add_argument("--capabilities", default="echo", help="comma-separated capabilities")
    p.add_argument("--slots", type=positive, default=1, help="tasks run concurrently")
    p.add_argument("--token", default=None, help="auth token sent in ready")
    p.add_argument("--tag", action="append", type=tag, default=[], help="KEY=VALUE tag (repeatable)")
    p.add_argument("--heartbeat-ms", type=non_negative, default=1000, help="heartbeat period, 0 = none")
    p.add_argument("--framing", choices=("plain", "empty"), default="plain", help="[payload] or ['', payload]")
    p.add_argument("--token-delay-ms", type=non_negative, default=0, help="pause after each streamed token")
    p.add_argument("--fail-prompt", default=None, help="answer a task with exactly this prompt with an error")
    args = p.parse_args(argv)
    args.capabilities = [c.strip() for c in args.capabilities.split(",") if c.strip()]
    args.tags = dict(args.tag)
    if not args.id:
        p.error("--id must not be empty")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    worker = Worker(args)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
