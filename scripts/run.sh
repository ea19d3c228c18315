#!/usr/bin/env bash
# Installs what Hark needs and runs it: the desktop app (tray + window, the daemon inside) where
# there is a display, otherwise the headless daemon (`hark serve`). Extra arguments go to
# `hark serve` (headless only). HARK_HEADLESS=1 runs `hark serve` even with a display.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if ! command -v cargo >/dev/null 2>&1; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    echo "Rust is not installed; installing it with rustup (https://rustup.rs)..." >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  }
  export PATH="$HOME/.cargo/bin:$PATH"
fi
target="${CARGO_TARGET_DIR:-target}"
CARGO_TARGET_DIR="$target" bash scripts/ggml-settings.sh   # whisper.cpp rebuilt if its settings changed
if [ -z "${HARK_HEADLESS:-}" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  # The window's files are embedded in the app when it is compiled: build them first.
  npm ci --prefer-offline --no-audit --no-fund
  npm run build:ui
  cargo build --release -p hark-desktop
  exec "$target/release/hark-desktop"
fi
cargo build --release -p hark-cli
exec "$target/release/hark" serve "$@"
