#!/usr/bin/env bash
# Builds the journal's fuzz targets with clang (libFuzzer, ASan, UBSan) and
# runs them, each for the given time:
#   weft-journal-fuzz       the record reader (record_format.cpp)
#   weft-journal-dump-fuzz  weft-journal-dump's printing (journal_dump.cpp),
#                           seeded with the record reader's corpus
#
#   scripts/fuzz-journal.sh [seconds] [reader|dump|all]     default 30 all
#
# Build directory: build/fuzz/ (override with WEFT_FUZZ_BUILD_DIR). A crash
# leaves its input as crash-* in the build directory.
set -euo pipefail

seconds="${1:-30}"
which="${2:-all}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WEFT_FUZZ_BUILD_DIR:-$root/build/fuzz}"

case "$which" in
  reader) targets=(weft-journal-fuzz) ;;
  dump) targets=(weft-journal-dump-fuzz) ;;
  all) targets=(weft-journal-fuzz weft-journal-dump-fuzz) ;;
  *) echo "unknown fuzz target '$which': reader | dump | all" >&2; exit 2 ;;
esac

CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_BUILD_FUZZ=ON \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF -DWEFT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target "${targets[@]}"

reader_corpus="$build/journal-fuzz-corpus"
dump_corpus="$build/journal-dump-fuzz-corpus"
mkdir -p "$reader_corpus" "$dump_corpus"
cd "$build"
if [[ "$which" != dump ]]; then
  echo "== weft-journal-fuzz (record reader) for $seconds s"
  ./persistence/weft-journal-fuzz -max_total_time="$seconds" -max_len=4096 "$reader_corpus"
fi
if [[ "$which" != reader ]]; then
  # New inputs go to the first directory; the reader's corpus is read only.
  echo "== weft-journal-dump-fuzz (weft-journal-dump) for $seconds s, seeded with the reader's corpus"
  ./persistence/weft-journal-dump-fuzz -max_total_time="$seconds" -max_len=4096 "$dump_corpus" "$reader_corpus"
fi
