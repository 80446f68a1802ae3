#!/usr/bin/env bash
# Installs the Debian 12 packages weft needs, calling apt-get only when
# something is missing. Safe to run any number of times.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also the peers the benchmarks compare
#                                      against (CAF, Erlang/OTP, gnuplot; the
#                                      IRC servers of bench/chat come from
#                                      bench/chat/install-peers.sh)
set -euo pipefail

packages=(
  g++ clang libclang-rt-14-dev cmake ninja-build pkg-config
  libboost-context-dev libboost-dev libfmt-dev doctest-dev
  libsqlite3-dev libedit-dev nlohmann-json3-dev tmux python3
  g++-aarch64-linux-gnu
  # samples/chat's tests: real IRC clients in tmux, and a real browser
  # (headless Chromium driven through chromedriver by Debian's Selenium)
  irssi weechat-curses chromium chromium-driver python3-selenium
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(libcaf-dev erlang-nox gnuplot-nox)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
