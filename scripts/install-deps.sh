#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Hark needs, idempotently (nothing is done when all are there).
#   scripts/install-deps.sh            what building and running the daemon needs
#   scripts/install-deps.sh --test     plus what the test suite needs
# The desktop app, audio capture and whisper add their packages here as they land
# (tested recipes: shared/ci/README.md).
set -euo pipefail
# whisper-rs builds whisper.cpp with cmake; bindgen wants libclang; cpal (audio capture) links ALSA.
build=(build-essential pkg-config ca-certificates curl cmake clang libclang-dev libasound2-dev)
# espeak-ng and sox generate multi-sentence speech for the voice tests (scripts/gen-speech.sh);
# PulseAudio is the virtual microphone of the capture tests (scripts/virtual-mic.sh).
test=(python3 python3-venv espeak-ng sox pulseaudio pulseaudio-utils)
want=("${build[@]}")
[ "${1:-}" = "--test" ] && want+=("${test[@]}")
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
