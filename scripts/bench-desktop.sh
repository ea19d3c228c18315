#!/usr/bin/env bash
# Start-up and idle cost of the desktop app (release build), for BENCHMARKS.md: spawn -> its
# daemon answering, then resident memory (RSS and PSS of the app and WebKit's processes) and CPU
# idle over a window with the window open, then closed. See tests/desktop/measure.mjs.
#
#   scripts/bench-desktop.sh [--runs N] [--idle SECONDS] [--no-build] [--bin PATH]
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
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-desktop: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -d node_modules/ws ] || npm ci --no-audit --no-fund
if [ "$BUILD" = 1 ]; then
  [ -f ui/dist/index.html ] || npm run build:ui
  cargo build --release -p hark-desktop --locked >&2
fi
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
echo "bench-desktop: $BIN, $RUNS run(s), $IDLE s idle each way, DISPLAY=$DISPLAY" >&2
dbus-run-session -- node tests/desktop/measure.mjs "$BIN" "$RUNS" "$IDLE" 2> >(grep -v '^dbus-daemon' >&2)
