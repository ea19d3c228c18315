#!/usr/bin/env bash
# Generates a recording with two long silences, the case whisper fills with invented words:
# jfk.wav, 20 s of silence, the six sentences of scripts/gen-speech.sh, 20 s of silence, jfk.wav.
#   scripts/gen-long-silences.sh OUT_DIR
# Writes OUT_DIR/speech.wav (16 kHz mono s16, about 85 s) and OUT_DIR/reference.txt (the words
# spoken). Needs espeak-ng and sox (scripts/install-deps.sh --test).
set -euo pipefail
out="${1:?usage: gen-long-silences.sh OUT_DIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
jfk="$root/tests/fixtures/audio/jfk.wav"
jfk_text="And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
bash "$root/scripts/gen-speech.sh" "$work/six" 1 >/dev/null
sox -R -n -r 16000 -c 1 -b 16 "$work/silence.wav" trim 0 20
mkdir -p "$out"
sox -R "$jfk" "$work/silence.wav" "$work/six/speech.wav" "$work/silence.wav" "$jfk" "$out/speech.wav"
printf '%s %s %s\n' "$jfk_text" "$(cut -f3 "$work/six/manifest.tsv" | tr '\n' ' ')" "$jfk_text" > "$out/reference.txt"
echo "wrote $out/speech.wav ($(soxi -D "$out/speech.wav") s)"
