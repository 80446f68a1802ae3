#!/usr/bin/env bash
# Builds weft-chat's fuzz targets with clang (libFuzzer, ASan, UBSan) and
# runs each of them for the given time, one after the other:
#   weft-chat-irc-fuzz  bytes from an IRC client through the line
#                       splitter, parse and line() (samples/chat/fuzz/irc_line_fuzz.cpp)
#   and every other weft-chat-<what>-fuzz the build has: the script builds
#   the target weft-chat-fuzzers (samples/chat/CMakeLists.txt), which
#   depends on all of them, and runs whatever samples/chat/weft-chat-*-fuzz
#   that leaves in the build directory.
#
#   scripts/fuzz-chat.sh [seconds]     default 30 (per target)
#
# Build directory: build/fuzz-chat/ (override with WEFT_FUZZ_CHAT_BUILD_DIR),
# configured with the modules weft-chat needs (samples/chat/CMakeLists.txt
# leaves the sample out without them) and the whole build under ASan, as
# the other fuzz scripts do.
# For a target weft-chat-<what>-fuzz, if they exist:
#   samples/chat/fuzz/corpus/<what>/  seeds (read only; new inputs go to
#                                     the build directory's chat-fuzz-corpus/<what>/)
#   samples/chat/fuzz/<what>.dict     libFuzzer's -dict
# A crash leaves its input as crashes/<target>-crash-* in the build
# directory; reproduce with ./samples/chat/<target> <that file>. The script
# runs every target even after one fails, and then exits non-zero.
set -euo pipefail

seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${WEFT_FUZZ_CHAT_BUILD_DIR:-$root/build/fuzz-chat}"
fuzz_sources="$root/samples/chat/fuzz"

CXX=clang++ cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_BUILD_FUZZ=ON -DWEFT_SANITIZE=address \
  -DWEFT_MODULES="supervisor;persistence;actors;shell" \
  -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=ON -DWEFT_BUILD_BENCH=OFF >/dev/null
if ! cmake --build "$build" -j2 --target weft-chat-fuzzers; then
  echo "fuzz-chat: cannot build weft-chat-fuzzers in $build; if ninja does not know the target," \
    "samples/chat was left out: 'cmake $build' says why" >&2
  exit 1
fi

shopt -s nullglob
targets=("$build"/samples/chat/weft-chat-*-fuzz)
if ((${#targets[@]} == 0)); then
  echo "fuzz-chat: building weft-chat-fuzzers left no samples/chat/weft-chat-*-fuzz in $build" >&2
  exit 1
fi

mkdir -p "$build/crashes"
failed=()
for target in "${targets[@]}"; do
  name="$(basename "$target")"
  what="${name#weft-chat-}"
  what="${what%-fuzz}"
  corpus="$build/chat-fuzz-corpus/$what"
  mkdir -p "$corpus"
  inputs=("$corpus")
  [[ -d "$fuzz_sources/corpus/$what" ]] && inputs+=("$fuzz_sources/corpus/$what")
  options=()
  [[ -f "$fuzz_sources/$what.dict" ]] && options+=(-dict="$fuzz_sources/$what.dict")
  echo "== $name for $seconds s"
  # -max_len: 8 KiB reaches the IRC splitter's default limit (4608 bytes)
  # and a few WebSocket frames. -timeout: every target is a pure function
  # of its input, so 10 s on one input is a hang worth reporting.
  if ! "$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
      -artifact_prefix="$build/crashes/$name-" "${options[@]}" "${inputs[@]}"; then
    failed+=("$name")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "fuzz-chat: failed: ${failed[*]} (inputs in $build/crashes/)" >&2
  exit 1
fi
echo "fuzz-chat: ${#targets[@]} target(s) ran $seconds s each without a failure"
