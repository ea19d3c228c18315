#!/usr/bin/env bash
# Makes a target dir's whisper.cpp match the GGML_* settings of .cargo/config.toml (and of the
# environment, which wins there). whisper-rs-sys passes every GGML_* variable to whisper.cpp's
# CMake but reruns its build script only for the variables it names itself, so a target dir that
# built it under other settings keeps that build: a portable setting added later would never
# reach a cached CI target dir. The settings a target dir's whisper-rs-sys was built with are
# kept in $CARGO_TARGET_DIR/.hark-ggml-settings; when they differ, whisper-rs-sys is cleaned
# (both profiles) and cargo rebuilds it, a few minutes on 2 cores.
#
#   scripts/ggml-settings.sh      (called by scripts/test.sh and scripts/run.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$ROOT/target}"
stamp="$target/.hark-ggml-settings"

# shellcheck source=lib/ggml.sh
source "$ROOT/scripts/lib/ggml.sh"
settings="$(ggml_settings "$ROOT")"
[ -n "$settings" ] || { echo "ggml-settings: no GGML_* setting in .cargo/config.toml" >&2; exit 1; }

if [ "$(cat "$stamp" 2>/dev/null)" != "$settings" ]; then
  if [ -d "$target" ]; then
    echo "ggml-settings: whisper.cpp's build settings changed; cleaning whisper-rs-sys in $target" >&2
    (cd "$ROOT" && cargo clean -p whisper-rs-sys && cargo clean --release -p whisper-rs-sys) >&2
  fi
  mkdir -p "$target"
  printf '%s\n' "$settings" > "$stamp"
fi
