#!/usr/bin/env bash
# Installs what Hark needs and runs it. The desktop app is not built yet, so this runs the
# headless daemon (`hark serve`) everywhere; extra arguments go to `hark serve`.
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
cargo build --release -p hark-cli
exec "${CARGO_TARGET_DIR:-target}/release/hark" serve "$@"
