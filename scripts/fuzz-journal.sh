#!/usr/bin/env bash
# Builds the journal record-reader fuzz target with clang (libFuzzer, ASan,
# UBSan) and runs it.
#
#   scripts/fuzz-journal.sh [seconds]     default 30
#
# Build directory: build/fuzz/ (override with WEFT_FUZZ_BUILD_DIR). A crash
# leaves its input as crash-* in the build directory.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WEFT_FUZZ_BUILD_DIR:-$root/build/fuzz}"

CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_BUILD_FUZZ=ON \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF -DWEFT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target weft-journal-fuzz

corpus="$build/journal-fuzz-corpus"
mkdir -p "$corpus"
cd "$build"
./persistence/weft-journal-fuzz -max_total_time="$seconds" -max_len=4096 "$corpus"
