package engine_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// Instances started from a snapshot begin where the first instance's
// initialisation left it (memory, globals, data), do not initialise again,
// and never see each other's writes.
func TestSnapshotInstancesAreIsolated(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range wazeroModes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			m, err := e.Compile(ctx, testwasm.Wat(t, "testdata/snapshot.wat"), engine.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			first, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "a"})
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close(ctx)
			if !engine.Snapshotted(m, "a") {
				t.Fatal("no snapshot after the first instance")
			}
			// Init ran once, 1 bump, global 7+1, data 'q'.
			call(t, first, []byte{1, 1, 8, 'q'})
			call(t, first, []byte{1, 2, 9, 'q'})
			var insts []engine.Instance
			for range 3 {
				i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "a"})
				if err != nil {
					t.Fatal(err)
				}
				defer i.Close(ctx)
				insts = append(insts, i)
			}
			for k, i := range insts {
				for n := range k + 1 {
					call(t, i, []byte{1, byte(n + 1), byte(8 + n), 'q'})
				}
			}
			call(t, first, []byte{1, 3, 10, 'q'})
			// Another name is another snapshot, taken from its own first
			// instance.
			b, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "b"})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(ctx)
			call(t, b, []byte{1, 1, 8, 'q'})
		})
	}
}

// A guest whose initialisation calls the host (here __console_log) is not
// snapshotted: every instance initialises, and logs, itself.
func TestInitWithEffectsIsNotSnapshotted(t *testing.T) {
	ctx := context.Background()
	wasm := bytes.Replace(testwasm.Wat(t, "testdata/snapshot.wat"), []byte("quiet"), []byte("logit"), 1)
	e := newEngine(t, engine.Config{})
	m, err := e.Compile(ctx, wasm, engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	for range 2 {
		var logged []string
		i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "a", ConsoleLog: func(s string) { logged = append(logged, s) }})
		if err != nil {
			t.Fatal(err)
		}
		call(t, i, []byte{1, 1, 8, 'l'})
		i.Close(ctx)
		if len(logged) != 1 || logged[0] != "log" {
			t.Fatalf("logged %q during init, want [log]", logged)
		}
	}
	if engine.Snapshotted(m, "a") {
		t.Fatal("snapshotted a guest whose initialisation logged")
	}
}

// Go guests (the Go runtime's _initialize) are snapshotted, and instances
// from the snapshot answer like the first.
func TestGoGuestFromSnapshot(t *testing.T) {
	ctx := context.Background()
	wasm := testwasm.Conformance(t, "wapc/hello_go.wasm")
	for _, cfg := range wazeroModes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			m, err := e.Compile(ctx, wasm, engine.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			var insts []engine.Instance
			for range 3 {
				i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "go", HostCall: echoHost})
				if err != nil {
					t.Fatal(err)
				}
				defer i.Close(ctx)
				insts = append(insts, i)
			}
			if !engine.Snapshotted(m, "go") {
				t.Fatal("the Go guest was not snapshotted")
			}
			for n := range 50 {
				for k, i := range insts {
					want := bytes.Repeat([]byte{byte('a' + k)}, n*100+1)
					out, err := i.Invoke(ctx, "echo", want)
					if err != nil || !bytes.Equal(out, want) {
						t.Fatalf("instance %d call %d = %.40q, %v", k, n, out, err)
					}
				}
			}
		})
	}
}

func call(t *testing.T, i engine.Instance, want []byte) {
	t.Helper()
	out, err := i.Invoke(context.Background(), "bump", nil)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("bump = %v, %v; want %v", out, err, want)
	}
}

// A guest whose code writes tables or uses memory.init is not
// snapshotted: each instance initialises itself and sees what it made.
func TestTableAndSegmentGuestIsNotSnapshotted(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	m, err := e.Compile(ctx, testwasm.Wat(t, "testdata/snapshot_table.wat"), engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	for range 2 {
		i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := i.Invoke(ctx, "size", nil)
		i.Close(ctx)
		if err != nil || string(out) != "init3" {
			t.Fatalf("size = %q, %v; want init3", out, err)
		}
	}
	if engine.Snapshotted(m, "a") {
		t.Fatal("snapshotted a guest that writes tables")
	}
}

// wazeroModes is modes without the other engines: snapshots are wazero's.
func wazeroModes() []engine.Config {
	var out []engine.Config
	for _, c := range modes() {
		if c.Name == "wazero" {
			out = append(out, c)
		}
	}
	return out
}
