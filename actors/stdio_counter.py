#!/usr/bin/env python3
"""A reference object handler (handler = "stdio"): a counter, in the JSON
lines protocol for objects (docs/protocol-jsonl.md, "Objects").

Requests (a message's payload): {"op": "add", "by": N} (default 1),
{"op": "get"}, {"op": "reset"}, or the bare strings "add", "get", "reset".
Each is answered with {"value": N}; anything else with an error. Every change
is also pushed as a state update. HIVE_OBJECT_CONFIG may set {"start": N}.
{"op": "noise"} first writes two bad lines, {"op": "mute"} stops answering
state requests (both for tests).
{"op": "forward", "to": NAME} sends the current value to another endpoint
(through the router, so the topology applies). Standard library only.
"""

import json
import os
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    try:
        config = json.loads(os.environ.get("HIVE_OBJECT_CONFIG") or "{}")
    except ValueError:
        config = {}
    value = int(config.get("start", 0)) if isinstance(config, dict) else 0
    mute = False
    emit({"type": "ready", "state": {"value": value}})
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "shutdown":
            return
        if kind == "state":
            if mute:
                continue
            emit({"type": "state", "id": msg.get("id"), "state": {"value": value}})
        elif kind == "message" and not msg.get("reply"):
            payload = msg.get("payload")
            op = payload if isinstance(payload, str) else (payload or {}).get("op") if isinstance(payload, dict) else None
            if op == "add":
                by = payload.get("by", 1) if isinstance(payload, dict) else 1
                if not isinstance(by, int):
                    emit({"type": "error", "id": msg["id"], "message": "'by' must be an integer"})
                    continue
                value += by
                emit({"type": "state", "state": {"value": value}})
            elif op == "reset":
                value = 0
                emit({"type": "state", "state": {"value": value}})
            elif op == "mute":
                mute = True  # stops answering state requests (for tests: reads get the last state)
            elif op == "noise":
                # What the runtime must survive: a line that is not JSON, one of an unknown type.
                sys.stdout.write("this is not json\n")
                emit({"type": "bogus"})
            elif op == "forward" and isinstance(payload, dict) and isinstance(payload.get("to"), str):
                emit({"type": "send", "to": payload["to"], "payload": {"value": value}})
            elif op != "get":
                emit({"type": "error", "id": msg["id"], "message": "unknown op; valid ops: add, get, reset, forward"})
                continue
            emit({"type": "reply", "id": msg["id"], "payload": {"value": value}})
        elif kind == "denied":
            emit({"type": "log", "level": "warning", "message": "send to %s denied: %s" % (msg.get("to"), msg.get("reason"))})


if __name__ == "__main__":
    main()
