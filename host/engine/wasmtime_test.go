//go:build wasmtime

package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// The wasmtime engine's own behaviour; engine_test.go runs the shared
// behaviour tests on it too.

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
// damaged cache file is compiled again and replaced.
func TestWasmtimeCacheSkipsCompilation(t *testing.T) {
	dir := t.TempDir()
	wasm := testwasm.Wat(t, "testdata/guest.wat")
	ctx := context.Background()
	run := func(round string, wantCompiled int64) {
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
	files, _ := filepath.Glob(filepath.Join(dir, "wasmtime-*", "*.cwasm"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one .cwasm file", files)
	}
	if err := os.WriteFile(files[0], []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("damaged", 1)
	run("repaired", 0)
}
