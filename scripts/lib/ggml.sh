# shellcheck shell=bash
# The GGML_* settings whisper.cpp is built with: each GGML_* line of .cargo/config.toml's [env],
# with the environment's value where it has one (cargo's rule), as sorted NAME=VALUE lines.
# Sourced by scripts/ggml-settings.sh and scripts/bench-ggml.sh.
ggml_settings() {
  local root="$1"
  sed -n 's/^\(GGML_[A-Z0-9_]*\) *= *"\([^"]*\)".*/\1 \2/p' "$root/.cargo/config.toml" | sort |
    while read -r name value; do echo "$name=${!name:-$value}"; done
}
