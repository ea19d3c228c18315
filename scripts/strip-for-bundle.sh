#!/usr/bin/env bash
# tauri.conf.json's beforeBundleCommand: the Tauri CLI has built the release binary and is about to
# copy it into the bundles. The release profile keeps line tables (for the benchmarks' profiles),
# and whisper.cpp's C++ is compiled with debug info, which makes the binary about 220 MB against
# 34 MB without; the bundles get it without (symbols are kept, so a crash still names functions).
# Linux: GNU strip. Elsewhere this does nothing yet (only Linux bundles are built and tested).
set -euo pipefail
bin="${CARGO_TARGET_DIR:-target}/release/hark-desktop"
if [ "$(uname -s)" = Linux ] && [ -f "$bin" ] && command -v strip >/dev/null; then
  before=$(stat -c %s "$bin")
  strip --strip-debug "$bin"
  echo "strip-for-bundle: $bin $((before >> 20)) MiB -> $(( $(stat -c %s "$bin") >> 20 )) MiB"
fi
