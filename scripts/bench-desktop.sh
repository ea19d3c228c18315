#!/usr/bin/env bash
# Start-up and idle cost of the desktop app (release build), for BENCHMARKS.md: spawn -> its
# daemon answering, then resident memory (RSS and PSS of the app and WebKit's processes) and CPU
# idle over a window with the window open, then closed. See tests/desktop/measure.mjs.
# With --live: the window's CPU while a meeting runs on its Live view, against the same view
# idle (tests/desktop/measure-live.mjs; through tauri-driver).
# With --after-meeting SECONDS: also a meeting (jfk.wav through the real model, HARK_TEST_MODEL
# or the shared fixture) and the memory right after it and from SECONDS after it.
#
#   scripts/bench-desktop.sh [--runs N] [--idle SECONDS] [--no-build] [--bin PATH] [--live]
#                            [--after-meeting SECONDS]
#
# Runs on a private Xvfb (HARK_DESKTOP_DISPLAY names a display to use instead) in its own D-Bus
# session. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
BIN="$CARGO_TARGET_DIR/release/hark-desktop"
RUNS=3
IDLE=60
BUILD=1
LIVE=0
AFTER=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="$2"; shift 2 ;;
    --live) LIVE=1; shift ;;
    --after-meeting) AFTER="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-desktop: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -d node_modules/ws ] || npm ci --no-audit --no-fund
if [ "$BUILD" = 1 ]; then
  [ -f ui/dist/index.html ] || npm run build:ui
  cargo build --release -p hark-desktop --locked >&2
fi
# shellcheck source=lib/display.sh
source scripts/lib/display.sh
private_display
if [ "$LIVE" = 1 ]; then
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.1.0
  echo "bench-desktop --live: $BIN, $RUNS run(s), jfk.wav x 6 at real time, DISPLAY=$DISPLAY" >&2
  dbus-run-session -- node tests/desktop/measure-live.mjs "$BIN" "$RUNS" 6 30 2> >(grep -v '^dbus-daemon' >&2)
  exit
fi
if [ "$AFTER" != 0 ] && [ -z "${HARK_TEST_MODEL:-}" ]; then
  HARK_TEST_MODEL="$(cd .. && pwd)/shared/fixtures/models/ggml-tiny.en.bin"
  [ -f "$HARK_TEST_MODEL" ] || { echo "bench-desktop --after-meeting: no real model (set HARK_TEST_MODEL)" >&2; exit 2; }
  export HARK_TEST_MODEL
fi
echo "bench-desktop: $BIN, $RUNS run(s), $IDLE s idle each way, DISPLAY=$DISPLAY" >&2
dbus-run-session -- node tests/desktop/measure.mjs "$BIN" "$RUNS" "$IDLE" "$AFTER" 2> >(grep -v '^dbus-daemon' >&2)
