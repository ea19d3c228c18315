#!/usr/bin/env bash
# Run the Python examples (examples/python/) end to end against a fresh Hark daemon.
#
#   scripts/run-examples.sh [PATH_TO_HARK]   (default: ${CARGO_TARGET_DIR:-target}/debug/hark)
#
# Sets up (or reuses) a venv at ${HARK_VENV:-/var/cache/hark-venv}, starts `hark serve --port 0`
# in a temporary data dir and runtime dir, runs agent.py over TCP, agent.py over the Unix
# socket, car_agent.py (CAR's own client) and tests/python/door.py (close codes as a third-party
# WebSocket library reads them), then stops the daemon with SIGTERM and checks it
# exits 0 and removes its discovery file, token files and socket. Ends with the line
# "examples: X passed, Y failed" (a failed shutdown check counts as a failure) and exits 1 on
# any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXAMPLES="$ROOT/examples/python"
HARK="${1:-${CARGO_TARGET_DIR:-target}/debug/hark}"
VENV="${HARK_VENV:-/var/cache/hark-venv}"
READY_TIMEOUT="${HARK_READY_TIMEOUT:-20}"   # seconds to wait for the daemon's ready line
EXAMPLE_TIMEOUT="${HARK_EXAMPLE_TIMEOUT:-120}"

die() { echo "run-examples: $*" >&2; exit 1; }

[[ -x "$HARK" ]] || die "hark binary not found at '$HARK' (build it: cargo build -p hark-cli, or pass its path)"
HARK="$(cd "$(dirname "$HARK")" && pwd)/$(basename "$HARK")"

# --- venv: recreated only when requirements.txt changes (sha256 stamp) --------------------------
REQ="$EXAMPLES/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c '' 2>/dev/null \
    && [[ "$(cat "$STAMP" 2>/dev/null || true)" == "$want" ]]; then
    echo "run-examples: reusing venv $VENV"
else
    echo "run-examples: installing $REQ into venv $VENV"
    rm -f "$STAMP"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQ"
    echo "$want" > "$STAMP"
fi
PY="$VENV/bin/python"

# --- daemon in a throwaway data dir + runtime dir; the trap cleans up on any exit ---------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/hark-examples.XXXXXX")"
DATA="$TMP/data"
export HARK_RUNTIME_DIR="$TMP/run"
DAEMON_PID=""
cleanup() {
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        sleep 0.5
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DATA"
: >"$TMP/stdout"
"$HARK" serve --port 0 --data-dir "$DATA" >"$TMP/stdout" 2>"$TMP/stderr" &
DAEMON_PID=$!

# The ready line is the daemon's one and only stdout line; wait until it is complete.
READY=""
deadline=$((SECONDS + READY_TIMEOUT))
while ((SECONDS < deadline)); do
    if [[ "$(wc -l <"$TMP/stdout")" -ge 1 ]]; then READY="$(head -n 1 "$TMP/stdout")"; break; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$READY" ]]; then
    echo "--- daemon stderr:" >&2; tail -n 20 "$TMP/stderr" >&2 || true
    kill -0 "$DAEMON_PID" 2>/dev/null || die "'$HARK serve' exited before printing its ready line"
    die "no ready line from '$HARK serve' within ${READY_TIMEOUT}s"
fi
field() { "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$READY" "$1"; }
[[ "$(field ready)" == "True" ]] || die "ready line without \"ready\": true: $READY"
echo "run-examples: daemon pid $DAEMON_PID ready at $(field ws_url) (socket $(field socket))"

# --- the examples -------------------------------------------------------------------------------
passed=0
failed=0
run_example() {  # run_example NAME COMMAND...
    echo "=== $1"
    local name="$1"; shift
    local rc=0
    "$@" || rc=$?
    if ((rc == 0)); then
        passed=$((passed + 1)); echo "=== $name: passed"
    else
        failed=$((failed + 1)); echo "=== $name: FAILED (exit $rc)" >&2
    fi
}
car_example() {  # what a CAR user does: eval "$(hark token)", then run the client
    local env
    env="$("$HARK" token --data-dir "$DATA")" || return 1
    (
        eval "$env"
        export CAR_NO_VERSION_WARNING=1  # car-runtime warns whenever server_version != its own
        exec timeout "$EXAMPLE_TIMEOUT" "$PY" "$EXAMPLES/car_agent.py"
    )
}

run_example "agent.py (TCP)" timeout "$EXAMPLE_TIMEOUT" "$PY" "$EXAMPLES/agent.py" --data-dir "$DATA"
run_example "agent.py --socket (Unix socket)" \
    timeout "$EXAMPLE_TIMEOUT" "$PY" "$EXAMPLES/agent.py" --data-dir "$DATA" --socket
run_example "car_agent.py (car-runtime)" car_example
run_example "close codes as websockets sees them (tests/python/door.py)" \
    timeout "$EXAMPLE_TIMEOUT" "$PY" "$ROOT/tests/python/door.py" "$(field ws_url)"

# --- clean shutdown: SIGTERM -> exit 0, runtime files removed ------------------------------------
shutdown_problems=()
kill -TERM "$DAEMON_PID"
for ((i = 0; i < 150; i++)); do  # up to 15 s; a zombie (Z) has exited and awaits wait
    state="$(ps -o stat= -p "$DAEMON_PID" 2>/dev/null || true)"
    [[ -z "$state" || "$state" == Z* ]] && break
    sleep 0.1
done
if [[ -n "$state" && "$state" != Z* ]]; then
    shutdown_problems+=("still running 15 s after SIGTERM (killed)")
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
fi
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=""
((rc == 0)) || shutdown_problems+=("exit status $rc after SIGTERM (want 0)")
for f in "$HARK_RUNTIME_DIR/daemon.json" "$(field token_file)" "$(field host_token_file)" "$(field socket)"; do
    [[ ! -e "$f" ]] || shutdown_problems+=("$f still exists after shutdown")
done
if ((${#shutdown_problems[@]} == 0)); then
    echo "=== shutdown: daemon exited 0 and removed daemon.json, auth-token, host-token, daemon.sock"
else
    failed=$((failed + 1))
    printf '=== shutdown: FAILED: %s\n' "${shutdown_problems[@]}" >&2
fi

if ((failed > 0)); then
    echo "--- daemon stderr (last 20 lines):" >&2
    tail -n 20 "$TMP/stderr" >&2 || true
fi
echo "examples: $passed passed, $failed failed"
((failed == 0)) || exit 1
