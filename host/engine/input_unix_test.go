//go:build unix

package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/internal/offheap"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// A host unmaps a module read from a file once Compile returns (package
// offheap), so no engine may keep the bytes it was given: here they are
// unmapped before the module is instantiated and called, and a kept
// reference would crash the test. The calls read the guest's data
// segments. With a cache folder the second compile is a cache hit.
func TestCompileKeepsNothingOfItsInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guest.wasm")
	if err := os.WriteFile(path, testwasm.Wat(t, "testdata/guest.wat"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cfg := range modes() {
		for _, cached := range []bool{false, true} {
			name := cfgName(cfg)
			if cached {
				cfg.CacheDir = t.TempDir()
				name += "-cached"
			}
			t.Run(name, func(t *testing.T) {
				e := newEngine(t, cfg)
				for round := range 2 {
					f, err := os.Open(path)
					if err != nil {
						t.Fatal(err)
					}
					st, _ := f.Stat()
					buf, err := offheap.Read(f, st.Size())
					f.Close()
					if err != nil {
						t.Fatal(err)
					}
					m, err := e.Compile(ctx, buf.Bytes(), engine.Limits{})
					buf.Close()
					if err != nil {
						t.Fatal(err)
					}
					for range 2 { // on wazero the second comes from a snapshot
						i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: "guest", HostCall: echoHost})
						if err != nil {
							t.Fatal(err)
						}
						var ge *engine.GuestError
						if _, err := i.Invoke(ctx, "fail", nil); !errors.As(err, &ge) || ge.Message != "planned failure" {
							t.Fatalf("round %d: fail = %v, want the guest's 'planned failure'", round, err)
						}
						if out, err := i.Invoke(ctx, "hostcall", []byte("via host")); err != nil || string(out) != "via host" {
							t.Fatalf("round %d: host call = %q, %v", round, out, err)
						}
						i.Close(ctx)
					}
					m.Close(ctx)
				}
			})
		}
	}
}
