"""Schemathesis hooks of tests/schemathesis/run.sh (SCHEMATHESIS_HOOKS=hooks).

Work that waits for a worker (`POST /api/v1/zmq/dispatch` in `sync` mode,
`/api/v1/orchestrate`, `POST /api/v1/tasks`) waits as long as its timeout,
and no worker is connected in the run: `before_call` caps a generated
timeout (and sets one where none is given) at TIMEOUT_MS, so each call
answers within the request timeout. A timeout of another type is left as
generated (it is then refused, as a negative case expects). An HTTP
worker's long-poll (`GET /api/v1/workers/{id}/next`) waits up to `wait`
(default 30 s) when no task comes: a generated `wait` that reads as a
duration is capped at WAIT, and WAIT is set where none is given.

The document is honest about stdio agents and objects: they run the program
named in `command`, locally or over ssh/docker. A generated request must not
start arbitrary programs or reach other hosts, so bodies that hold a stdio
entry, a launch other than local, or a scale group larger than 50 are
filtered out before they are sent. The daemon still validates them; the Rust
tests (tests/stdio.rs, tests/http.rs) cover those paths with real programs.
"""

import re

import schemathesis

MAX_REPLICAS = 50
TIMEOUT_MS = 1500
WAIT = "1s"
NEXT = "/api/v1/workers/{id}/next"
# What the daemon reads as a duration longer than WAIT (humantime's units).
LONG_WAIT = re.compile(r"^\s*\d+\s*[a-zA-Z]*")
WAITING = {
    "/api/v1/zmq/dispatch": "timeout_ms",
    "/api/v1/tasks": "timeout_ms",
    "/api/v1/orchestrate": "timeout",
}


def _unsafe(v):
    if isinstance(v, dict):
        if v.get("backend") == "stdio" or v.get("handler") == "stdio":
            return True
        if "command" in v or "launch" in v or "host" in v or "image" in v:
            return True
        r = v.get("replicas")
        if isinstance(r, int) and r > MAX_REPLICAS:
            return True
        if v.get("count", 0) is not None and isinstance(v.get("count"), int) and v["count"] > MAX_REPLICAS:
            return True
        return any(_unsafe(x) for x in v.values())
    if isinstance(v, list):
        return any(_unsafe(x) for x in v)
    if isinstance(v, str):
        # `content` is a swarm file as text: keep generated ones off programs too.
        return "stdio" in v or "command" in v
    return False


@schemathesis.hook
def filter_body(ctx, body):
    return not _unsafe(body)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.operation.path == NEXT and case.method.upper() == "GET":
        query = case.query if isinstance(case.query, dict) else {}
        wait = query.get("wait")
        if wait is None or (isinstance(wait, str) and LONG_WAIT.match(wait)):
            query["wait"] = WAIT
        case.query = query
        return
    key = WAITING.get(case.operation.path)
    if key is None or case.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    v = case.body.get(key)
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v > TIMEOUT_MS):
        case.body[key] = TIMEOUT_MS
