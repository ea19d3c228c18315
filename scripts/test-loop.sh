#!/usr/bin/env bash
# Runs the end-to-end daemon tests N times in a row (default 10) and stops at the first failure:
# the check that the suite is deterministic (issue 17). Same environment as scripts/test.sh.
#
#   scripts/test-loop.sh [N] [-- extra cargo test args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N="${1:-10}"
shift || true
[[ "${1:-}" == "--" ]] && shift
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
cargo test -p hark-e2e --test daemon --no-run -q
for ((i = 1; i <= N; i++)); do
    start=$SECONDS
    if ! cargo test -p hark-e2e --test daemon -q "$@" > "/tmp/hark-test-loop.$i.log" 2>&1; then
        echo "test-loop: run $i of $N FAILED (log: /tmp/hark-test-loop.$i.log)"
        grep -E '^(---- |thread .* panicked)' "/tmp/hark-test-loop.$i.log" | head -20
        exit 1
    fi
    echo "test-loop: run $i of $N passed ($((SECONDS - start)) s)"
done
echo "test-loop: $N runs in a row passed"
