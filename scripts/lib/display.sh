# Sourced by the scripts that run the desktop app (test-desktop.sh, bench-desktop.sh,
# test-bundle.sh): `private_display` exports DISPLAY for a private Xvfb (never the person's own:
# the tests close windows titled "Hark" and type the global shortcut), or for
# $HARK_DESKTOP_DISPLAY when that names a display to use instead, and stops its Xvfb on exit.
private_display() {
  if [ -n "${HARK_DESKTOP_DISPLAY:-}" ]; then
    export DISPLAY="$HARK_DESKTOP_DISPLAY"
    return
  fi
  local n
  for n in $(seq 99 120); do [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || break; done
  Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  HARK_XVFB_PID=$!
  trap 'kill "$HARK_XVFB_PID" 2>/dev/null || true' EXIT
  export DISPLAY=":$n"
  for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$n" ] && return; sleep 0.05; done
  echo "private_display: Xvfb :$n did not start" >&2
  return 1
}
