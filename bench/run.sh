#!/usr/bin/env bash
# wisp's benchmarks, each against a baseline measured in the same run:
#   1. bench/wispbench, every party its own process over TCP to one NATS
#      server (bench/natsd, JWT auth as a lattice has by default):
#      echo    the echo actor in a `wisp up --nats-url` host vs a raw nats.go
#              responder, 1/8/64/256 callers × 16 B/1 KiB/64 KiB, p50, p99,
#              throughput, 3 reps with min–max, ratios wisp/raw;
#      http    httpserver provider → hello-http (a Go guest) vs plain
#              net/http doing its work, and → fixed_http.wat (a guest that
#              costs next to nothing) vs net/http answering the same bytes,
#              32 and 256 connections, the load generator a process of its own;
#      start   `wisp start actor` to the first answered call (cold, cached);
#      mem     a `wisp up` process with its embedded server: start, RSS;
#      auth    what JWT auth and TLS cost a call (bench/wispbench -auth);
#   2. go      Go benchmarks: in-host invocation vs a raw wazero call of the
#      same guest, timeout mechanisms, guest loop cost, 1 and 16 MiB echo
#      in chunks vs a raw JetStream object store responder, compile and
#      instantiate, density with and without snapshots (BenchmarkDensity),
#      and wazero against wasmtime (BenchmarkEngines; built
#      with -tags wasmtime when cgo works, BENCH_TAGS= to leave it out).
# Usage: bash bench/run.sh [-q] [-s SECTIONS] [count]
#   -s echo,http    run only these sections (default: all of the above)
#   -q              quick: 1 rep of 1 s, 1 and 64 callers, 1 KiB, 32 conns
#   count           Go benchmark repetitions (default 5)
#   WISPBENCH_FLAGS more wispbench flags (see go run ./bench/wispbench -h)
set -euo pipefail
cd "$(dirname "$0")/.."
sections=echo,http,start,mem,auth,go
quick=()
while getopts qs: opt; do
  case $opt in
    q) quick=(-reps 1 -duration 1s -callers 1,64 -sizes 1024 -http-conns 32) ;;
    s) sections=$OPTARG ;;
    *) echo "usage: bash bench/run.sh [-q] [-s SECTIONS] [count]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
count=${1:-5}
out=${BENCH_OUT:-bench/results}
mkdir -p "$out"
has() { [[ ",$sections," == *",$1,"* ]]; }

wb=()
for s in echo http start mem; do has $s && wb+=("$s"); done
if ((${#wb[@]})); then
  echo "== wisp vs raw, every party its own process over TCP to one NATS server"
  uptime
  # shellcheck disable=SC2086
  go run ./bench/wispbench -sections "$(IFS=,; echo "${wb[*]}")" "${quick[@]}" ${WISPBENCH_FLAGS:-} | tee "$out/wispbench.txt"
fi

if has auth; then
  echo
  echo "== what authentication and TLS cost a call (open vs JWT auth vs JWT auth + TLS, 3 reps)"
  go run ./bench/wispbench -auth | tee "$out/authcost.txt"
fi

has go || exit 0
echo
tags=${BENCH_TAGS-wasmtime}
echo "== Go benchmarks (count=$count, tags=$tags)"
go test -tags "$tags" -run '^$' -bench . -benchmem -count "$count" -timeout 60m ./bench/ | tee "$out/go-bench.txt"

if command -v benchstat >/dev/null || [ -x "$(go env GOPATH)/bin/benchstat" ]; then
  echo
  echo "== benchstat"
  PATH="$PATH:$(go env GOPATH)/bin" benchstat "$out/go-bench.txt" || true
fi

echo
echo "== ratios (mean ns/op, wisp / baseline)"
awk '
  /^Benchmark/ { name=$1; sub(/-[0-9]+$/, "", name); sum[name]+=$3; n[name]++ }
  END {
    split("BenchmarkInvoke/wisp-actor BenchmarkInvoke/raw-wazero " \
          "BenchmarkInvoke/wisp-engine BenchmarkInvoke/raw-wazero " \
          "BenchmarkTimeoutMechanism/wisp-watchdog BenchmarkTimeoutMechanism/none " \
          "BenchmarkTimeoutMechanism/wazero-context-timeout BenchmarkTimeoutMechanism/none " \
          "BenchmarkGuestLoop/wisp-loop-checks BenchmarkGuestLoop/no-checks " \
          "BenchmarkGuestLoop/wazero-close-on-context-done BenchmarkGuestLoop/no-checks " \
          "BenchmarkRequestReply/wisp-actor/1-caller BenchmarkRequestReply/raw-nats/1-caller " \
          "BenchmarkRequestReply/wisp-actor/64-callers BenchmarkRequestReply/raw-nats/64-callers " \
          "BenchmarkCompile/cached BenchmarkCompile/cold " \
          "BenchmarkScaleToZero/wake-from-zero BenchmarkScaleToZero/warm " \
          "BenchmarkHTTP/wisp-actor BenchmarkHTTP/net-http " \
          "BenchmarkKeyValueIncrement/wisp-provider BenchmarkKeyValueIncrement/raw-jetstream " \
          "BenchmarkMQTTPublish/wisp-provider BenchmarkMQTTPublish/raw-paho " \
          "BenchmarkMQTTRelay/wisp-relay BenchmarkMQTTRelay/raw-paho " \
          "BenchmarkLargePayload/wisp-chunked/1MiB BenchmarkLargePayload/raw-objectstore/1MiB " \
          "BenchmarkLargePayload/wisp-chunked/16MiB BenchmarkLargePayload/raw-objectstore/16MiB " \
          "BenchmarkEngines/wasmtime/compile-cold BenchmarkEngines/wazero/compile-cold " \
          "BenchmarkEngines/wasmtime/compile-cached BenchmarkEngines/wazero/compile-cached " \
          "BenchmarkEngines/wasmtime/instantiate BenchmarkEngines/wazero/instantiate " \
          "BenchmarkEngines/wasmtime/call-tiny-wat BenchmarkEngines/wazero/call-tiny-wat " \
          "BenchmarkEngines/wasmtime/call-tiny-go BenchmarkEngines/wazero/call-tiny-go " \
          "BenchmarkEngines/wasmtime/hostcall-wat BenchmarkEngines/wazero/hostcall-wat " \
          "BenchmarkEngines/wasmtime/sha256-64KiB BenchmarkEngines/wazero/sha256-64KiB " \
          "BenchmarkEngines/wasmtime/json-64KiB BenchmarkEngines/wazero/json-64KiB " \
          "BenchmarkEngines/wasmtime/guest-loop BenchmarkEngines/wazero/guest-loop " \
          "BenchmarkEngines/wasmtime/guest-loop-fuel BenchmarkEngines/wasmtime/guest-loop", p, " ")
    for (i = 1; i < length(p); i += 2) {
      a = p[i]; b = p[i+1]
      if (n[a] && n[b]) printf "%-50s %10.0f ns  vs %-40s %10.0f ns  = %.2fx\n", a, sum[a]/n[a], b, sum[b]/n[b], (sum[a]/n[a])/(sum[b]/n[b])
    }
  }' "$out/go-bench.txt" | tee "$out/ratios.txt"
