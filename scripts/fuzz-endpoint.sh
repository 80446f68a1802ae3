#!/usr/bin/env bash
# Builds the debug-shell endpoint's request-handling fuzz target with clang
# (libFuzzer, ASan, UBSan) and runs it:
#   weft-endpoint-fuzz  bytes from a client, through the endpoint's session
#                       (shell/src/session.cpp) and commands, against a
#                       real runtime (shell/fuzz/endpoint_fuzz.cpp)
#
#   scripts/fuzz-endpoint.sh [seconds]     default 30
#
# Build directory: build/fuzz-endpoint/ (override with
# WEFT_FUZZ_ENDPOINT_BUILD_DIR); its own, as the whole build is ASan (the
# runtime's fibers must be announced to ASan) where the journal's is not.
# Seeds: shell/fuzz/corpus/ (read only); new inputs go to the build
# directory's corpus. A crash leaves its input as crash-* in the build
# directory; reproduce with ./shell/weft-endpoint-fuzz <crash file>.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WEFT_FUZZ_ENDPOINT_BUILD_DIR:-$root/build/fuzz-endpoint}"

CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_BUILD_FUZZ=ON -DWEFT_SANITIZE=address -DWEFT_MODULES=shell \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF -DWEFT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target weft-endpoint-fuzz

corpus="$build/endpoint-fuzz-corpus"
mkdir -p "$corpus"
cd "$build"
echo "== weft-endpoint-fuzz (endpoint request handling) for $seconds s"
# -timeout: a slow request waits at most call_timeout (20 ms here) or a
# 1 ms trace, so an input taking 10 s is a hang worth reporting.
./shell/weft-endpoint-fuzz -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -dict="$root/shell/fuzz/endpoint.dict" "$corpus" "$root/shell/fuzz/corpus"
