#!/usr/bin/env bash
# Erlang/OTP peer of weft-bench, with the SPEC invocation:
#   bench/peers/erlang/run.sh <workload> [key=value ...] [workers=N]
# workers=N becomes `+S N:N` (N scheduler threads, all online); the default
# is the number of hardware threads, as for weft-bench. The modules are
# compiled on first use into $WEFT_ERLANG_PEER_BUILD (default: _build here).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${WEFT_ERLANG_PEER_BUILD:-$here/_build}"

workers="$(nproc)"
args=()
for arg in "$@"; do
  case "$arg" in
    workers=*) workers="${arg#workers=}" ;;
    *) args+=("$arg") ;;
  esac
done

mkdir -p "$build"
for src in "$here"/*.erl; do
  beam="$build/$(basename "${src%.erl}").beam"
  if [[ ! -f "$beam" || "$src" -nt "$beam" ]]; then
    erlc -o "$build" "$src" >&2
  fi
done

# +P: idle spawns 1,000,000 processes that are all alive at once; the
# default process limit (262,144) would refuse them.
exec erl -noshell -noinput +S "$workers:$workers" +P 4000000 \
  -pa "$build" -run weft_peer_bench main "${args[@]}"
