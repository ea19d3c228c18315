#!/usr/bin/env bash
# The desktop app's end-to-end test (tests/desktop/): builds the app, then runs it on a private
# virtual display (Xvfb; never the person's own) in its own D-Bus session (single instance and
# notifications use D-Bus), with the virtual microphone, driven by tauri-driver + WebKitWebDriver.
# Screenshots go to ${HARK_ARTIFACTS:-/tmp/hark-artifacts}/desktop-<view>.png.
#   scripts/test-desktop.sh            build and test once
#   scripts/test-desktop.sh --no-build test the binary already built
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
export HARK_DESKTOP_BIN="${HARK_DESKTOP_BIN:-$CARGO_TARGET_DIR/debug/hark-desktop}"

command -v WebKitWebDriver >/dev/null || { echo "WebKitWebDriver missing: bash scripts/install-deps.sh --test" >&2; exit 1; }
command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
[ -d node_modules/ws ] || npm ci --no-audit --no-fund

if [ "${1:-}" != "--no-build" ]; then
  # The window's files are embedded at compile time (tauri.conf.json's frontendDist): UI first.
  [ -f ui/dist/index.html ] || npm run build:ui
  cargo build -p hark-desktop --locked
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
if ! pactl info >/dev/null 2>&1; then bash scripts/virtual-mic.sh start; fi

# shellcheck source=lib/display.sh
source scripts/lib/display.sh
private_display

echo "== desktop app end to end (DISPLAY=$DISPLAY, $HARK_DESKTOP_BIN)"
dbus-run-session -- node --test --test-concurrency=1 tests/desktop/
