#!/usr/bin/env bash
# Makes the three peer IRC servers of bench/chat available, from Debian 12
# packages only:
#
#   inspircd      installed with apt-get (/usr/sbin/inspircd)
#   ircd-hybrid   installed with apt-get (/usr/sbin/ircd-hybrid)
#   ngircd        NOT installed: unpacked into build/chat-peers/ngircd/
#
# Why ngircd is unpacked rather than installed: Debian's ngircd and
# ircd-hybrid packages both declare `Provides: ircd` and `Conflicts: ircd`
# (a system is meant to run one IRC daemon on port 6667), so dpkg refuses to
# have both installed. The benchmark needs both binaries, not both services,
# so ngircd's .deb is fetched with `apt-get download` (into
# build/chat-peers/cache/) and unpacked with `dpkg-deb -x` into
# build/chat-peers/ngircd/; run.sh starts build/chat-peers/ngircd/usr/sbin/ngircd
# from there with its own config. Its shared libraries come from ordinary
# packages that are installed if missing (checked with ldd).
#
#   bench/chat/install-peers.sh [--check]
#
# Idempotent: apt-get runs only for what is missing; --check installs
# nothing and exits 1 if anything is missing. Prints the three binaries'
# paths on success. Run as root (apt-get); the servers themselves run as
# root in the benchmark (see peers/*/ and run.sh for how each is told so).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
peers="${CHAT_PEERS_DIR:-$root/build/chat-peers}"
check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) echo "install-peers.sh: unknown argument '$1' (only --check)" >&2; exit 2 ;;
esac

say() { echo "install-peers.sh: $*" >&2; }
die() { say "$*"; exit 1; }

missing=0
apt_updated=0
apt_install() {
  if ((check_only)); then
    say "missing: $* (run without --check to install)"
    missing=1
    return 0
  fi
  if ((!apt_updated)); then
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 ||
    die "apt-get install $* failed"
}

# -- InspIRCd and ircd-hybrid: ordinary packages ----------------------------------------

for pkg in inspircd ircd-hybrid; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    apt_install "$pkg"
  fi
done
# The packages' own services are not wanted (there is no init system here to
# start them anyway); run.sh starts fresh processes with bench configs.

# -- ngircd: unpacked, not installed ----------------------------------------------------

ngircd="$peers/ngircd/usr/sbin/ngircd"
if [[ ! -x "$ngircd" ]]; then
  if ((check_only)); then
    say "missing: $ngircd (run without --check to unpack it)"
    missing=1
  else
    mkdir -p "$peers/cache"
    if ! compgen -G "$peers/cache/ngircd_*.deb" >/dev/null; then
      say "downloading ngircd's .deb into $peers/cache (not installing it: it conflicts with ircd-hybrid)"
      (cd "$peers/cache" && apt-get download ngircd >&2) ||
        { apt-get update -qq >&2 && apt_updated=1 && (cd "$peers/cache" && apt-get download ngircd >&2); } ||
        die "apt-get download ngircd failed"
    fi
    deb="$(ls -t "$peers/cache"/ngircd_*.deb | head -1)"
    rm -rf "$peers/ngircd.tmp"
    dpkg-deb -x "$deb" "$peers/ngircd.tmp" || die "dpkg-deb -x $deb failed"
    rm -rf "$peers/ngircd"
    mv "$peers/ngircd.tmp" "$peers/ngircd"
    say "unpacked $(basename "$deb") into $peers/ngircd"
  fi
fi

# ngircd's shared libraries: each one ldd cannot find is mapped to the
# package that ships it (bookworm names), and those are installed.
if [[ -x "$ngircd" ]]; then
  declare -A lib_package=(
    [libgnutls.so.30]=libgnutls30 [libident.so.0]=libident [libwrap.so.0]=libwrap0
    [libz.so.1]=zlib1g [libpam.so.0]=libpam0g [libcrypt.so.1]=libcrypt1
    [libnettle.so.8]=libnettle8 [libhogweed.so.6]=libhogweed6 [libidn2.so.0]=libidn2-0
    [libunistring.so.2]=libunistring2 [libtasn1.so.6]=libtasn1-6 [libp11-kit.so.0]=libp11-kit0
    [libgmp.so.10]=libgmp10 [libnsl.so.2]=libnsl2 [libtirpc.so.3]=libtirpc3
  )
  wanted=()
  while read -r lib; do
    [[ -n "$lib" ]] || continue
    pkg="${lib_package[$lib]:-}"
    [[ -n "$pkg" ]] || die "ngircd needs $lib, which this script does not know the package of (apt-file search $lib)"
    wanted+=("$pkg")
  done < <(ldd "$ngircd" | awk '/not found/ { print $1 }')
  if ((${#wanted[@]})); then
    apt_install "${wanted[@]}"
    if ((!check_only)) && ldd "$ngircd" | grep -q 'not found'; then
      die "ngircd still misses libraries after installing ${wanted[*]}: $(ldd "$ngircd" | grep 'not found' | tr -d '\t' | tr '\n' ' ')"
    fi
  fi
fi

((missing)) && exit 1
for bin in /usr/sbin/inspircd /usr/sbin/ircd-hybrid "$ngircd"; do
  [[ -x "$bin" ]] || die "$bin: not an executable"
done
echo "inspircd=/usr/sbin/inspircd"
echo "ircd-hybrid=/usr/sbin/ircd-hybrid"
echo "ngircd=$ngircd"
