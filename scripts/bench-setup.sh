#!/usr/bin/env bash
# Installs what `npm run bench` compares against, from Debian's packages where missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-tools.sh nc socat time iperf3 rsync sshd curl
