// Package bench measures wisp against the baselines it must stay close to:
// a raw nats.go responder and a raw wazero call of the same guest. Run it
// with bench/run.sh, which also prints latency percentiles, memory and the
// ratios.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

var payload1K = bytes.Repeat([]byte("w"), 1024)

// rawWaPC is the leanest waPC host wazero allows: host functions read the
// one call's state from a struct, no timeout, no pool. It is the baseline
// for wisp's engine.
type rawWaPC struct {
	op, payload, resp []byte
}

func (r *rawWaPC) instantiate(b *testing.B, rc wazero.RuntimeConfig, wasm []byte) (api.Module, wazero.Runtime) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	i32 := api.ValueTypeI32
	for _, name := range []string{"wapc", "wasmbus"} {
		hb := rt.NewHostModuleBuilder(name)
		def := func(n string, f api.GoModuleFunc, params, results []api.ValueType) {
			hb.NewFunctionBuilder().WithGoModuleFunction(f, params, results).Export(n)
		}
		def("__guest_request", func(_ context.Context, m api.Module, s []uint64) {
			m.Memory().Write(uint32(s[0]), r.op)
			m.Memory().Write(uint32(s[1]), r.payload)
		}, []api.ValueType{i32, i32}, nil)
		def("__guest_response", func(_ context.Context, m api.Module, s []uint64) {
			r.resp, _ = m.Memory().Read(uint32(s[0]), uint32(s[1]))
		}, []api.ValueType{i32, i32}, nil)
		noop2 := func(context.Context, api.Module, []uint64) {}
		def("__guest_error", noop2, []api.ValueType{i32, i32}, nil)
		def("__console_log", noop2, []api.ValueType{i32, i32}, nil)
		def("__host_call", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 },
			[]api.ValueType{i32, i32, i32, i32, i32, i32, i32, i32}, []api.ValueType{i32})
		def("__host_response_len", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }, nil, []api.ValueType{i32})
		def("__host_error_len", func(_ context.Context, _ api.Module, s []uint64) { s[0] = 0 }, nil, []api.ValueType{i32})
		def("__host_response", noop2, []api.ValueType{i32}, nil)
		def("__host_error", noop2, []api.ValueType{i32}, nil)
		if _, err := hb.Instantiate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// The same system clocks as wisp gives guests: the Go runtime paces its
	// garbage collector by them.
	mc := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithName("").
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
	mod, err := rt.InstantiateWithConfig(ctx, wasm, mc)
	if err != nil {
		b.Fatal(err)
	}
	return mod, rt
}

// rawCalls benchmarks calls of operation on wasm through rawWaPC on a
// runtime configured by rc; perCallTimeout gives each call a context with a
// timeout, as wazero's CloseOnContextDone needs.
func rawCalls(b *testing.B, rc wazero.RuntimeConfig, wasm []byte, operation string, payload []byte, perCallTimeout bool) {
	ctx := context.Background()
	r := &rawWaPC{op: []byte(operation), payload: payload}
	mod, rt := r.instantiate(b, rc, wasm)
	defer rt.Close(ctx)
	gc := mod.ExportedFunction("__guest_call")
	stack := make([]uint64, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if perCallTimeout {
			cctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		}
		stack[0], stack[1] = uint64(len(r.op)), uint64(len(r.payload))
		if err := gc.CallWithStack(cctx, stack); err != nil || stack[0] != 1 {
			b.Fatal(err)
		}
		cancel()
		_ = append([]byte(nil), r.resp...) // the copy wisp makes too
	}
}

// calls benchmarks one invocation function.
func calls(b *testing.B, invoke func(context.Context, string, []byte) ([]byte, error), operation string, payload []byte) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := invoke(ctx, operation, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvoke compares one echo call of 1 KiB: a raw wazero call, wisp's
// engine (with its timeout mechanism) and an actor (pool, limits) in-host.
func BenchmarkInvoke(b *testing.B) {
	wasm := testwasm.GoActor(b, "actors/echo")
	b.Run("raw-wazero", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig(), wasm, "Echo.Reply", payload1K, false)
	})
	b.Run("wisp-engine", func(b *testing.B) {
		calls(b, wispInstance(b, wasm).Invoke, "Echo.Reply", payload1K)
	})
	b.Run("wisp-actor", func(b *testing.B) {
		calls(b, newEnv(b).start(b, "echo", wasm, 1).Invoke, "Echo.Reply", payload1K)
	})
}

// BenchmarkTimeoutMechanism compares what a call timeout costs per call of
// the echo guest: none at all, wazero's documented way (a context with a
// timeout per call on a runtime with CloseOnContextDone), and wisp's (the
// engine's watchdog and the instrumented guest's counted loop checks).
func BenchmarkTimeoutMechanism(b *testing.B) {
	wasm := testwasm.GoActor(b, "actors/echo")
	b.Run("none", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig(), wasm, "Echo.Reply", payload1K, false)
	})
	b.Run("wazero-context-timeout", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(true), wasm, "Echo.Reply", payload1K, true)
	})
	b.Run("wisp-watchdog", func(b *testing.B) {
		calls(b, wispInstance(b, wasm).Invoke, "Echo.Reply", payload1K)
	})
}

// loopGuest is a waPC guest whose every call sums 0..999999 in a tight
// loop: the guest code that termination checks slow down the most.
const loopGuest = `(module
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (local $i i32) (local $acc i64)
    (loop $l
      (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))
    (i64.store (i32.const 0) (local.get $acc))
    (call $resp (i32.const 0) (i32.const 8))
    (i32.const 1)))`

// BenchmarkGuestLoop measures what stopping runaway guests costs guest
// code: the loop guest with no termination checks, with wazero's
// CloseOnContextDone (a call out of the guest per iteration), and with
// wisp's counted loop checks (a register increment and compare per
// iteration, a call out every 16384).
func BenchmarkGuestLoop(b *testing.B) {
	wasm := wat(b, loopGuest)
	b.Run("no-checks", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig(), wasm, "", nil, false)
	})
	b.Run("wazero-close-on-context-done", func(b *testing.B) {
		rawCalls(b, wazero.NewRuntimeConfig().WithCloseOnContextDone(true), wasm, "", nil, true)
	})
	b.Run("wisp-loop-checks", func(b *testing.B) {
		calls(b, wispInstance(b, wasm).Invoke, "", nil)
	})
}

// BenchmarkCompile measures compiling the Go echo actor without a cache and
// from wisp's file cache, and starting one instance of it.
func BenchmarkCompile(b *testing.B) {
	wasm := testwasm.GoActor(b, "actors/echo")
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			e, _ := engine.New(engine.Config{CacheDir: b.TempDir()})
			m, err := e.Compile(ctx, wasm, engine.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			m.Close(ctx)
			e.Close(ctx)
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		warm, _ := engine.New(engine.Config{CacheDir: dir})
		m, _ := warm.Compile(ctx, wasm, engine.Limits{})
		m.Close(ctx)
		warm.Close(ctx)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e, _ := engine.New(engine.Config{CacheDir: dir}) // a new process's view
			m, err := e.Compile(ctx, wasm, engine.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			m.Close(ctx)
			e.Close(ctx)
		}
	})
	b.Run("again-while-running", func(b *testing.B) {
		// A second start of a module the engine holds: a restart, another
		// actor of the same module, scaling from zero.
		e, _ := engine.New(engine.Config{})
		defer e.Close(ctx)
		held, err := e.Compile(ctx, wasm, engine.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		defer held.Close(ctx)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m, err := e.Compile(ctx, wasm, engine.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			m.Close(ctx)
		}
	})
	b.Run("instantiate", func(b *testing.B) {
		e, _ := engine.New(engine.Config{})
		defer e.Close(ctx)
		m, err := e.Compile(ctx, wasm, engine.Limits{})
		if err != nil {
			b.Fatal(err)
		}
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
}

// BenchmarkRequestReply compares a 1 KiB request/reply over TCP through the
// embedded server: a raw nats.go responder against the echo actor (4
// instances), with one caller and with 64 concurrent callers.
func BenchmarkRequestReply(b *testing.B) {
	env := newEnv(b)
	env.start(b, "echo", testwasm.GoActor(b, "actors/echo"), 4)
	responder, err := nats.Connect(env.srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer responder.Close()
	responder.Subscribe("raw.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	responder.Flush()
	caller, err := nats.Connect(env.srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer caller.Close()
	raw := func() error {
		_, err := caller.Request("raw.echo", payload1K, 5*time.Second)
		return err
	}
	actor := func() error {
		m := &nats.Msg{Subject: "wisp.rpc.default.echo", Data: payload1K, Header: nats.Header{"Wisp-Operation": []string{"Echo.Reply"}}}
		_, err := caller.RequestMsg(m, 5*time.Second)
		return err
	}
	for _, c := range []struct {
		name string
		call func() error
	}{{"raw-nats", raw}, {"wisp-actor", actor}} {
		b.Run(c.name+"/1-caller", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := c.call(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/64-callers", func(b *testing.B) {
			b.SetParallelism(32) // x GOMAXPROCS (2) = 64 goroutines
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// wispInstance compiles wasm on wisp's default engine and instantiates it.
func wispInstance(b *testing.B, wasm []byte) engine.Instance {
	ctx := context.Background()
	e, err := engine.New(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close(ctx) })
	m, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
	if err != nil {
		b.Fatal(err)
	}
	return inst
}

type benchEnv struct {
	srv  *natsserver.Server
	host *host.Host
}

func newEnv(b *testing.B, opts ...host.Option) *benchEnv {
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	// Unsigned: the benchmarks measure calls; wispbench measures a start
	// with claims.
	h, err := host.New(ctx, nc, append([]host.Option{host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir())}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Stop(context.Background()) })
	return &benchEnv{srv: srv, host: h}
}

func (e *benchEnv) start(b *testing.B, name string, wasm []byte, count int) *host.Actor {
	p := filepath.Join(b.TempDir(), name+".wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		b.Fatal(err)
	}
	a, err := e.host.StartActor(context.Background(), lattice.StartActorRequest{Ref: p, Count: count})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// wat assembles src with wat2wasm.
func wat(b *testing.B, src string) []byte {
	p := filepath.Join(b.TempDir(), "src.wat")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	return testwasm.Wat(b, p)
}
