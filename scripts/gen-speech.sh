#!/usr/bin/env bash
# Generates a multi-sentence test recording with two synthetic voices and pauses, plus a
# manifest of where each sentence is on the timeline. Deterministic for a given espeak-ng.
#   scripts/gen-speech.sh OUT_DIR [REPEATS]
# Writes OUT_DIR/speech.wav (16 kHz mono s16) and OUT_DIR/manifest.tsv
# (start_s <TAB> end_s <TAB> text), one line per sentence. REPEATS (default 1) repeats the
# script, for long recordings (drift tests). Needs espeak-ng and sox (scripts/install-deps.sh --test).
set -euo pipefail
out="${1:?usage: gen-speech.sh OUT_DIR [REPEATS]}"
repeats="${2:-1}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

sentences=(
  "Glue the sheet to the dark blue background."
  "The birch canoe slid on the smooth planks."
  "It is easy to tell the depth of a well."
  "These days a chicken leg is a rare dish."
  "Rice is often served in round bowls."
  "The juice of lemons makes fine punch."
)
voices=("en-us+m3" "en-gb+f3")
pause=1.2   # seconds of silence between sentences
lead=0.5    # silence before the first sentence

# Every sox call runs with -R: sox dithers when it writes 16 bit (the resampled sentences, even
# the generated silences) and otherwise seeds the dither from the clock, so each run wrote
# slightly different samples, and tiny.en's words on synthetic speech changed with them (until
# 2026-12-03). With -R the same espeak-ng writes the same bytes every time.
sox -R -n -r 16000 -c 1 -b 16 "$work/lead.wav" trim 0 "$lead"
sox -R -n -r 16000 -c 1 -b 16 "$work/pause.wav" trim 0 "$pause"
parts=("$work/lead.wav")
: > "$out/manifest.tsv"
t="$lead"
n=0
for ((r = 0; r < repeats; r++)); do
  for i in "${!sentences[@]}"; do
    text="${sentences[$i]}"
    voice="${voices[$((i % 2))]}"
    espeak-ng -v "$voice" -s 150 -w "$work/raw-$n.wav" "$text"
    sox -R "$work/raw-$n.wav" -r 16000 -c 1 -b 16 "$work/s-$n.wav"
    len="$(soxi -D "$work/s-$n.wav")"
    end="$(awk -v a="$t" -v b="$len" 'BEGIN { printf "%.3f", a + b }')"
    printf '%s\t%s\t%s\n' "$t" "$end" "$text" >> "$out/manifest.tsv"
    parts+=("$work/s-$n.wav" "$work/pause.wav")
    t="$(awk -v a="$end" -v b="$pause" 'BEGIN { printf "%.3f", a + b }')"
    n=$((n + 1))
  done
done
sox -R "${parts[@]}" "$out/speech.wav"
echo "wrote $out/speech.wav ($(soxi -D "$out/speech.wav") s, $n sentences)"
