#!/usr/bin/env bash
# Compiles the runtime's sources for aarch64 (Debian's cross compiler,
# g++-aarch64-linux-gnu) to catch code that only builds on x86: spin-loop
# hints, intrinsics, assembly, assumptions about type sizes. It compiles
# and does not link or run (that would need an aarch64 Boost.Context and a
# machine or emulator): Boost.Context's and fmt's headers are the same for
# every architecture, so the host's are used.
#
#   scripts/cross-check-aarch64.sh      (./build.sh test ci runs it)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cxx=aarch64-linux-gnu-g++
if ! command -v "$cxx" >/dev/null; then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends g++-aarch64-linux-gnu >&2
fi
out="$root/build/cross-aarch64"
mkdir -p "$out"
# The host's headers come after the cross compiler's own, for the
# architecture-independent libraries only (boost, fmt, nlohmann).
flags=(-std=c++20 -O1 -Wall -Wextra -Werror=unused-result -c -fPIC
       -I"$root/runtime/include" -I"$root/runtime/src" -I"$root/runtime/internal"
       -I"$root/supervisor/include" -I"$root/persistence/include" -I"$root/persistence/src"
       -I"$root/actors/include" -I"$root/actors/src"
       -idirafter /usr/include)
sources=("$root"/runtime/src/*.cpp "$root"/supervisor/src/*.cpp "$root"/persistence/src/crc32c.cpp
         "$root"/persistence/src/record_format.cpp "$root"/actors/src/*.cpp)
# An object's name: its module and file (runtime/src/registry.cpp and
# actors/src/registry.cpp are two objects).
object_name() { local rel=${1#"$root"/}; echo "${rel%%/*}-$(basename "$1" .cpp)"; }
compile() {  # compile <source>: its log in $out/<name>.log, its status in $out/<name>.status
  local name
  name=$(object_name "$1")
  if "$cxx" "${flags[@]}" "$1" -o "$out/$name.o" >"$out/$name.log" 2>&1; then
    echo 0 >"$out/$name.status"
  else
    echo 1 >"$out/$name.status"
  fi
}
export -f compile object_name
export root
export cxx out
export flags_text="${flags[*]}"
rm -f "$out"/*.o "$out"/*.status
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} bash -c 'flags=($flags_text); compile "$1"' _ {}
status=0
for source in "${sources[@]}"; do
  name=$(object_name "$source")
  if [[ "$(cat "$out/$name.status" 2>/dev/null)" != 0 ]]; then
    echo "aarch64: $source does not compile:" >&2
    cat "$out/$name.log" >&2
    status=1
  fi
done
# The objects must really be aarch64 code.
if command -v file >/dev/null && file "$out"/*.o | grep -v -q "ARM aarch64"; then
  echo "aarch64: an object is not aarch64 code" >&2
  status=1
fi
echo "aarch64 cross-compile: ${#sources[@]} sources, $([[ $status -eq 0 ]] && echo ok || echo FAILED)"
exit $status
