package interrupt_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/wisp-dev/wisp/host/engine/internal/interrupt"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

const loopWat = `(module
  (global $g (mut i32) (i32.const 7))
  (func (export "spin") (loop $l (br $l)))
  (func (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "g") (result i32) (global.get $g)))`

func watFile(t *testing.T, src string) []byte {
	p := filepath.Join(t.TempDir(), "m.wat")
	os.WriteFile(p, []byte(src), 0o644)
	return testwasm.Wat(t, p)
}

func TestInstrumentedLoopStopsWhenInterrupted(t *testing.T) {
	ctx := context.Background()
	wasm, err := interrupt.Instrument(watFile(t, loopWat))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rc       wazero.RuntimeConfig
		compiled bool
	}{{wazero.NewRuntimeConfigInterpreter(), false}, {wazero.NewRuntimeConfigCompiler(), true}} {
		rt := wazero.NewRuntimeWithConfig(ctx, c.rc)
		defer rt.Close(ctx)
		mod, err := rt.Instantiate(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		// The module's own global keeps index 0 and its value.
		if got, _ := mod.ExportedFunction("g").Call(ctx); got[0] != 7 {
			t.Fatalf("existing global = %d, want 7", got[0])
		}
		if got, err := mod.ExportedFunction("sum").Call(ctx, 100); err != nil || got[0] != 4950 {
			t.Fatalf("sum(100) = %v, %v", got, err)
		}
		if !c.compiled {
			// Interpreted code is stopped by cancelling its context (the
			// engine does that); setting the flag from another goroutine
			// while Go code reads it would be a data race.
			continue
		}
		flag := mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
		go func() { time.Sleep(20 * time.Millisecond); flag.Set(1) }()
		_, err = mod.ExportedFunction("spin").Call(ctx)
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("spin after interrupt = %v, want an unreachable trap", err)
		}
	}
}

// TestInstrumentKeepsRealModulesWorking instruments modules other people
// compiled (TinyGo, Rust, AssemblyScript, Go) and checks they still
// validate in wazero.
func TestInstrumentKeepsRealModulesWorking(t *testing.T) {
	ctx := context.Background()
	mods := map[string][]byte{"go echo": testwasm.GoActor(t, "actors/echo")}
	for _, n := range []string{"wapc/hello_go.wasm", "wapc/hello_rust.wasm", "wapc/hello_as.wasm", "wascap/echo_messaging_v0.9.0.wasm"} {
		mods[n] = testwasm.Conformance(t, n)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	for name, wasm := range mods {
		out, err := interrupt.Instrument(wasm)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := rt.CompileModule(ctx, out); err != nil {
			t.Fatalf("%s: instrumented module does not compile: %v", name, err)
		}
		if !bytes.Contains(out, []byte(interrupt.Export)) || len(out) <= len(wasm)-countDebug(wasm) {
			t.Fatalf("%s: instrumentation added nothing", name)
		}
	}
}

func TestInstrumentRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("text"), []byte("\x00asm\x01\x00\x00\x00\x0a\x05\x01")} {
		if _, err := interrupt.Instrument(b); err == nil {
			t.Errorf("Instrument(%q) succeeded", b)
		}
	}
	_, err := interrupt.Instrument([]byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x04\x01\x02\x00\xee"))
	if err == nil || !strings.Contains(err.Error(), "unknown opcode") {
		t.Fatalf("unknown opcode: %v", err)
	}
}

func FuzzInstrument(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	if b, err := os.ReadFile(filepath.Join(testwasm.Root(), "testdata", "conformance", "wapc", "hello_as.wasm")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := interrupt.Instrument(b) // must not panic
		if err != nil {
			return
		}
		// What it writes, it can read again.
		if _, err := interrupt.Instrument(out); err != nil {
			t.Fatalf("instrumented output does not parse: %v", err)
		}
	})
}

// countDebug is roughly the size of the .debug_* sections Instrument drops.
func countDebug(wasm []byte) int {
	if i := bytes.Index(wasm, []byte(".debug_")); i >= 0 {
		return len(wasm) - i
	}
	return 0
}

// BenchmarkInstrumentGoEcho measures the rewrite of a 2.7 MB Go actor,
// which every actor start pays.
func BenchmarkInstrumentGoEcho(b *testing.B) {
	wasm := testwasm.GoActor(b, "actors/echo")
	b.SetBytes(int64(len(wasm)))
	for i := 0; i < b.N; i++ {
		if _, err := interrupt.Instrument(wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInstrumentRefusesAllocationBombs: a section that declares more
// entries than it has bytes is refused before wazero's decoder, which would
// allocate for the declared count and crash the host out of memory.
func TestInstrumentRefusesAllocationBombs(t *testing.T) {
	hdr := "\x00asm\x01\x00\x00\x00"
	for name, c := range map[string]struct{ wasm, want string }{
		// 2^28 tables in 6 bytes.
		"tables": {hdr + "\x04\x06\x80\x80\x80\x80\x01\x70", "declares 268435456 entries"},
		// One active data segment claiming 2^31-1 bytes.
		"data": {hdr + "\x05\x03\x01\x00\x01" + "\x0b\x0b\x01\x00\x41\x00\x0b\xff\xff\xff\xff\x07\x00", "data segment 0 declares 2147483647 entries"},
		// One passive element segment of 2^28 expressions.
		"elements": {hdr + "\x09\x08\x01\x05\x70\x80\x80\x80\x80\x01", "element segment 0 declares 268435456 entries"},
		// A function with 2^32-1 i32 locals.
		"locals": {hdr + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00" + "\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b", "more than 50000 locals"},
	} {
		if _, err := interrupt.Instrument([]byte(c.wasm)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s bomb: %v, want %q", name, err, c.want)
		}
	}
}

// Scan finds each instruction that changes a table or names a data
// segment, and nothing in code that only reads them.
func TestScanFindsTableWritesAndSegmentUses(t *testing.T) {
	const head = `(module (memory 1) (table $t 1 funcref) (data $d "x") (elem declare func $f) (func $f) (func (export "g") `
	for _, c := range []struct {
		body          string
		tables, segms bool
	}{
		{`(drop (table.size $t)) (drop (table.get $t (i32.const 0))) (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))`, false, false},
		{`(table.set $t (i32.const 0) (ref.func $f))`, true, false},
		{`(drop (table.grow $t (ref.null func) (i32.const 1)))`, true, false},
		{`(table.fill $t (i32.const 0) (ref.null func) (i32.const 1))`, true, false},
		{`(memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))`, false, true},
		{`(data.drop $d)`, false, true},
	} {
		uses, err := interrupt.Scan(watFile(t, head+c.body+`))`))
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if uses.TableWrites != c.tables || uses.Segments != c.segms {
			t.Errorf("%s: %+v, want table writes %v, segments %v", c.body, uses, c.tables, c.segms)
		}
	}
}
