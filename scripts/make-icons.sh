#!/usr/bin/env bash
# Draws Hark's icons into icons/ with ImageMagick (`convert`; scripts/install-deps.sh --test
# installs it): a white microphone on a rounded indigo square, and the two tray states (idle, and
# recording: the same with a red dot). Deterministic; run it again after changing a colour or a
# shape, and commit what it writes:
#   icons/icon.png (1024), 32x32.png, 128x128.png, 128x128@2x.png, icon.ico, icon.icns,
#   tray-idle.png and tray-recording.png (64x64).
set -euo pipefail
cd "$(dirname "$0")/.."
out=icons
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bg='#4338ca'   # indigo
fg='#ffffff'
red='#e11d48'

# The master, 1024x1024: rounded square; the microphone: capsule, holder arc, stem, base.
convert -size 1024x1024 xc:none \
  -fill "$bg" -draw 'roundrectangle 32,32 991,991 200,200' \
  -fill "$fg" -draw 'roundrectangle 392,170 632,600 120,120' \
  -fill none -stroke "$fg" -strokewidth 56 -draw "path 'M 292,470 A 220,220 0 0,0 732,470'" \
  -draw 'line 512,690 512,830' -draw 'line 372,840 652,840' \
  -define png:exclude-chunks=date,time "PNG32:$tmp/master.png"

png() { # size file [extra convert args...]
  local size=$1 file=$2; shift 2
  convert "$tmp/master.png" -filter Lanczos -resize "${size}x${size}" "$@" \
    -define png:exclude-chunks=date,time "PNG32:$file"
}

png 1024 "$out/icon.png"
png 32 "$out/32x32.png"
png 128 "$out/128x128.png"
png 256 "$out/128x128@2x.png"
for s in 16 24 32 48 64 256; do png "$s" "$tmp/ico-$s.png"; done
convert "$tmp"/ico-{16,24,32,48,64,256}.png "$out/icon.ico"

# icon.icns (ImageMagick cannot write it): the format is a header and PNG entries, each a
# 4-byte type and a big-endian length; ic07..ic10 are 128, 256, 512 and 1024 pixels.
for s in 128 256 512; do png "$s" "$tmp/icns-$s.png"; done
python3 - "$out/icon.icns" "$tmp/icns-128.png" "$tmp/icns-256.png" "$tmp/icns-512.png" "$out/icon.png" <<'PY'
import struct, sys
entries = b"".join(
    kind + struct.pack(">I", 8 + len(data)) + data
    for kind, data in zip([b"ic07", b"ic08", b"ic09", b"ic10"], (open(p, "rb").read() for p in sys.argv[2:]))
)
open(sys.argv[1], "wb").write(b"icns" + struct.pack(">I", 8 + len(entries)) + entries)
PY

# The tray: 64x64, idle; recording adds a red dot with a white ring at the bottom right.
png 64 "$out/tray-idle.png"
png 64 "$out/tray-recording.png" \
  -fill "$fg" -draw 'circle 48,48 48,32' -fill "$red" -draw 'circle 48,48 48,35'
echo "icons written to $out/"
