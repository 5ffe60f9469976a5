#!/usr/bin/env bash
# wisp's benchmarks, each against a baseline measured in the same run:
#   1. a real `wisp up` process: echo over the lattice vs a raw nats.go
#      responder (p50, p99, throughput), start times, RSS (bench/wispbench),
#      and the same echo open, with JWT auth, and with auth and TLS
#      (bench/wispbench -auth);
#   2. Go benchmarks: in-host invocation vs a raw wazero call of the same
#      guest, timeout mechanisms, guest loop cost, compile and instantiate,
#      and wazero against wasmtime (BenchmarkEngines; built with -tags
#      wasmtime when cgo works, BENCH_TAGS= to leave it out).
# Usage: bash bench/run.sh [count]     (count: Go benchmark repetitions, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
out=${BENCH_OUT:-bench/results}
mkdir -p "$out"

echo "== wisp up vs raw NATS (separate processes)"
go run ./bench/wispbench | tee "$out/wispbench.txt"

echo
echo "== what authentication and TLS cost a call (open vs JWT auth vs JWT auth + TLS, 3 reps)"
go run ./bench/wispbench -auth | tee "$out/authcost.txt"

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
