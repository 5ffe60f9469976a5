package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
)

// Starts running at the same time cannot together pass the host's total
// of instances: those still starting count.
func TestConcurrentStartsStayUnderTheHostsTotal(t *testing.T) {
	e := newEnv(t, host.WithCeilings(host.Ceilings{Instances: 3, HostInstances: 8}))
	wasm := testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat"))
	dir := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var started, refused int
	for k := range 6 {
		p := filepath.Join(dir, fmt.Sprintf("g%d.wasm", k))
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.host.StartActor(context.Background(), lattice.StartActorRequest{Ref: p, Count: 3})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				started++
			case errors.Is(err, host.ErrAdmission):
				refused++
			default:
				t.Errorf("start %s: %v", p, err)
			}
		}()
	}
	wg.Wait()
	if n := e.host.Summary().Instances; n > 8 || started != 2 || refused != 4 {
		t.Fatalf("%d started, %d refused, %d instances: want 2 started (6 instances), 4 refused under a total of 8", started, refused, n)
	}
	name := e.host.Inventory().Actors[0].Name
	if _, err := e.host.ScaleActor(context.Background(), name, 4); !errors.Is(err, host.ErrAdmission) {
		t.Fatalf("scale past the per-request ceiling = %v", err)
	}
}
