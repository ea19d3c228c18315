#!/usr/bin/env bash
# Installs what Hark needs on Debian/Ubuntu, idempotently (nothing is done when all is there).
#   scripts/install-deps.sh            what building and running Hark (daemon and desktop app) needs
#   scripts/install-deps.sh --test     plus what the test suite needs
# Tested recipes: shared/ci/README.md. Node.js >= 20.19 (vite 8) comes from apt when it is new
# enough there, else from the npm registry's `node` package (registries are all that is needed).
set -euo pipefail
# whisper-rs builds whisper.cpp with cmake; bindgen wants libclang; cpal (audio capture) links ALSA;
# the desktop app (Tauri v2) links WebKitGTK 4.1, GTK 3, libsoup 3, the tray's appindicator, rsvg
# and xdo; its window (ui/) is built with node and npm.
build=(build-essential pkg-config ca-certificates curl cmake clang libclang-dev libasound2-dev
  libssl-dev libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libayatana-appindicator3-dev
  librsvg2-dev libxdo-dev)
# espeak-ng and sox generate multi-sentence speech for the voice tests (scripts/gen-speech.sh);
# PulseAudio (with ALSA's plugin, which routes cpal to it) is the virtual microphone of the capture
# tests (scripts/virtual-mic.sh); Xvfb, D-Bus and WebKitWebDriver run the desktop app's test;
# Chromium runs the window's browser tests; ImageMagick makes the icons and screenshots.
test=(python3 python3-venv espeak-ng sox pulseaudio pulseaudio-utils libasound2-plugins alsa-utils
  xvfb xauth x11-utils imagemagick dbus-x11 at-spi2-core webkit2gtk-driver chromium)
want=("${build[@]}")
[ "${1:-}" = "--test" ] && want+=("${test[@]}")
# Node: the distribution's when it is recent enough (or already installed), else see below.
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; }
node_ok || want+=(nodejs npm)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! node_ok; then
  # Debian 12's nodejs is 18.x: take node 20 from the npm registry (the `node` package installs
  # the platform's binary from the registry too) into /usr/local.
  echo "node $(node --version 2>/dev/null || echo missing) is too old for vite 8: installing node 20 from npm" >&2
  $SUDO npm install -g --no-audit --no-fund node@20
  hash -r
  node_ok || { echo "install-deps: could not get node >= 20.19 (have $(node --version))" >&2; exit 1; }
fi
if [ "${1:-}" = "--test" ] && ! command -v tauri-driver >/dev/null 2>&1; then
  # The desktop app's WebDriver bridge (about a minute to build); lands in ~/.cargo/bin.
  cargo install tauri-driver --locked --version 2.1.0
fi
