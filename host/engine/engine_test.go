package engine_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// modes is the engine table the behaviour tests run against: wazero in each
// of its modes, then every other engine compiled into the test binary in its
// default mode (go test -tags wasmtime adds wasmtime), so one suite checks
// that the engines behave alike.
func modes() []engine.Config {
	cfgs := []engine.Config{{Name: "wazero", Mode: "interpreter"}}
	if engine.CompilerSupported() {
		cfgs = append(cfgs, engine.Config{Name: "wazero", Mode: "compiler"})
	}
	return append(cfgs, otherEngines()...)
}

// engines is one config per engine compiled in, each in its default mode,
// for the tests whose outcome does not depend on wazero's mode.
func engines() []engine.Config {
	return append([]engine.Config{{Name: "wazero"}}, otherEngines()...)
}

func otherEngines() []engine.Config {
	var cfgs []engine.Config
	for _, name := range engine.Available() {
		if name != "wazero" {
			cfgs = append(cfgs, engine.Config{Name: name})
		}
	}
	return cfgs
}

// cfgName names a subtest after its engine and mode.
func cfgName(c engine.Config) string {
	if c.Mode == "" {
		return c.Name
	}
	return c.Name + "-" + c.Mode
}

func newEngine(t testing.TB, cfg engine.Config) engine.Engine {
	t.Helper()
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// echoHost answers the guests' ("testing", "echo") host call, as wapc-go's
// tests do, and refuses everything else.
func echoHost(_ context.Context, c engine.HostCall) ([]byte, error) {
	if c.Namespace == "testing" && c.Operation == "echo" {
		return append([]byte(nil), c.Payload...), nil
	}
	return nil, errors.New("no such host operation: " + c.Namespace + "." + c.Operation)
}

func instantiate(t testing.TB, e engine.Engine, wasm []byte, lim engine.Limits, cfg engine.InstanceConfig) engine.Instance {
	t.Helper()
	ctx := context.Background()
	m, err := e.Compile(ctx, wasm, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	if cfg.HostCall == nil {
		cfg.HostCall = echoHost
	}
	i, err := m.Instantiate(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close(ctx) })
	return i
}

func TestEngineRefusesBadModules(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			ctx := context.Background()
			noGuestCall := testwasm.Wat(t, "testdata/no_guest_call.wat")
			foreignImport := testwasm.Wat(t, "testdata/foreign_import.wat")
			cases := []struct {
				name string
				wasm []byte
				want error
				msg  string
			}{
				{"text file", []byte("hello, I am not wasm"), engine.ErrNotWasm, ""},
				{"empty", nil, engine.ErrNotWasm, ""},
				{"component version", []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, engine.ErrNotWasm, "component"},
				{"truncated", testwasm.Wat(t, "testdata/guest.wat")[:40], nil, "compile"},
				{"missing __guest_call", noGuestCall, engine.ErrNotWaPC, "__guest_call"},
				{"unknown import", foreignImport, engine.ErrNotWaPC, "env.abort"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					_, err := e.Compile(ctx, c.wasm, engine.Limits{})
					if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
						t.Fatalf("Compile = %v, want %v", err, c.want)
					}
					if !strings.Contains(err.Error(), c.msg) {
						t.Fatalf("error %q does not say %q", err, c.msg)
					}
				})
			}
		})
	}
}

func TestWatGuestBehaviours(t *testing.T) {
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			ctx := context.Background()
			var logged []string
			i := instantiate(t, e, wasm, engine.Limits{CallTimeout: 300 * time.Millisecond, MaxMemoryPages: 100},
				engine.InstanceConfig{Name: "wat", ConsoleLog: func(m string) { logged = append(logged, m) }})

			out, err := i.Invoke(ctx, "echo", []byte("hello"))
			if err != nil || string(out) != "hello" {
				t.Fatalf("echo = %q, %v", out, err)
			}
			out, err = i.Invoke(ctx, "hostcall", []byte("via host"))
			if err != nil || string(out) != "via host" {
				t.Fatalf("host call = %q, %v", out, err)
			}
			var ge *engine.GuestError
			if _, err = i.Invoke(ctx, "fail", nil); !errors.As(err, &ge) || ge.Message != "planned failure" {
				t.Fatalf("fail = %v, want guest error 'planned failure'", err)
			}
			if _, err = i.Invoke(ctx, "zzz-unknown", nil); !errors.As(err, &ge) || ge.Message != "zzz-unknown" {
				t.Fatalf("unknown op = %v", err)
			}
			if _, err = i.Invoke(ctx, "console", []byte("a log line")); err != nil || len(logged) != 1 || logged[0] != "a log line" {
				t.Fatalf("console = %v, logged %q", err, logged)
			}
			// A guest error leaves the instance usable.
			if out, err = i.Invoke(ctx, "echo", []byte("still here")); err != nil || string(out) != "still here" {
				t.Fatalf("echo after guest error = %q, %v", out, err)
			}
		})
	}
}

func TestHostCallErrorReachesGuest(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			var got engine.HostCall
			i := instantiate(t, e, testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{}, engine.InstanceConfig{
				HostCall: func(_ context.Context, c engine.HostCall) ([]byte, error) {
					got = c
					got.Payload = append([]byte(nil), c.Payload...)
					return nil, errors.New("link not found")
				},
			})
			_, err := i.Invoke(context.Background(), "hostcall", []byte("p"))
			var ge *engine.GuestError
			if !errors.As(err, &ge) || ge.Message != "link not found" {
				t.Fatalf("Invoke = %v, want the host's error as guest error", err)
			}
			want := engine.HostCall{Binding: "default", Namespace: "testing", Operation: "echo", Payload: []byte("p")}
			if got.Binding != want.Binding || got.Namespace != want.Namespace || got.Operation != want.Operation || !bytes.Equal(got.Payload, want.Payload) {
				t.Fatalf("host saw %+v, want %+v", got, want)
			}
		})
	}
}

func TestGuestTrapIsReported(t *testing.T) {
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{}, engine.InstanceConfig{})
			_, err := i.Invoke(context.Background(), "trap", nil)
			if !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("trap = %v, want ErrTrap naming unreachable", err)
			}
		})
	}
}

func TestInfiniteLoopStoppedAtTimeout(t *testing.T) {
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), testwasm.Wat(t, "testdata/guest.wat"),
				engine.Limits{CallTimeout: 100 * time.Millisecond}, engine.InstanceConfig{})
			_, err := i.Invoke(context.Background(), "loop", nil)
			if !errors.Is(err, engine.ErrTimeout) {
				t.Fatalf("loop = %v, want ErrTimeout", err)
			}
		})
	}
}

func TestContextDeadlineShortensTimeout(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), testwasm.Wat(t, "testdata/guest.wat"),
				engine.Limits{CallTimeout: time.Hour}, engine.InstanceConfig{})
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := i.Invoke(ctx, "loop", nil); !errors.Is(err, engine.ErrTimeout) {
				t.Fatalf("loop = %v, want ErrTimeout from the context's deadline", err)
			}
		})
	}
}

func TestMemoryGrowthPastLimitTraps(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			wasm := testwasm.Wat(t, "testdata/guest.wat")
			e := newEngine(t, cfg)
			small := instantiate(t, e, wasm, engine.Limits{MaxMemoryPages: 100}, engine.InstanceConfig{})
			if _, err := small.Invoke(context.Background(), "grow", nil); !errors.Is(err, engine.ErrTrap) {
				t.Fatalf("grow past 100 pages = %v, want ErrTrap", err)
			}
			big := instantiate(t, e, wasm, engine.Limits{MaxMemoryPages: 2000}, engine.InstanceConfig{})
			if _, err := big.Invoke(context.Background(), "grow", nil); err != nil {
				t.Fatalf("grow within 2000 pages = %v", err)
			}
		})
	}
}

func TestModuleLargerThanMemoryLimitRefused(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			_, err := e.Compile(context.Background(), testwasm.GoActor(t, "actors/echo"), engine.Limits{MaxMemoryPages: 4})
			if err == nil || !strings.Contains(err.Error(), "over limit of 4 pages") {
				t.Fatalf("Compile with 4 pages = %v, want a clear memory limit error", err)
			}
		})
	}
}

func TestGoActorEcho(t *testing.T) {
	wasm := testwasm.GoActor(t, "actors/echo")
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), wasm, engine.Limits{}, engine.InstanceConfig{Name: "echo"})
			ctx := context.Background()
			payload := bytes.Repeat([]byte("wisp"), 256)
			for n := 0; n < 3; n++ {
				out, err := i.Invoke(ctx, "Echo.Reply", payload)
				if err != nil || !bytes.Equal(out, payload) {
					t.Fatalf("Echo.Reply = %d bytes, %v", len(out), err)
				}
			}
			var ge *engine.GuestError
			if _, err := i.Invoke(ctx, "Echo.Nope", nil); !errors.As(err, &ge) || !strings.Contains(ge.Message, `unknown operation "Echo.Nope"`) {
				t.Fatalf("unknown operation = %v", err)
			}
		})
	}
}

// TestConformanceWaPCGuests runs the waPC guests of wapc-go's test suite,
// compiled by TinyGo, Rust and AssemblyScript, unchanged.
func TestConformanceWaPCGuests(t *testing.T) {
	for _, name := range []string{"hello_go", "hello_rust", "hello_as"} {
		wasm := testwasm.Conformance(t, "wapc/"+name+".wasm")
		for _, cfg := range modes() {
			t.Run(name+"/"+cfgName(cfg), func(t *testing.T) {
				i := instantiate(t, newEngine(t, cfg), wasm, engine.Limits{}, engine.InstanceConfig{Name: name})
				ctx := context.Background()
				out, err := i.Invoke(ctx, "echo", []byte("conformance"))
				if err != nil || string(out) != "conformance" {
					t.Fatalf("echo = %q, %v", out, err)
				}
				_, err = i.Invoke(ctx, "nope", nil)
				if name == "hello_as" {
					if !errors.Is(err, engine.ErrTrap) {
						t.Fatalf("nope = %v, want a trap", err)
					}
					return
				}
				var ge *engine.GuestError
				if !errors.As(err, &ge) || ge.Message != "Planned Failure" {
					t.Fatalf("nope = %v, want guest error 'Planned Failure'", err)
				}
				if out, err = i.Invoke(ctx, "echo", []byte("again")); err != nil || string(out) != "again" {
					t.Fatalf("echo after guest error = %q, %v", out, err)
				}
			})
		}
	}
}

// TestGoGuestSleepOutputAndExit runs a Go actor through what only a real
// WASI guest does: print to stdout and stderr, sleep (past its deadline too),
// exit, spin, run out of memory.
func TestGoGuestSleepOutputAndExit(t *testing.T) {
	wasm := testwasm.GoActor(t, "internal/testactors/probe")
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			ctx := context.Background()
			// Calls that must be stopped run under a short timeout; the others
			// under one a loaded CI machine cannot miss (a Go guest running
			// out of memory prints its traceback through WASI first).
			e := newEngine(t, cfg)
			compile := func(d time.Duration) engine.Module {
				m, err := e.Compile(ctx, wasm, engine.Limits{CallTimeout: d, MaxMemoryPages: 128})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close(ctx) })
				return m
			}
			const short, long = 200 * time.Millisecond, 10 * time.Second
			mods := map[time.Duration]engine.Module{short: compile(short), long: compile(long)}
			cases := []struct {
				op, payload string
				stopped     bool // the call must be stopped at the short timeout
				check       func(out []byte, err error, stdout, stderr string) bool
			}{
				{"Probe.Print", "printed", false, func(_ []byte, err error, stdout, _ string) bool { return err == nil && stdout == "printed\n" }},
				{"Probe.Hash", "abc", false, func(out []byte, err error, _, _ string) bool {
					return err == nil && string(out) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
				}},
				{"Probe.JSON", `[{"name":"wisp","n":2,"m":3}]`, false, func(out []byte, err error, _, _ string) bool {
					return err == nil && string(out) == `[{"m":3,"n":2,"name":"WISP","total":5}]`
				}},
				{"Probe.Sleep", "20", false, func(out []byte, err error, _, _ string) bool { return err == nil && string(out) == "slept" }},
				{"Probe.Sleep", "3600000", true, func(_ []byte, err error, _, _ string) bool { return errors.Is(err, engine.ErrTimeout) }},
				{"Probe.Spin", "", true, func(_ []byte, err error, _, _ string) bool { return errors.Is(err, engine.ErrTimeout) }},
				{"Probe.Exit", "", false, func(_ []byte, err error, _, _ string) bool {
					return errors.Is(err, engine.ErrTrap) && strings.Contains(err.Error(), "guest exited with code 3")
				}},
				{"Probe.Hoard", "", false, func(_ []byte, err error, _, stderr string) bool {
					return errors.Is(err, engine.ErrTrap) && strings.Contains(stderr, "out of memory")
				}},
			}
			for _, c := range cases {
				var stdout, stderr bytes.Buffer
				timeout := long
				if c.stopped {
					timeout = short
				}
				i, err := mods[timeout].Instantiate(ctx, engine.InstanceConfig{Name: "probe", Stdout: &stdout, Stderr: &stderr})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				out, err := i.Invoke(ctx, c.op, []byte(c.payload))
				took := time.Since(start)
				i.Close(ctx)
				if !c.check(out, err, stdout.String(), stderr.String()) {
					t.Errorf("%s(%s) = %q, %v; stdout %q, stderr %.200q", c.op, c.payload, out, err, stdout.String(), stderr.String())
				}
				if c.stopped && took > 2*time.Second {
					t.Errorf("%s(%s) took %v with a %v timeout", c.op, c.payload, took, short)
				}
			}
		})
	}
}

// TestOversizedPayloadTrapsInsteadOfCorrupting sends a payload larger than
// the guest's memory: the host refuses to write past it and the guest traps.
func TestOversizedPayloadTrapsInsteadOfCorrupting(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{}, engine.InstanceConfig{})
			_, err := i.Invoke(context.Background(), "echo", make([]byte, 200_000))
			if !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "out of range") {
				t.Fatalf("200 kB payload into 128 KiB of memory = %v, want ErrTrap naming the range", err)
			}
		})
	}
}

func TestInstancesAreIndependentAndConcurrent(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			ctx := context.Background()
			m, err := e.Compile(ctx, testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				i, err := m.Instantiate(ctx, engine.InstanceConfig{HostCall: echoHost})
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					defer i.Close(ctx)
					for n := 0; n < 200; n++ {
						want := []byte(strings.Repeat(string(rune('a'+g)), n%50+1))
						out, err := i.Invoke(ctx, "hostcall", want)
						if err != nil || !bytes.Equal(out, want) {
							t.Errorf("instance %d call %d = %q, %v", g, n, out, err)
							return
						}
					}
				}(g)
			}
			wg.Wait()
		})
	}
}

func TestCompilationCacheOnDisk(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			dir := t.TempDir()
			wasm := testwasm.GoActor(t, "actors/echo")
			for round := 0; round < 2; round++ {
				e := newEngine(t, engine.Config{Name: cfg.Name, CacheDir: dir})
				i := instantiate(t, e, wasm, engine.Limits{}, engine.InstanceConfig{})
				if out, err := i.Invoke(context.Background(), "Echo.Reply", []byte("x")); err != nil || string(out) != "x" {
					t.Fatalf("round %d: %q, %v", round, out, err)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) == 0 {
				t.Fatalf("cache dir holds %d entries (%v), want compiled code", len(entries), err)
			}
		})
	}
}

func TestUnknownEngineNamesWhatIsCompiledIn(t *testing.T) {
	_, err := engine.New(engine.Config{Name: "v8"})
	if !errors.Is(err, engine.ErrUnknownEngine) || !strings.Contains(err.Error(), "wazero") {
		t.Fatalf("New(v8) = %v", err)
	}
	if _, err := engine.New(engine.Config{Mode: "jit"}); err == nil {
		t.Fatal("New with mode jit succeeded")
	}
}

func TestWazeroRefusesFuel(t *testing.T) {
	_, err := engine.New(engine.Config{Name: "wazero", Fuel: 1000})
	if err == nil || !strings.Contains(err.Error(), "does not meter fuel") {
		t.Fatalf("New(wazero, fuel) = %v, want a clear refusal", err)
	}
}

// TestLoopingGuestDoesNotStallGarbageCollection: compiled guest code cannot
// be preempted, so a guest spinning in a loop must still let the garbage
// collector stop the world, or the host freezes (and the timer that is to
// stop the guest never fires).
func TestLoopingGuestDoesNotStallGarbageCollection(t *testing.T) {
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			i := instantiate(t, newEngine(t, cfg), testwasm.Wat(t, "testdata/guest.wat"),
				engine.Limits{CallTimeout: 2 * time.Second}, engine.InstanceConfig{})
			// Without safe points in the loop this test never ends: the GC
			// waits for the guest, and the guest for the stopped timer.
			gcDone := make(chan struct{})
			go func() {
				time.Sleep(100 * time.Millisecond) // the guest is looping by now
				runtime.GC()
				close(gcDone)
			}()
			if _, err := i.Invoke(context.Background(), "loop", nil); !errors.Is(err, engine.ErrTimeout) {
				t.Fatalf("loop = %v, want ErrTimeout", err)
			}
			<-gcDone
		})
	}
}

// TestSameModuleIsSharedUntilLastClose: a module compiled twice under the
// same limit is one compiled module; closing one user leaves the other
// working, and the engine compiles it again after the last is closed.
func TestSameModuleIsSharedUntilLastClose(t *testing.T) {
	for _, cfg := range engines() {
		t.Run(cfgName(cfg), func(t *testing.T) { sameModuleIsSharedUntilLastClose(t, cfg) })
	}
}

func sameModuleIsSharedUntilLastClose(t *testing.T, cfg engine.Config) {
	ctx := context.Background()
	e := newEngine(t, cfg)
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	a, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Compile(ctx, wasm, engine.Limits{CallTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a.Close(ctx)
	a.Close(ctx) // closing twice must not release b's share
	i, err := b.Instantiate(ctx, engine.InstanceConfig{})
	if err != nil {
		t.Fatalf("instantiate after the other user closed: %v", err)
	}
	if out, err := i.Invoke(ctx, "echo", []byte("shared")); err != nil || string(out) != "shared" {
		t.Fatalf("echo = %q, %v", out, err)
	}
	// b keeps its own limits: its timeout stops a loop.
	if _, err := i.Invoke(ctx, "loop", nil); !errors.Is(err, engine.ErrTimeout) {
		t.Fatalf("loop = %v", err)
	}
	i.Close(ctx)
	b.Close(ctx)
	c, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		t.Fatalf("compile after the last close: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Instantiate(ctx, engine.InstanceConfig{}); err != nil {
		t.Fatal(err)
	}
}

// TestPreparedModulesOnDisk: wazero keeps what it made of a module before
// compiling it (loops instrumented, readied for snapshots) next to its
// compiled code, and a fresh engine starts from that: the module still
// snapshots and a loop in it is still stopped. A damaged entry is made
// again.
func TestPreparedModulesOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	round := func(t *testing.T) {
		t.Helper()
		e := newEngine(t, engine.Config{Name: "wazero", CacheDir: dir})
		m, err := e.Compile(ctx, wasm, engine.Limits{CallTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
		for range 2 {
			i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "g", HostCall: echoHost})
			if err != nil {
				t.Fatal(err)
			}
			defer i.Close(ctx)
			if out, err := i.Invoke(ctx, "echo", []byte("x")); err != nil || string(out) != "x" {
				t.Fatalf("echo = %q, %v", out, err)
			}
			if _, err := i.Invoke(ctx, "loop", nil); !errors.Is(err, engine.ErrTimeout) {
				t.Fatalf("loop = %v, want ErrTimeout", err)
			}
		}
		if !engine.Snapshotted(m, "g") {
			t.Fatal("no snapshot of a module prepared on disk")
		}
	}
	round(t)
	entries, _ := filepath.Glob(filepath.Join(dir, "prepared-*", "*-snapshot"))
	if len(entries) != 1 {
		t.Fatalf("prepared entries %v, want one", entries)
	}
	stored, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	round(t) // from the entry
	damaged := bytes.Clone(stored)
	damaged[len(damaged)-1] ^= 1
	if err := os.WriteFile(entries[0], damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	round(t) // prepared again, and stored again
	if again, err := os.ReadFile(entries[0]); err != nil || !bytes.Equal(again, stored) {
		t.Fatalf("after a damaged entry: %d bytes, %v; want the entry made again", len(again), err)
	}
}
