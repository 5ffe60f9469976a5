#!/usr/bin/env bash
# The growth curve of a lattice of many hosts that the README's
# performance section reports: 10, 100 and 1,000 hosts (100 per process,
# each with its own NATS connection and reconciler) on a 3-server NATS
# cluster, an application of INSTANCES instances of the smallest waPC
# actor (bench/latticescale/echo.wat, wat2wasm from Debian's wabt).
#
#   bash bench/latticescale.sh              # 10, 100, 1000 hosts, 2000 instances
#   HOSTS=10,100 INSTANCES=500 bash bench/latticescale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-10,100,1000}
INSTANCES=${INSTANCES:-2000}
mkdir -p bench/results
bin=$(mktemp -d)/latticescale
go build -o "$bin" ./bench/latticescale
out=bench/results/latticescale-$(date +%Y%m%d-%H%M%S).txt
"$bin" -cluster -hosts "$HOSTS" -instances "$INSTANCES" -idle 30s "$@" 2>&1 | tee "$out"
