//go:build wasmtime

package engine_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// The wasmtime engine's own behaviour; engine_test.go and parity_test.go
// run the shared behaviour tests on it too.

func TestWasmtimeNameAndModes(t *testing.T) {
	e := newEngine(t, engine.Config{Name: "wasmtime", Mode: "compiler"})
	if e.Name() != "wasmtime/compiler" {
		t.Fatalf("Name = %q", e.Name())
	}
	_, err := engine.New(engine.Config{Name: "wasmtime", Mode: "interpreter"})
	if err == nil || !strings.Contains(err.Error(), "no interpreter") {
		t.Fatalf("interpreter mode = %v, want a clear refusal", err)
	}
	if _, err := engine.New(engine.Config{Name: "wasmtime", Mode: "jit"}); err == nil {
		t.Fatal("mode jit accepted")
	}
}

// TestWasmtimeCacheSkipsCompilation checks that a second engine on the same
// cache directory loads the compiled code instead of compiling, and that a
// damaged or truncated cache file is compiled again and replaced (Wasmtime
// itself crashed the host on such a file). Each bad file is written in
// place under the modules the earlier rounds loaded from it, which stay
// open until the test ends: code Wasmtime mapped from the file itself
// would crash the test with SIGBUS when they close.
func TestWasmtimeCacheSkipsCompilation(t *testing.T) {
	dir := t.TempDir()
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	ctx := context.Background()
	run := func(round string, wantCompiled int64) {
		t.Helper()
		e := newEngine(t, engine.Config{Name: "wasmtime", CacheDir: dir})
		i := instantiate(t, e, wasm, engine.Limits{}, engine.InstanceConfig{})
		if out, err := i.Invoke(ctx, "echo", []byte(round)); err != nil || string(out) != round {
			t.Fatalf("%s: echo = %q, %v", round, out, err)
		}
		if got := engine.WasmtimeCompiled(e); got != wantCompiled {
			t.Fatalf("%s: compiled %d modules, want %d", round, got, wantCompiled)
		}
	}
	run("cold", 1)
	run("cached", 0)
	files, _ := filepath.Glob(filepath.Join(dir, "wasmtime-"+engine.WasmtimeVersion+"-*", "*.cwasm"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one .cwasm file", files)
	}
	good, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.TrimSuffix(files[0], ".cwasm") + ".sum"
	if _, err := os.Stat(sum); err != nil {
		t.Fatalf("no sum beside the code: %v", err)
	}
	// A hit marks both files used, so that the cache's trim keeps them.
	long := time.Now().Add(-10 * 24 * time.Hour)
	for _, p := range []string{files[0], sum} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	run("cached, unused for 10 days", 0)
	for _, p := range []string{files[0], sum} {
		if st, err := os.Stat(p); err != nil || time.Since(st.ModTime()) > time.Minute {
			t.Fatalf("after a hit %s was last modified %v ago (%v)", p, time.Since(st.ModTime()), err)
		}
	}
	for name, bad := range map[string][]byte{
		"damaged":   []byte("damaged"),
		"truncated": good[:len(good)/2],
		"bit flip":  append(append([]byte(nil), good[:len(good)-100]...), append([]byte{good[len(good)-100] ^ 1}, good[len(good)-99:]...)...),
		"longer":    append(append([]byte(nil), good...), 0),
	} {
		if err := os.WriteFile(files[0], bad, 0o600); err != nil {
			t.Fatal(err)
		}
		run(name, 1)
		run(name+", repaired", 0)
	}
	// Code whose sum is gone (a crash between the two writes, or a cache
	// of an earlier wisp) is compiled again too.
	if err := os.Remove(sum); err != nil {
		t.Fatal(err)
	}
	run("no sum", 1)
	run("no sum, repaired", 0)
}

// TestWasmtimeSharesCodeAcrossLimits: memory limits are per store in
// Wasmtime, so two actors of the same module with different limits share
// one compiled module, and each keeps its own limit.
func TestWasmtimeSharesCodeAcrossLimits(t *testing.T) {
	e := newEngine(t, engine.Config{Name: "wasmtime"})
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	small := instantiate(t, e, wasm, engine.Limits{MaxMemoryPages: 100}, engine.InstanceConfig{})
	big := instantiate(t, e, wasm, engine.Limits{MaxMemoryPages: 2000}, engine.InstanceConfig{})
	if n := engine.WasmtimeCompiled(e); n != 1 {
		t.Fatalf("compiled %d times, want once", n)
	}
	if _, err := small.Invoke(context.Background(), "grow", nil); !errors.Is(err, engine.ErrTrap) {
		t.Fatalf("grow past 100 pages = %v, want ErrTrap", err)
	}
	if _, err := big.Invoke(context.Background(), "grow", nil); err != nil {
		t.Fatalf("grow within 2000 pages = %v", err)
	}
}

func TestWasmtimeCloseStopsTheTicker(t *testing.T) {
	e, err := engine.New(engine.Config{Name: "wasmtime"})
	if err != nil {
		t.Fatal(err)
	}
	i := instantiate(t, e, testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{}, engine.InstanceConfig{})
	if _, err := i.Invoke(context.Background(), "echo", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if engine.WasmtimeTickerStopped(e) {
		t.Fatal("ticker stopped before Close")
	}
	e.Close(context.Background())
	if !engine.WasmtimeTickerStopped(e) {
		t.Fatal("ticker still running after Close")
	}
	if _, err := e.Compile(context.Background(), testwasm.Wat(t, "testdata/guest.wat"), engine.Limits{}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Compile after Close = %v, want an error saying the engine is closed", err)
	}
}

// TestWasmtimeDeclarationsMatchHeaders compiles the C bridge's hand-written
// declarations of Wasmtime's C API against the headers wasmtime-go ships:
// a prototype that differs from Wasmtime's is a compile error here, not a
// crash at run time.
func TestWasmtimeDeclarationsMatchHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the Go toolchain and the C compiler")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/bytecodealliance/wasmtime-go/v39").Output()
	if err != nil {
		t.Fatalf("go list wasmtime-go: %v", err)
	}
	include := filepath.Join(strings.TrimSpace(string(out)), "build", "include")
	cc, err := exec.Command("go", "env", "CC").Output()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "check.c")
	check := `#include <wasmtime.h>
#define WISP_WITH_WASMTIME_H
#include "wasmtime_capi.h"
_Static_assert(WISP_EXTERN_FUNC == WASMTIME_EXTERN_FUNC, "extern kind func");
_Static_assert(WISP_EXTERN_MEMORY == WASMTIME_EXTERN_MEMORY, "extern kind memory");
_Static_assert(WISP_KIND_I32 == WASM_I32, "value kind i32");
_Static_assert(sizeof(wasmtime_val_raw_t) == 16, "raw value size");
`
	if err := os.WriteFile(src, []byte(check), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	cmd := exec.Command(strings.TrimSpace(string(cc)), "-fsyntax-only", "-Wall", "-Werror", "-I", include, "-I", wd, src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the bridge's declarations do not match Wasmtime's headers: %v\n%s", err, msg)
	}
}

// TestWasmtimeFuelStopsGuestCode: with fuel on, a call that runs out traps
// at once instead of running to its timeout, and calls within their fuel
// work.
func TestWasmtimeFuelStopsGuestCode(t *testing.T) {
	e := newEngine(t, engine.Config{Name: "wasmtime", Fuel: 1_000_000})
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	i := instantiate(t, e, wasm, engine.Limits{CallTimeout: time.Minute}, engine.InstanceConfig{})
	if out, err := i.Invoke(context.Background(), "echo", []byte("fuelled")); err != nil || string(out) != "fuelled" {
		t.Fatalf("echo = %q, %v", out, err)
	}
	start := time.Now()
	_, err := i.Invoke(context.Background(), "loop", nil)
	if !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "out of fuel") {
		t.Fatalf("loop = %v, want ErrTrap saying out of fuel", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("out of fuel after %v", took)
	}
}
