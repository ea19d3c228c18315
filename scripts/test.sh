#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test, and the Python example agents
# against a real `hark serve`. This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
fixture_model="$(cd .. && pwd)/shared/fixtures/models/ggml-tiny.en.bin"
if [ -z "${HARK_TEST_MODEL:-}" ] && [ -f "$fixture_model" ]; then export HARK_TEST_MODEL="$fixture_model"; fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== example agents against hark serve"
cargo build -p hark-cli --locked
bash scripts/run-examples.sh "$CARGO_TARGET_DIR/debug/hark"
