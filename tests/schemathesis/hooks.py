"""Schemathesis hooks of tests/schemathesis/run.sh (SCHEMATHESIS_HOOKS=hooks).

Work that waits for a worker (`POST /api/v1/zmq/dispatch` in `sync` mode,
`/api/v1/orchestrate`, `POST /api/v1/tasks`) waits as long as its timeout,
and no worker is connected in the run: `before_call` caps a generated
timeout (and sets one where none is given) at TIMEOUT_MS, so each call
answers within the request timeout. A timeout of another type is left as
generated (it is then refused, as a negative case expects).

The document is honest about stdio agents and objects: they run the program
named in `command`, locally or over ssh/docker. A generated request must not
start arbitrary programs or reach other hosts, so bodies that hold a stdio
entry, a launch other than local, or a scale group larger than 50 are
filtered out before they are sent. The daemon still validates them; the Rust
tests (tests/stdio.rs, tests/http.rs) cover those paths with real programs.
"""

import schemathesis

MAX_REPLICAS = 50
TIMEOUT_MS = 1500
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
    key = WAITING.get(case.operation.path)
    if key is None or case.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    v = case.body.get(key)
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v > TIMEOUT_MS):
        case.body[key] = TIMEOUT_MS
