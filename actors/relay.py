#!/usr/bin/env python3
"""Hive reference agent: relay.

Passes what it receives on to other agents, through the runtime's router.
Speaks the Hive JSONL stdio protocol (docs/protocol-jsonl.md) with the
standard library only:

- prints ``{"type":"ready","capabilities":["relay"]}`` at startup, then a
  debug ``log`` line with HIVE_AGENT, HIVE_SWARM, HIVE_MODEL and HIVE_SKILLS;
- ``message``: ``broadcast`` of ``RELAY_PREFIX + content`` to every out-edge;
- ``task``: ``send`` of the task content to the agent named by ``RELAY_TO``
  (or a ``broadcast`` when it is unset or empty), then ``result`` "relayed";
- ``denied`` (the router refused one of its sends): a warning ``log`` line,
  nothing else;
- ``cancel``: nothing to stop (tasks are answered at once), a debug ``log``;
- ``shutdown`` or end of stdin: exits 0;
- anything it does not understand: a warning ``log`` line; it never crashes.

Two relays whose out-edges point at each other bounce every message back
and forth for ever: give relays an acyclic topology.

Settings (environment): ``RELAY_TO`` (target of task contents, default:
broadcast), ``RELAY_PREFIX`` (prepended to relayed messages, default empty),
``RELAY_MAX_LINE_BYTES`` (longest input line, default 16777216).
"""

import json
import os
import sys

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024
PREVIEW_CHARS = 120


def emit(obj):
    """Write one JSON object as one UTF-8 line on stdout and flush it."""
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    try:
        sys.stdout.buffer.write(line.encode("utf-8", "replace"))
        sys.stdout.buffer.flush()
    except (BrokenPipeError, ValueError, OSError):
        os._exit(0)  # the runtime closed our stdout: nobody left to talk to


def log(level, message):
    emit({"type": "log", "level": level, "message": message})


def preview(value):
    if isinstance(value, bytes):
        text = repr(value[: PREVIEW_CHARS + 1])
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."


def as_text(content):
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"))


def max_line_bytes():
    value = os.environ.get("RELAY_MAX_LINE_BYTES", "")
    try:
        n = int(value)
        return n if n > 0 else DEFAULT_MAX_LINE_BYTES
    except ValueError:
        return DEFAULT_MAX_LINE_BYTES


def lines(stream, limit):
    """Yield input lines (bytes, newline stripped), or an int: the size of an
    over-long line that was skipped up to its newline."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if line.endswith(b"\n"):
            yield line[:-1]
            continue
        if len(line) <= limit:  # the last line, without a newline
            yield line
            continue
        size = len(line)
        while not line.endswith(b"\n"):
            line = stream.readline(64 * 1024)
            if not line:
                break
            size += len(line)
        yield size - (1 if line.endswith(b"\n") else 0)


def parse(raw):
    """``(obj, None)`` for a JSON object with a string type, else ``(None, why)``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, "input line is not valid UTF-8 (%s): %s" % (e.reason, preview(raw))
    if not text.strip():
        return None, None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        return None, "input line is not JSON (%s): %s" % (e, preview(text))
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        return None, "input line is not a JSON object with a string \"type\": %s" % preview(text)
    return obj, None


class Shutdown(Exception):
    pass


def handle(obj, relay_to, prefix):
    kind = obj["type"]
    if kind == "message":
        if "content" not in obj:
            log("warning", "message without content: %s" % preview(obj))
            return
        content = obj["content"]
        if prefix:
            content = prefix + as_text(content)
        emit({"type": "broadcast", "content": content})
    elif kind == "task":
        task_id = obj.get("id")
        if task_id is None or isinstance(task_id, (dict, list)):
            log("warning", "task without a usable id: %s" % preview(obj))
            return
        if "content" not in obj:
            emit({"type": "error", "id": task_id, "code": "bad_task", "message": "task has no content"})
            return
        if relay_to:
            emit({"type": "send", "to": relay_to, "content": obj["content"]})
        else:
            emit({"type": "broadcast", "content": obj["content"]})
        emit({"type": "result", "id": task_id, "content": "relayed"})
    elif kind == "denied":
        log("warning", "send to %s denied: %s" % (obj.get("to"), obj.get("reason")))
    elif kind == "cancel":
        log("debug", "cancel for task %s: nothing is running" % preview(obj.get("id")))
    elif kind == "shutdown":
        raise Shutdown()
    else:
        log("warning", "unknown line type %r: %s" % (kind, preview(obj)))


def main():
    relay_to = os.environ.get("RELAY_TO", "")
    prefix = os.environ.get("RELAY_PREFIX", "")
    limit = max_line_bytes()
    emit({"type": "ready", "capabilities": ["relay"]})
    names = ("HIVE_AGENT", "HIVE_SWARM", "HIVE_MODEL", "HIVE_SKILLS")
    log("debug", "started: " + " ".join("%s=%s" % (n, os.environ.get(n, "")) for n in names))
    for raw in lines(sys.stdin.buffer, limit):
        if isinstance(raw, int):
            log("warning", "input line of %d bytes is over the limit, discarded" % raw)
            continue
        obj, problem = parse(raw)
        if obj is None:
            if problem:
                log("warning", problem)
            continue
        try:
            handle(obj, relay_to, prefix)
        except Shutdown:
            return 0
        except Exception as e:  # never crash on input
            log("warning", "could not handle %s: %r" % (preview(obj), e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
