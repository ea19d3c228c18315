#!/usr/bin/env bash
# The installable bundle: builds the .deb with the Tauri CLI from npm (a release build of the
# desktop app, `npx tauri build --bundles deb`), checks what the package declares and holds,
# unpacks it into a temporary root (nothing is installed on this machine), and runs the unpacked
# app on a private Xvfb in its own D-Bus session: its daemon must answer `hark status`, then the
# app must stop cleanly on SIGTERM. scripts/test.sh calls this.
#   scripts/test-bundle.sh             build the bundle, then check it
#   scripts/test-bundle.sh --no-build  check the newest bundle already built
# The other Linux bundles (`npx tauri build --bundles rpm`, `--bundles appimage`) are not built
# here: the AppImage bundler downloads its tools (linuxdeploy) from GitHub.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/hark-target}"
HARK_BIN="${HARK_BIN:-$CARGO_TARGET_DIR/debug/hark}"
fail() { echo "test-bundle: $*" >&2; exit 1; }

if [ "${1:-}" != "--no-build" ]; then
  echo "== npx tauri build --bundles deb (release)"
  npx tauri build --bundles deb --ci
fi
deb=$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no .deb under $CARGO_TARGET_DIR/release/bundle/deb"
echo "== checking $deb"

info=$(dpkg-deb --info "$deb")
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
grep -q "^ Package: hark$" <<<"$info" || fail "package name is not hark: $info"
grep -q "^ Version: $version$" <<<"$info" || fail "version is not $version (Cargo.toml): $info"
depends=$(sed -n 's/^ Depends: //p' <<<"$info")
for dep in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 libasound2; do
  grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
contents=$(dpkg-deb --contents "$deb")
for path in usr/bin/hark-desktop usr/share/applications/Hark.desktop \
  usr/share/icons/hicolor/128x128/apps/hark-desktop.png; do
  grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done

work=$(mktemp -d)
finish() { rm -rf "$work"; }
trap finish EXIT
dpkg-deb -x "$deb" "$work/root"
grep -q "^Exec=hark-desktop" "$work/root/usr/share/applications/Hark.desktop" ||
  fail "the .desktop entry does not run hark-desktop: $(cat "$work/root/usr/share/applications/Hark.desktop")"
[ -x "$work/root/usr/bin/hark-desktop" ] || fail "usr/bin/hark-desktop is not executable"
# The binary needs nothing from the build tree: ldd finds every library on the system.
if ldd "$work/root/usr/bin/hark-desktop" | grep -q "not found"; then
  fail "missing libraries: $(ldd "$work/root/usr/bin/hark-desktop" | grep 'not found')"
fi

echo "== running the unpacked app (private display, its own D-Bus session and data dir)"
# shellcheck source=lib/display.sh
source scripts/lib/display.sh
private_display
trap 'finish; kill "${HARK_XVFB_PID:-}" 2>/dev/null || true' EXIT
export HARK_DATA_DIR="$work/data" HARK_RUNTIME_DIR="$work/run" HARK_PORT=0 HOME="$work/home"
export XDG_CONFIG_HOME="$work/home/.config" HARK_TRANSCRIBER=fake HARK_BIN
mkdir -p "$HOME"
[ -x "$HARK_BIN" ] || fail "no hark binary at $HARK_BIN (cargo build -p hark-cli)"
# In one D-Bus session (single instance and notifications use it): start the app, wait for its
# discovery file, ask `hark status`, send SIGTERM, and expect a clean stop (the discovery file is
# removed last thing by the daemon's shutdown).
dbus-run-session -- bash -c '
  set -euo pipefail
  app="$1"; log="$2"
  "$app" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    [ -f "$HARK_RUNTIME_DIR/daemon.json" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "the app exited: $(tail -20 "$log")" >&2; exit 1; }
    sleep 0.05
  done
  [ -f "$HARK_RUNTIME_DIR/daemon.json" ] || { echo "no discovery file after 30 s: $(tail -20 "$log")" >&2; kill -KILL "$pid"; exit 1; }
  status=$("$HARK_BIN" status) || { echo "hark status failed" >&2; kill -KILL "$pid"; exit 1; }
  head -5 <<<"$status"
  kill -TERM "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then echo "the app did not stop within 10 s of SIGTERM" >&2; kill -KILL "$pid"; exit 1; fi
  wait "$pid" || { echo "the app exited with $?: $(tail -20 "$log")" >&2; exit 1; }
  [ ! -f "$HARK_RUNTIME_DIR/daemon.json" ] || { echo "the discovery file outlived the app (unclean stop)" >&2; exit 1; }
' run-unpacked "$work/root/usr/bin/hark-desktop" "$work/app.log" 2> >(grep -v "^dbus-daemon" >&2) ||
  fail "the unpacked app did not run and stop cleanly"
echo "== bundle ok: $(basename "$deb") ($(du -h "$deb" | cut -f1))"
