#!/usr/bin/env bash
# Installs what `npm run bench` compares against, from Debian's packages where missing. The bench
# itself (bench/peers.ts) starts its throwaway peers (sshd with generated keys on its own port, an
# rsync daemon, an HTTP receiver, iperf3) on loopback or its own namespace, and stops them.
# cc and xxhash.h build bench/ref/pfref.c, the C yardstick (bench/ref.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh nc socat time iperf3 rsync sshd curl cc xxhash.h
