//go:build unix

package engine_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A start function that loops forever, in the start section or in
// _initialize, fails at the call timeout with a message that says so, and
// leaves no core spinning behind it.
func TestLoopingStartFunctionStopsAndLeavesCPUIdle(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			for _, file := range []string{"start_loop.wat", "init_loop.wat"} {
				m, err := e.Compile(ctx, testwasm.Wat(t, "testdata/"+file), engine.Limits{CallTimeout: 300 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				begin := time.Now()
				i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: file})
				took := time.Since(begin)
				if err == nil {
					i.Close(ctx)
					t.Fatalf("%s: Instantiate succeeded", file)
				}
				if !errors.Is(err, engine.ErrTimeout) || !strings.Contains(err.Error(), "module start function ran past 300ms") {
					t.Fatalf("%s: Instantiate = %v", file, err)
				}
				if took > 5*time.Second {
					t.Fatalf("%s: the start function was stopped after %s, want about 300ms", file, took)
				}
				// Nothing keeps running: over a second, the process uses
				// far less than a core.
				before := cpuTime(t)
				time.Sleep(time.Second)
				used := cpuTime(t) - before
				t.Logf("%s: stopped after %s; CPU in the next second: %s", file, took.Round(time.Millisecond), used.Round(time.Millisecond))
				if used > 400*time.Millisecond {
					t.Fatalf("%s: %s of CPU in the second after the start failed: a guest still spins", file, used)
				}
				m.Close(ctx)
			}
			m, err := e.Compile(ctx, testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "after"})
			if err != nil {
				t.Fatal(err)
			}
			defer i.Close(ctx)
			if out, err := i.Invoke(ctx, "echo", []byte("still serving")); err != nil || string(out) != "still serving" {
				t.Fatalf("echo after the looping starts = %q, %v", out, err)
			}
		})
	}
}
