#!/usr/bin/env bash
# Makes sure the system tools named as arguments are on PATH, installing their Debian packages
# where they are missing (root and apt-get needed); otherwise says exactly what to run.
# Usage: scripts/ensure-tools.sh nc socat nats-server ...
# (xxhash.h is a header, not a command: libxxhash-dev, for the bench's C yardstick.)
set -euo pipefail

declare -A PKG=(
  [nc]=netcat-openbsd [socat]=socat [nats-server]=nats-server [iperf3]=iperf3 [rsync]=rsync
  [sshd]=openssh-server [ssh]=openssh-client [curl]=curl [time]=time [strace]=strace [perf]=linux-perf
  [cc]=gcc [xxhash.h]=libxxhash-dev [prometheus]=prometheus
)
# Tools that live in sbin or under another name.
path_of() {
  case "$1" in
    time) [ -x /usr/bin/time ] && echo /usr/bin/time ;;
    xxhash.h) [ -f /usr/include/xxhash.h ] && echo /usr/include/xxhash.h ;;
    sshd) command -v sshd || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; } ;;
    nats-server) command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; } ;;
    *) command -v "$1" ;;
  esac
}

missing=()
for tool in "$@"; do
  [ -n "${PKG[$tool]:-}" ] || { echo "ensure-tools: unknown tool '$tool'" >&2; exit 2; }
  path_of "$tool" >/dev/null || missing+=("${PKG[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-tools: installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installing openssh-server may start a system sshd; the bench starts its own on its own port.
  exit 0
fi
echo "ensure-tools: missing ${missing[*]}. Install with:  sudo apt-get install ${missing[*]}" >&2
exit 1
