#!/usr/bin/env bash
# weft's build driver: the two commands of README's quick start, and CI's.
#
#   ./build.sh run              install what is missing, build, run the demo
#   ./build.sh run chat [ARGS]  the same for the chat server (samples/chat)
#   ./build.sh test [VARIANT]   install, build and run the test suite
#       VARIANT: plain (default) | asan (ASan+UBSan) | tsan | all | ci
#       ci = plain + asan + tsan + the installed-package consumer check +
#            the benchmark smoke runs (bench/, echo, chat) + libFuzzer runs
#            of the journal's record reader and dump, of the debug-shell
#            endpoint and of weft-chat's IRC parser and WebSocket JSON
#            handler (30 s each) + the aarch64 cross-compile check (what
#            .ci/run does)
#   ./build.sh fuzz [SECONDS]   fuzz the journal reader, the journal dump, the
#                               shell endpoint and weft-chat's IRC parser and
#                               WebSocket JSON handler (default 30 s each)
#   ./build.sh consumer         build tests/consumer against an installed weft
#
# Environment: WEFT_STRESS=1 also runs the long soak/stress configurations;
# JOBS=N sets build parallelism (default: all cores).
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
jobs=${JOBS:-$(nproc)}

bash scripts/install-deps.sh

configure() {  # configure <build-dir> <extra cmake args...>
  local dir=$1
  shift
  local stress=OFF
  [[ "${WEFT_STRESS:-0}" == "1" ]] && stress=ON
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_STRESS=$stress "$@" >/dev/null
}

# Line tables only (-g1): backtraces and sanitizer reports keep file:line,
# and the template-heavy tests compile about a third faster than with -g.
# Sanitizer builds also use -O1 (the usual choice for ASan/TSan), which
# halves their compile time; CI builds three variants on two cores.
plain_flags="-O2 -g1 -DNDEBUG"
sanitizer_flags="-O1 -g1 -DNDEBUG"

run_suite() {  # run_suite <name> <build-dir> <cmake args...>
  local name=$1 dir=$2
  shift 2
  echo "== weft test suite: $name ($dir)"
  configure "$dir" "$@"
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900)
}

consumer_check() {  # consumer_check [built-dir]: install from that build (CI: the plain suite's) or a fresh one
  echo "== installed-package check: tests/consumer and tests/consumer-runtime against a fresh install"
  local build=${1:-build/consumer-weft} prefix=build/consumer-prefix
  rm -rf "$prefix" build/consumer-app build/consumer-runtime-app
  if [[ -z "${1:-}" ]]; then
    configure "$build" -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF -DWEFT_BUILD_BENCH=OFF
    cmake --build "$build" -j "$jobs"
  fi
  # CI installs what the plain suite built and tested instead of building
  # the library a fourth time (about 5 of CI's minutes).
  cmake --install "$build" --prefix "$root/$prefix" >/dev/null
  test -f "$prefix/share/doc/weft/guide/getting-started.md" || { echo "install: no guides in share/doc/weft" >&2; exit 1; }
  test -f "$prefix/share/man/man1/weft-shell.1" || { echo "install: no weft-shell man page" >&2; exit 1; }
  cmake -S tests/consumer -B build/consumer-app -G Ninja -DCMAKE_PREFIX_PATH="$root/$prefix" >/dev/null
  cmake --build build/consumer-app -j "$jobs"
  ./build/consumer-app/weft-consumer
  # The runtime alone must not need SQLite or nlohmann-json: make them unfindable.
  cmake -S tests/consumer-runtime -B build/consumer-runtime-app -G Ninja -DCMAKE_PREFIX_PATH="$root/$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON >/dev/null
  cmake --build build/consumer-runtime-app -j "$jobs"
  ./build/consumer-runtime-app/weft-consumer-runtime
}

fuzz_all() {  # fuzz_all <seconds>: every libFuzzer target, each for <seconds>
  echo "== fuzzing the journal record reader and weft-journal-dump for $1 s each (clang, libFuzzer + ASan/UBSan)"
  WEFT_FUZZ_BUILD_DIR="$root/build/fuzz" bash scripts/fuzz-journal.sh "$1" all
  echo "== fuzzing the debug-shell endpoint's request handling for $1 s (clang, libFuzzer + ASan/UBSan)"
  WEFT_FUZZ_ENDPOINT_BUILD_DIR="$root/build/fuzz-endpoint" bash scripts/fuzz-endpoint.sh "$1"
  echo "== fuzzing weft-chat's IRC line parser and WebSocket JSON handler for $1 s each (clang, libFuzzer + ASan/UBSan)"
  bash scripts/fuzz-chat.sh "$1"
}

bench_smoke() {
  if [[ -x bench/run.sh ]] && [[ -f bench/CMakeLists.txt ]]; then
    echo "== benchmark smoke run (tiny parameters, weft only)"
    bash bench/run.sh smoke impls=weft
  fi
  if [[ -x bench/echo/run-echo.sh ]]; then
    echo "== echo benchmark smoke run (weft-echo and the plain-C server, every line checked)"
    bash bench/echo/run-echo.sh smoke impls=weft,c
  fi
  if [[ -x bench/chat/run.sh ]]; then
    echo "== chat benchmark smoke run (weft-chat and the IRC load generator, every delivery checked)"
    # The weft-chat the plain suite built and tested, when there is one.
    if [[ -x build/test/samples/chat/weft-chat ]]; then
      WEFT_CHAT="$root/build/test/samples/chat/weft-chat" bash bench/chat/run.sh smoke
    else
      bash bench/chat/run.sh smoke
    fi
  fi
}

case "${1:-}" in
  run)
    configure build/release -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF
    if [[ "${2:-demo}" == "chat" ]]; then
      # The chat server (samples/chat): runs until Ctrl-C; the rest of the
      # arguments are weft-chat's (./build.sh run chat --help).
      cmake --build build/release -j "$jobs" --target weft-chat weft-shell
      shift 2
      exec ./build/release/samples/chat/weft-chat "$@"
    fi
    cmake --build build/release -j "$jobs" --target weft-demo
    ./build/release/samples/demo/weft-demo
    ;;
  test)
    case "${2:-plain}" in
      plain) run_suite plain build/test "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$plain_flags" ;;
      asan)
        ASAN_OPTIONS=detect_leaks=1 run_suite asan build/test-asan -DWEFT_SANITIZE=address -DWEFT_BUILD_BENCH=OFF \
          "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$sanitizer_flags"
        ;;
      tsan)
        run_suite tsan build/test-tsan -DWEFT_SANITIZE=thread -DWEFT_BUILD_BENCH=OFF -DWEFT_BUILD_SAMPLES=OFF \
          "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$sanitizer_flags"
        ;;
      all)
        "$0" test plain
        "$0" test asan
        "$0" test tsan
        ;;
      ci)
        "$0" test plain
        "$0" test asan
        "$0" test tsan
        consumer_check build/test
        bench_smoke
        fuzz_all 30
        echo "== aarch64 cross-compile check"
        bash scripts/cross-check-aarch64.sh
        ;;
      *) echo "unknown test variant '${2}': plain | asan | tsan | all | ci" >&2; exit 2 ;;
    esac
    ;;
  consumer) consumer_check ;;
  fuzz) fuzz_all "${2:-30}" ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
