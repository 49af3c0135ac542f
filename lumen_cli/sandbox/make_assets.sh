#!/bin/sh
# Regenerate the sandbox's result videos. A dev-time script: the sandbox only reads the files.
#
# Each clip is 1 second of H.264 (yuv420p, so even dimensions) plus a mono AAC sine tone,
# with the moov atom up front (+faststart) so players can start before the end arrives.
# The metadata flags keep the output byte-identical from run to run (no encoder/creation time).
set -eu
cd "$(dirname "$0")/assets"

make_clip() {
    name=$1 size=$2
    ffmpeg -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=size=${size}:rate=24:duration=1" \
        -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=1" \
        -map 0:v -map 1:a \
        -c:v libx264 -preset veryslow -crf 35 -pix_fmt yuv420p -g 24 \
        -c:a aac -b:a 24k -ac 1 \
        -shortest -movflags +faststart \
        -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
        "$name"
    ffprobe -hide_banner -loglevel error \
        -show_entries stream=codec_name,width,height,duration -of compact "$name"
}

make_clip 16x9.mp4 160x90
make_clip 9x16.mp4 90x160
make_clip 1x1.mp4 120x120
ls -l ./*.mp4
