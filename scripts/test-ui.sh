#!/usr/bin/env bash
# The window's tests: install the pinned npm packages, build ui/ (ui/dist, what Tauri embeds),
# run its unit tests (node --test), then its browser tests (Chromium driven by playwright-core
# against a real `hark serve --transcriber fake`). scripts/test.sh calls this.
#
# Needs: node >= 20.19 and npm; Debian's chromium (/usr/bin/chromium, or HARK_CHROMIUM); the hark
# binary (HARK_BIN, default $CARGO_TARGET_DIR/debug/hark): this script builds no Rust.
# Optional: HARK_TEST_MODEL (a real whisper ggml file: the import/default/remove tests run with
# it), HARK_ARTIFACTS (screenshots and daemon logs, default /tmp/hark-artifacts),
# HARK_UPDATE_SCREENSHOT=1 (refresh docs/screenshot-ui.png).
set -euo pipefail
cd "$(dirname "$0")/.."

export HARK_BIN="${HARK_BIN:-${CARGO_TARGET_DIR:-/var/cache/hark-target}/debug/hark}"
if [ ! -x "$HARK_BIN" ]; then
  echo "test-ui: no hark binary at $HARK_BIN (build it first: cargo build -p hark-cli)" >&2
  exit 1
fi
export HARK_CHROMIUM="${HARK_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$HARK_CHROMIUM" ]; then
  echo "test-ui: no Chromium at $HARK_CHROMIUM (apt-get install -y --no-install-recommends chromium)" >&2
  exit 1
fi
fixture_model="$(cd .. && pwd)/shared/fixtures/models/ggml-tiny.en.bin"
if [ -z "${HARK_TEST_MODEL:-}" ] && [ -f "$fixture_model" ]; then export HARK_TEST_MODEL="$fixture_model"; fi

# scripts/test.sh has done both already (HARK_UI_PREPARED=1).
if [ "${HARK_UI_PREPARED:-}" != 1 ]; then
  echo "== npm ci"
  npm ci --prefer-offline --no-audit --no-fund
  echo "== build ui (ui/dist)"
  npm run build:ui
fi
echo "== ui unit tests"
npm run test:ui-unit
echo "== ui browser tests (Chromium, hark serve --transcriber fake)"
npm run test:ui-browser
