package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// BenchmarkEngines compares the engines compiled into this binary (wazero
// always; wasmtime with -tags wasmtime, as bench/run.sh builds) on the same
// run and the same guests:
//
//   - compile-cold: a new engine compiles the Go echo actor (2.7 MB) with
//     an empty cache directory;
//   - compile-cached: a new engine (a new process's view) on a warm cache;
//   - instantiate: one instance of the Go echo actor, start functions
//     included, then its close;
//   - call-tiny-wat: a 16-byte echo through a hand-written guest: the
//     engine's own cost per call, almost no guest code;
//   - call-tiny-go: the same through the Go echo actor;
//   - hostcall-wat: a call whose guest makes one host call (the host
//     echoes 16 bytes): the guest-to-host crossings;
//   - sha256-64KiB, json-64KiB: compute-heavy Go guest code (the probe
//     actor hashing, and decoding, transforming and encoding JSON);
//   - guest-loop: 10⁶ iterations of a three-instruction loop, with the
//     engine's way of stopping runaway guests on (wazero: wisp's counted
//     loop checks; wasmtime: epoch checks); guest-loop-fuel: the same on
//     wasmtime with fuel metering on;
//   - memory-per-instance: resident memory of 20 more instances of the Go
//     echo actor, per instance (the KiB/instance metric).
func BenchmarkEngines(b *testing.B) {
	echo := testwasm.GoActor(b, "actors/echo")
	probe := testwasm.GoActor(b, "internal/testactors/probe")
	guest := testwasm.Wat(b, filepath.Join(testwasm.Root(), "host", "engine", "testdata", "guest.wat"))
	loop := wat(b, loopGuest)
	tiny := []byte("sixteen bytes..!")
	blob := bytes.Repeat([]byte("wisp engine "), 64<<10/12+1)[:64<<10]
	records := jsonRecords(64 << 10)
	ctx := context.Background()

	for _, name := range engine.Available() {
		cfg := engine.Config{Name: name}
		b.Run(name+"/compile-cold", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				compileOnce(b, engine.Config{Name: name, CacheDir: b.TempDir()}, echo)
			}
		})
		b.Run(name+"/compile-cached", func(b *testing.B) {
			dir := b.TempDir()
			compileOnce(b, engine.Config{Name: name, CacheDir: dir}, echo)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				compileOnce(b, engine.Config{Name: name, CacheDir: dir}, echo)
			}
		})
		b.Run(name+"/instantiate", func(b *testing.B) {
			m := compiled(b, cfg, echo)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
				if err != nil {
					b.Fatal(err)
				}
				inst.Close(ctx)
			}
		})
		b.Run(name+"/call-tiny-wat", func(b *testing.B) {
			calls(b, instance(b, cfg, guest).Invoke, "echo", tiny)
		})
		b.Run(name+"/call-tiny-go", func(b *testing.B) {
			calls(b, instance(b, cfg, echo).Invoke, "Echo.Reply", tiny)
		})
		b.Run(name+"/hostcall-wat", func(b *testing.B) {
			calls(b, instance(b, cfg, guest).Invoke, "hostcall", tiny)
		})
		b.Run(name+"/sha256-64KiB", func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			calls(b, instance(b, cfg, probe).Invoke, "Probe.Hash", blob)
		})
		b.Run(name+"/json-64KiB", func(b *testing.B) {
			b.SetBytes(int64(len(records)))
			calls(b, instance(b, cfg, probe).Invoke, "Probe.JSON", records)
		})
		b.Run(name+"/guest-loop", func(b *testing.B) {
			calls(b, instance(b, cfg, loop).Invoke, "", nil)
		})
		if name == "wasmtime" {
			// What optional fuel metering costs the same loop.
			b.Run(name+"/guest-loop-fuel", func(b *testing.B) {
				calls(b, instance(b, engine.Config{Name: name, Fuel: 1 << 40}, loop).Invoke, "", nil)
			})
		}
		b.Run(name+"/memory-per-instance", func(b *testing.B) {
			m := compiled(b, cfg, echo)
			const n = 20
			var perInstance float64
			for i := 0; i < b.N; i++ {
				before := rssKiB(b)
				insts := make([]engine.Instance, n)
				for k := range insts {
					inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
					if err != nil {
						b.Fatal(err)
					}
					// One call, so each instance has touched what serving needs.
					if _, err := inst.Invoke(ctx, "Echo.Reply", tiny); err != nil {
						b.Fatal(err)
					}
					insts[k] = inst
				}
				perInstance += float64(rssKiB(b)-before) / n
				for _, inst := range insts {
					inst.Close(ctx)
				}
			}
			b.ReportMetric(perInstance/float64(b.N), "KiB/instance")
		})
	}
}

// compileOnce compiles wasm on a new engine and closes both.
func compileOnce(b *testing.B, cfg engine.Config, wasm []byte) {
	ctx := context.Background()
	e, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	m, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	m.Close(ctx)
	e.Close(ctx)
}

// compiled compiles wasm on a new engine that lives as long as b.
func compiled(b *testing.B, cfg engine.Config, wasm []byte) engine.Module {
	ctx := context.Background()
	e, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(ctx) })
	m, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(ctx) })
	return m
}

// instance is one instance of wasm whose host calls echo their payload.
func instance(b *testing.B, cfg engine.Config, wasm []byte) engine.Instance {
	ctx := context.Background()
	inst, err := compiled(b, cfg, wasm).Instantiate(ctx, engine.InstanceConfig{
		HostCall: func(_ context.Context, c engine.HostCall) ([]byte, error) { return c.Payload, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { inst.Close(ctx) })
	return inst
}

// jsonRecords is a JSON array of small records, about size bytes.
func jsonRecords(size int) []byte {
	var recs []map[string]any
	for n := 0; ; n++ {
		recs = append(recs, map[string]any{"id": n, "name": fmt.Sprintf("actor-%d", n), "zone": "eu-west", "load": n % 97, "ok": n%2 == 0})
		if n%64 == 0 {
			if b, _ := json.Marshal(recs); len(b) >= size {
				return b
			}
		}
	}
}

// rssKiB is the process's resident memory after a garbage collection that
// returns freed memory to the system.
func rssKiB(b *testing.B) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("memory per instance needs /proc: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
