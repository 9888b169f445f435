#!/usr/bin/env bash
# The OpenAPI document as a contract (docs/api.md, "The OpenAPI document").
# Starts `hive serve` twice on a free loopback port, each with a temporary data
# directory, swarm directory and skills directory and the demo swarm, once
# with a token and once without, and against each:
#   1. schemathesis with --checks all, every phase (examples, coverage,
#      fuzzing, stateful), capped by --max-examples and --max-time: zero
#      failures, zero 5xx;
#   2. (with the token) a Python client generated from the served document by
#      openapi-python-client, into a temporary directory (never committed),
#      that creates a swarm, scales it and reads its events (client_test.py).
# Each daemon is stopped by its own pid when its run ends.
#
#   tests/schemathesis/run.sh            # both daemons (scripts/test runs this)
#   ST_MAX_TIME=60 ST_MAX_EXAMPLES=10 tests/schemathesis/run.sh   # shorter
#
# Needs: target/debug/hive (built here if missing: cargo build --bin hive) and
# a python3 with tests/schemathesis/requirements.txt (scripts/test puts .venv
# first on PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

say() { echo "schemathesis/run.sh: $*" >&2; }

python3 -c 'import schemathesis' 2>/dev/null \
  || { say "schemathesis is missing: pip install -r tests/schemathesis/requirements.txt"; exit 1; }
command -v schemathesis >/dev/null 2>&1 \
  || { say "the schemathesis command is not on PATH"; exit 1; }
command -v openapi-python-client >/dev/null 2>&1 \
  || { say "openapi-python-client is missing: pip install -r tests/schemathesis/requirements.txt"; exit 1; }

hive=${HIVE_BIN:-$root/target/debug/hive}
if [ ! -x "$hive" ] || [ -z "${HIVE_BIN:-}" ]; then
  echo "+ cargo build --bin hive"
  cargo build --quiet --bin hive
fi

max_time=${ST_MAX_TIME:-150}
max_examples=${ST_MAX_EXAMPLES:-25}
seed=${ST_SEED:-}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

daemon_pid=""
work=""
stop_daemon() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
  fi
}
cleanup() {
  stop_daemon
  [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

# start_daemon TOKEN: a daemon in a fresh directory; sets $base.
start_daemon() {
  local token=$1
  work=$(mktemp -d)
  mkdir -p "$work/swarms" "$work/skills/default" "$work/data"
  cp swarms/demo.toml "$work/swarms/demo.toml"
  printf '# A skill for the contract run.\n' >"$work/skills/default/notes.md"
  local port zport
  port=$(free_port)
  zport=$(free_port)
  {
    echo "[server]"
    echo "listen = \"127.0.0.1:$port\""
    [ -n "$token" ] && echo "token = \"$token\""
    echo "swarm_dir = \"$work/swarms\""
    echo "skills_dir = \"$work/skills\""
    echo "# schemathesis is quick; the limit is tested on its own (tests/http_guard.rs)."
    echo "rate_limit = { per_second = 0, burst = 0 }"
  } >"$work/hive.toml"
  # No programs on PATH: a generated stdio agent names none that exists.
  mkdir -p "$work/nobin"
  (cd "$work" && PATH="$work/nobin" exec "$hive" serve --config "$work/hive.toml" --data-dir "$work/data" \
    --zmq "tcp://127.0.0.1:$zport" --swarm "$work/swarms/demo.toml") >"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  base="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 60))
  until python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/health', timeout=2)" "$base" 2>/dev/null; do
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      say "the daemon exited:"; cat "$work/daemon.log" >&2; exit 1
    fi
    [ $SECONDS -lt $deadline ] || { say "the daemon did not answer /health within 60 s"; exit 1; }
    sleep 0.2
  done
}

# run_schemathesis LABEL [ARGS...]
run_schemathesis() {
  local label=$1; shift
  local args=(--config-file "$root/tests/schemathesis/schemathesis.toml" run "$base/openapi.json" --checks all --exclude-checks use_after_free --phases examples,coverage,fuzzing,stateful
    --max-examples "$max_examples" --max-time "$max_time" --request-timeout 20 --workers 1
    --suppress-health-check all --warnings off
    # WebSocket routes need an upgrade, which OpenAPI cannot describe (tests/ws_events.rs, tests/phoenix.rs).
    --exclude-path /ws/events --exclude-path /ws/tasks --exclude-path /swarm/websocket
    --report junit --report-junit-path "$work/junit-$label.xml")
  [ -n "$seed" ] && args+=(--seed "$seed")
  echo "+ schemathesis ${args[*]} $*"
  if ! SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/tests/schemathesis${PYTHONPATH:+:$PYTHONPATH}" schemathesis "${args[@]}" "$@"; then
    say "schemathesis found failures against the daemon $label; its log:"
    tail -n 40 "$work/daemon.log" >&2
    return 1
  fi
  # The trace layer logs every 5xx as "request failed" (src/http/mod.rs).
  if grep -q 'request failed' "$work/daemon.log"; then
    say "the daemon $label answered a 5xx:"
    grep 'request failed' "$work/daemon.log" | head >&2
    return 1
  fi
}

failed=()

# --- With a token.
token=st-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
start_daemon "$token"
run_schemathesis with-token -H "Authorization: Bearer $token" || failed+=("schemathesis with a token")
client=$(mktemp -d)
echo "+ openapi-python-client generate (into $client)"
if (cd "$client" && openapi-python-client generate --url "$base/openapi.json" --meta none \
      --output-path "$client/hive_client" >"$client/generate.log" 2>&1); then
  echo "+ python3 tests/schemathesis/client_test.py"
  PYTHONPATH="$client" HIVE_URL="$base" HIVE_TOKEN="$token" python3 tests/schemathesis/client_test.py \
    || failed+=("the generated Python client")
else
  cat "$client/generate.log" >&2
  failed+=("openapi-python-client generate")
fi
rm -rf "$client"
stop_daemon; rm -rf "$work"; work=""

# --- Without a token (loopback clients only).
start_daemon ""
run_schemathesis without-token || failed+=("schemathesis without a token")
stop_daemon

if [ ${#failed[@]} -gt 0 ]; then
  say "failed: ${failed[*]}"
  echo "0 passed, ${#failed[@]} failed"
  exit 1
fi
echo "3 passed, 0 failed"
