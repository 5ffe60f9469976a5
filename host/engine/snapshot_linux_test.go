//go:build linux && (amd64 || arm64)

package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// snapshotMappings counts the process's mappings of snapshot images: one
// per live instance started from a snapshot.
func snapshotMappings(t *testing.T) int {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(maps, []byte("memfd:wisp-snapshot"))
}

// An instance started from a snapshot gives its memory back to the system
// when it closes (scaling down unmaps it; nothing waits for Go's garbage
// collector).
func TestSnapshotInstanceMemoryIsUnmappedOnClose(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, engine.Config{})
	m, err := e.Compile(ctx, testwasm.Conformance(t, "wapc/hello_go.wasm"), engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	base := snapshotMappings(t)
	var insts []engine.Instance
	for range 8 {
		i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "go", HostCall: echoHost})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := i.Invoke(ctx, "echo", []byte("x")); err != nil || string(out) != "x" {
			t.Fatalf("echo = %q, %v", out, err)
		}
		insts = append(insts, i)
	}
	// The first instance initialised itself; the other 7 map the snapshot.
	if got := snapshotMappings(t) - base; got != 7 {
		t.Fatalf("%d snapshot mappings for 7 instances from the snapshot", got)
	}
	for _, i := range insts[1:] {
		i.Close(ctx)
	}
	if got := snapshotMappings(t) - base; got != 0 {
		t.Fatalf("%d snapshot mappings left after closing every instance from the snapshot", got)
	}
	insts[0].Close(ctx)
}

// TestSnapshotSourceMemoryIsNotOnTheGoHeap: the instance a snapshot is
// taken from (the first under each name) gets memory mapped for it, not a
// slice of Go's heap, and its snapshot and itself work as any other.
func TestSnapshotSourceMemoryIsNotOnTheGoHeap(t *testing.T) {
	ctx := context.Background()
	wasm := testwasm.GoActor(t, "actors/echo")
	for _, cfg := range wazeroModes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			m, err := e.Compile(ctx, wasm, engine.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			heap := func() uint64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			before := heap()
			const n = 4
			for k := range n {
				name := fmt.Sprintf("echo%d", k) // one snapshot source each
				want := bytes.Repeat([]byte{byte('a' + k)}, 1000)
				for range 2 { // the source, then one from its snapshot
					i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: name})
					if err != nil {
						t.Fatal(err)
					}
					defer i.Close(ctx)
					if out, err := i.Invoke(ctx, "Echo.Reply", want); err != nil || !bytes.Equal(out, want) {
						t.Fatalf("%s: echo = %q, %v", name, out, err)
					}
				}
				if !engine.Snapshotted(m, name) {
					t.Fatalf("%s was not snapshotted", name)
				}
			}
			memory := uint64(n) * uint64(m.MemoryPages()) * 65536
			if after := heap(); after > before && after-before > memory/2 {
				t.Fatalf("Go's heap grew by %d bytes with %d snapshot sources of %d bytes of memory in all", after-before, n, memory)
			}
		})
	}
}
