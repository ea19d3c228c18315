#!/usr/bin/env bash
# whisper.cpp build settings, measured on their own: builds the whisper.cpp that whisper-rs-sys
# vendors (from cargo's registry copy) once per setting with CMake, links bench/ggml-probe/probe.cpp
# against each, and runs the probes alternately (one whisper_full() with whisper.cpp's defaults,
# the floor of Hark's benchmarks), printing a Markdown table: median wall, encoder ms per 30 s
# window, decoder ms per token, and whether the words match the first setting's.
#
#   scripts/bench-ggml.sh [--audio FILE] [--model FILE] [--threads N] [--runs N] [--rounds N] [SETTING...]
#
#   SETTING   plain (ggml as whisper-rs-sys builds it: -march=native), llamafile (GGML_LLAMAFILE=ON,
#             native), portable (what .cargo/config.toml sets: llamafile for x86-64-v3,
#             not native), blas (OpenBLAS; needs libopenblas-dev), llamafile+flash (flash attention
#             on); default: plain llamafile
#   --audio   a 16 kHz mono 16-bit WAV (default tests/fixtures/audio/jfk.wav)
#   --model   a ggml model (default $HARK_TEST_MODEL)
#   --runs    timed runs per probe, after one warm-up (default 3); --rounds: alternations (default 2)
#
# Builds go to $HARK_GGML_BUILDS (default /var/cache/hark-ggml-builds), a few minutes each on 2
# cores the first time. Needs cmake and g++ (scripts/install-deps.sh) and `cargo fetch` done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUDIO="$ROOT/tests/fixtures/audio/jfk.wav"
MODEL="${HARK_TEST_MODEL:-}"
THREADS=2 RUNS=3 ROUNDS=2
SETTINGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --audio) AUDIO="$2"; shift 2 ;;
    --model) MODEL="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    plain|llamafile|portable|blas|llamafile+flash) SETTINGS+=("$1"); shift ;;
    *) echo "bench-ggml: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#SETTINGS[@]} -gt 0 ] || SETTINGS=(plain llamafile)
[ -n "$MODEL" ] && [ -f "$MODEL" ] || { echo "bench-ggml: pass --model (or set HARK_TEST_MODEL)" >&2; exit 2; }

# The whisper.cpp of the whisper-rs-sys version Cargo.lock pins.
version="$(awk '/^name = "whisper-rs-sys"/ { getline; gsub(/[^0-9.]/, ""); print }' "$ROOT/Cargo.lock")"
src="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/whisper-rs-sys-"$version"/whisper.cpp 2>/dev/null | head -1)"
[ -d "$src" ] || { echo "bench-ggml: no whisper-rs-sys $version source; run cargo fetch" >&2; exit 2; }
BUILDS="${HARK_GGML_BUILDS:-/var/cache/hark-ggml-builds}/$version"
# shellcheck source=lib/ggml.sh
source "$ROOT/scripts/lib/ggml.sh"

build() {
  local setting="$1" dir="$BUILDS/${1//+/-}" flags=()
  case "$setting" in
    llamafile|llamafile+flash) flags=(-DGGML_LLAMAFILE=ON) ;;
    portable) mapfile -t flags < <(ggml_settings "$ROOT" | sed 's/^/-D/') ;;
    blas) flags=(-DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS
                 -DBLAS_INCLUDE_DIRS="$(dirname "$(find /usr/include -name cblas.h | head -1)")") ;;
  esac
  if [ ! -x "$dir/probe" ] || [ "$ROOT/bench/ggml-probe/probe.cpp" -nt "$dir/probe" ]; then
    echo "bench-ggml: building whisper.cpp ($setting) in $dir" >&2
    cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
      -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_EXAMPLES=OFF -DGGML_OPENMP=OFF "${flags[@]}" > "$dir.log" 2>&1
    cmake --build "$dir/build" -j "$(nproc)" >> "$dir.log" 2>&1
    local extra=()
    [ "$setting" = blas ] && extra=(-lopenblas)
    g++ -O2 -std=c++17 -o "$dir/probe" "$ROOT/bench/ggml-probe/probe.cpp" -I"$src/include" -I"$src/ggml/include" \
      -Wl,--start-group $(find "$dir/build" -name '*.a') -Wl,--end-group "${extra[@]}" -lpthread -lm
  fi
}

for s in "${SETTINGS[@]}"; do mkdir -p "$BUILDS"; build "$s"; done
declare -A wall enc dec text
for round in $(seq "$ROUNDS"); do
  for s in "${SETTINGS[@]}"; do
    echo "bench-ggml: round $round, $s" >&2
    flash=""; [ "$s" = llamafile+flash ] && flash=flash
    # whisper.cpp's load chatter goes to a log, shown only when the probe fails.
    line="$("$BUILDS/${s//+/-}/probe" "$MODEL" "$AUDIO" "$THREADS" "$RUNS" $flash 2>"$BUILDS/probe.err")" \
      || { tail -5 "$BUILDS/probe.err" >&2; echo "bench-ggml: the $s probe failed" >&2; exit 1; }
    w="$(sed -n 's/.*wall_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    e="$(sed -n 's/.*encode_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    d="$(sed -n 's/.*decode_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
    wall[$s]="${wall[$s]:+${wall[$s]}, }$w"; enc[$s]="${enc[$s]:+${enc[$s]}, }$e"; dec[$s]="${dec[$s]:+${dec[$s]}, }$d"
    text[$s]="${line#*text=}"
  done
done

echo "- Audio: $AUDIO; model $MODEL; $THREADS threads; whisper.cpp of whisper-rs-sys $version; $RUNS runs per probe after a warm-up, $ROUNDS rounds alternating; one figure per round"
echo "- CPU: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo
echo "| setting | wall ms (median) | encoder ms per window | decoder ms per token | same words as ${SETTINGS[0]} |"
echo "|---|---:|---:|---:|---|"
for s in "${SETTINGS[@]}"; do
  same=yes; [ "${text[$s]}" = "${text[${SETTINGS[0]}]}" ] || same=no
  echo "| $s | ${wall[$s]} | ${enc[$s]} | ${dec[$s]} | $same |"
done
echo
echo "Text (${SETTINGS[0]}): ${text[${SETTINGS[0]}]}"
