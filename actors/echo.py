#!/usr/bin/env python3
"""Hive reference agent: echo.

Speaks the Hive JSONL stdio protocol (docs/protocol-jsonl.md) with the
standard library only:

- prints ``{"type":"ready","capabilities":["echo"]}`` at startup, then a debug
  ``log`` line with HIVE_AGENT, HIVE_SWARM, HIVE_MODEL and HIVE_SKILLS;
- ``task``: streams the content back as ``token`` lines, one per word (each
  word keeps the whitespace after it, so the tokens concatenate to the exact
  content), then a ``result`` line with the full content;
- ``cancel``: a task being streamed (or still waiting here) is stopped and
  answered with ``error`` code ``cancelled``;
- ``message``: answered with an info ``log`` line saying what arrived;
- ``shutdown`` or end of stdin: exits 0;
- anything it does not understand (not UTF-8, not JSON, not an object, an
  unknown type, a missing field, an over-long line): a warning ``log`` line.
  It never crashes on input.

Settings (environment):

- ``ECHO_TOKEN_DELAY_MS`` (default 0): pause after each token, so a test has
  time to cancel a task in the middle of its stream.
- ``ECHO_MAX_LINE_BYTES`` (default 16777216): longest input line accepted; a
  longer one is discarded up to its newline and reported with a warning.

stdin is read by a thread that only splits lines and queues them; the main
thread does all the work and all the writing, and checks the queue between
tokens, which is how a ``cancel`` is seen while a task streams.

``misbehave.py`` reuses ``emit``, ``ready`` and ``serve`` from this file.
"""

import json
import os
import queue
import re
import sys
import threading
import time
from collections import deque

CAPABILITIES = ["echo"]
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
READ_CHUNK = 64 * 1024
PREVIEW_CHARS = 120

_write_lock = threading.Lock()


# ---------------------------------------------------------------- output


def emit(obj):
    """Write one JSON object as one line on stdout and flush it.

    The line is UTF-8 whatever the locale says. If the runtime has closed our
    stdout there is nobody left to talk to: exit quietly.
    """
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    data = line.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    with _write_lock:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, ValueError, OSError):
            os._exit(0)


def log(level, message):
    emit({"type": "log", "level": level, "message": message})


def preview(value):
    """A short printable rendering of a value for log messages."""
    if isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value[: PREVIEW_CHARS + 1]))
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + "..."
    return text


def as_text(content):
    """Task and message content as a string (non-strings as JSON text)."""
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def ready(capabilities=None):
    """Announce readiness, then report the Hive environment at debug level."""
    emit({"type": "ready", "capabilities": list(capabilities or CAPABILITIES)})
    names = ("HIVE_AGENT", "HIVE_SWARM", "HIVE_MODEL", "HIVE_SKILLS")
    env = " ".join("%s=%s" % (n, os.environ.get(n, "")) for n in names)
    log("debug", "started: " + env)


# ---------------------------------------------------------------- input


class TooLong:
    """An input line over the limit; only its size is kept."""

    def __init__(self, size):
        self.size = size


EOF = object()


def read_lines(fd, max_bytes):
    """Yield the lines of ``fd`` (bytes, without the newline).

    A line longer than ``max_bytes`` is not kept in memory: it is skipped up to
    its newline and yielded as ``TooLong``. os.read is used instead of
    sys.stdin so that no Python-level lock is held by the reading thread when
    the interpreter exits.
    """
    buf = bytearray()
    dropped = None  # bytes skipped so far of an over-long line, or None
    while True:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            if dropped is not None:
                yield TooLong(dropped)
            elif buf:
                yield bytes(buf)
            return
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            end = len(chunk) if nl < 0 else nl
            if dropped is not None:
                dropped += end - start
            else:
                buf += chunk[start:end]
                if len(buf) > max_bytes:
                    dropped = len(buf)
                    buf.clear()
            if nl < 0:
                break
            if dropped is not None:
                yield TooLong(dropped)
                dropped = None
            else:
                line = bytes(buf)
                buf.clear()
                yield line
            start = nl + 1


def start_reader(max_bytes):
    """Read stdin in a daemon thread; return the queue it fills (EOF last)."""
    q = queue.Queue()

    def run():
        for line in read_lines(0, max_bytes):
            q.put(line)
        q.put(EOF)

    threading.Thread(target=run, name="stdin-reader", daemon=True).start()
    return q


def parse(raw):
    """Decode one raw line into a dict with a string ``type``.

    Returns ``(obj, None)`` or ``(None, reason)``; the reason is logged as a
    warning by the caller.
    """
    if isinstance(raw, TooLong):
        return None, "input line of %d bytes is over the limit, discarded" % raw.size
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, "input line is not valid UTF-8 (%s): %s" % (e.reason, preview(raw))
    if not text.strip():
        return None, None  # blank lines are ignored silently
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        return None, "input line is not JSON (%s): %s" % (e, preview(text))
    if not isinstance(obj, dict):
        return None, "input line is not a JSON object: %s" % preview(text)
    if not isinstance(obj.get("type"), str):
        return None, "input line has no string \"type\": %s" % preview(text)
    return obj, None


def env_int(name, default):
    value = os.environ.get(name, "")
    if not value.strip():
        return default
    try:
        n = int(value)
        if n < 0:
            raise ValueError(value)
        return n
    except ValueError:
        log("warning", "%s=%r is not a non-negative integer, using %d" % (name, value, default))
        return default


# ---------------------------------------------------------------- tokens


_WORD = re.compile(r"\S+\s*")


def tokenize(text):
    """Split into words, each with the whitespace that follows it.

    Leading whitespace is glued to the first token, so that
    ``"".join(tokenize(t)) == t`` always holds.
    """
    tokens = _WORD.findall(text)
    if not tokens:
        return [text] if text else []
    lead = len(text) - len(text.lstrip())
    if lead:
        tokens[0] = text[:lead] + tokens[0]
    return tokens


# ---------------------------------------------------------------- agent


class Shutdown(Exception):
    """Raised to leave the serve loop with exit code 0."""


class Echo:
    """The echo agent's state: the input queue and a local backlog.

    The backlog holds lines that arrived while a task was streaming; they are
    handled, in order, once the stream is over.
    """

    def __init__(self, inbox, delay_ms, before_task=None):
        self.inbox = inbox
        self.delay = delay_ms / 1000.0
        self.before_task = before_task
        self.backlog = deque()

    def next_item(self):
        if self.backlog:
            return self.backlog.popleft()
        return self.inbox.get()

    def run(self):
        while True:
            item = self.next_item()
            if item is EOF:
                return
            obj, problem = parse(item)
            if obj is None:
                if problem:
                    log("warning", problem)
                continue
            try:
                self.handle(obj)
            except Shutdown:
                raise
            except Exception as e:  # never crash on input
                log("warning", "could not handle %s: %r" % (preview(obj), e))

    def handle(self, obj):
        kind = obj["type"]
        if kind == "task":
            self.on_task(obj)
        elif kind == "cancel":
            self.on_idle_cancel(obj)
        elif kind == "message":
            self.on_message(obj)
        elif kind == "shutdown":
            raise Shutdown()
        elif kind == "denied":
            log("warning", "send to %s denied: %s" % (obj.get("to"), obj.get("reason")))
        else:
            log("warning", "unknown line type %r: %s" % (kind, preview(obj)))

    def on_message(self, obj):
        if "content" not in obj:
            log("warning", "message without content: %s" % preview(obj))
            return
        log(
            "info",
            "got message %s from %s: %s"
            % (obj.get("id", "?"), obj.get("from", "?"), preview(as_text(obj["content"]))),
        )

    def on_idle_cancel(self, obj):
        """A cancel for a task that is not streaming: drop it if it waits here."""
        task_id = obj.get("id")
        if task_id is None:
            log("warning", "cancel without id: %s" % preview(obj))
            return
        for queued in list(self.backlog):
            if queued is EOF or isinstance(queued, TooLong):
                continue
            q_obj, _ = parse(queued)
            if q_obj and q_obj["type"] == "task" and q_obj.get("id") == task_id:
                self.backlog.remove(queued)
                cancelled(task_id)
                return
        log("debug", "cancel for task %s, which is not running here" % preview(task_id))

    def on_task(self, obj):
        task_id = obj.get("id")
        if task_id is None or isinstance(task_id, (dict, list)):
            log("warning", "task without a usable id: %s" % preview(obj))
            return
        if self.before_task is not None:
            self.before_task(obj)
        if "content" not in obj:
            emit({"type": "error", "id": task_id, "code": "bad_task", "message": "task has no content"})
            return
        text = as_text(obj["content"])
        for token in tokenize(text):
            emit({"type": "token", "id": task_id, "content": token})
            if self.pause_and_check_cancel(task_id):
                cancelled(task_id)
                return
        if not text and self.pause_and_check_cancel(task_id):
            cancelled(task_id)
            return
        emit({"type": "result", "id": task_id, "content": text})

    def pause_and_check_cancel(self, task_id):
        """Wait the token delay while watching stdin.

        Returns True when a cancel for ``task_id`` arrived. A cancel for a task
        still in the backlog removes it at once; every other line is kept in
        the backlog, in order, for after the task.
        """
        deadline = time.monotonic() + self.delay
        while True:
            timeout = deadline - time.monotonic()
            try:
                item = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
            except queue.Empty:
                return False
            if item is not EOF and not isinstance(item, TooLong):
                obj, _ = parse(item)
                if obj and obj["type"] == "cancel":
                    if obj.get("id") == task_id:
                        return True
                    self.on_idle_cancel(obj)  # a task waiting here, or nothing
                    continue
            self.backlog.append(item)


def cancelled(task_id):
    emit({"type": "error", "id": task_id, "code": "cancelled", "message": "cancelled"})


def serve(before_task=None):
    """Serve tasks like echo until shutdown or end of stdin; return 0.

    ``before_task(obj)`` is called when a task starts (misbehave.py uses it to
    crash on the N-th task). ``ready`` is not printed here.
    """
    delay_ms = env_int("ECHO_TOKEN_DELAY_MS", 0)
    max_bytes = env_int("ECHO_MAX_LINE_BYTES", DEFAULT_MAX_LINE_BYTES) or DEFAULT_MAX_LINE_BYTES
    agent = Echo(start_reader(max_bytes), delay_ms, before_task)
    try:
        agent.run()
    except Shutdown:
        pass
    return 0


def main():
    ready()
    return serve()


if __name__ == "__main__":
    sys.exit(main())
