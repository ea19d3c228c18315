#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test, the Python example agents against a
# real `hark serve`, the window's unit and browser tests, the desktop app end to end, and the
# installable .deb. This is what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
fixture_model="$(cd .. && pwd)/shared/fixtures/models/ggml-tiny.en.bin"
if [ -z "${HARK_TEST_MODEL:-}" ] && [ -f "$fixture_model" ]; then export HARK_TEST_MODEL="$fixture_model"; fi
# whisper.cpp rebuilt when its GGML_* settings (.cargo/config.toml) changed since this target dir
# built it: whisper-rs-sys does not notice by itself.
bash scripts/ggml-settings.sh

# The capture tests' virtual microphone: a PulseAudio server with a FIFO-fed default source and a
# null sink, started here when no sound server is running (a desktop's own server is left alone,
# and the real-capture test then says it is skipped).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
if ! pactl info >/dev/null 2>&1; then bash scripts/virtual-mic.sh start; fi

# The window (ui/): its npm packages (exact pins, the lockfile) and its build, ui/dist, which the
# desktop app embeds at compile time: before anything compiles src-tauri.
echo "== npm ci, build ui/"
npm ci --prefer-offline --no-audit --no-fund
npm run build:ui

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== example agents against hark serve"
cargo build -p hark-cli --locked
bash scripts/run-examples.sh "$CARGO_TARGET_DIR/debug/hark"
echo "== the window: unit tests and browser tests (Chromium against hark serve --transcriber fake)"
HARK_UI_PREPARED=1 HARK_BIN="$CARGO_TARGET_DIR/debug/hark" bash scripts/test-ui.sh
echo "== the desktop app under Xvfb (tauri-driver + WebKitWebDriver)"
bash scripts/test-desktop.sh
echo "== the installable bundle (.deb through the Tauri CLI, unpacked and run on Xvfb)"
bash scripts/test-bundle.sh
