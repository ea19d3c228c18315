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

xvfb_pid=""
cleanup() { [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true; }
trap cleanup EXIT
# Always a private display (HARK_DESKTOP_DISPLAY names one to use instead): the test closes
# windows titled "Hark" and types the global shortcut, which must never reach a person's desktop.
if [ -n "${HARK_DESKTOP_DISPLAY:-}" ]; then
  export DISPLAY="$HARK_DESKTOP_DISPLAY"
else
  for n in $(seq 99 120); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break; done
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  export DISPLAY=":$n"
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && break; sleep 0.05; done
fi

echo "== desktop app end to end (DISPLAY=$DISPLAY, $HARK_DESKTOP_BIN)"
dbus-run-session -- node --test --test-concurrency=1 tests/desktop/
