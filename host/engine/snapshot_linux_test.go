//go:build linux && (amd64 || arm64)

package engine_test

import (
	"bytes"
	"context"
	"os"
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
