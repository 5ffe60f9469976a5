package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
)

// load calls actor from callers goroutines until stop is closed and counts
// the answers by text, and the failures.
type load struct {
	mu      sync.Mutex
	answers map[string]int
	fails   []string
	calls   atomic.Int64
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, c *lattice.Client, actor string, callers int, stop <-chan struct{}) *load {
	t.Helper()
	l := &load{answers: map[string]int{}}
	for range callers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				out, err := c.Call(ctx, actor, "Version", nil)
				cancel()
				l.calls.Add(1)
				l.mu.Lock()
				if err != nil {
					l.fails = append(l.fails, err.Error())
				} else {
					l.answers[string(out)]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) seen(answer string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answers[answer]
}

func writeModule(t *testing.T, wasm []byte, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUpdateActorSwapsTheModuleUnderLoadWithoutAFailedCall(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	s := newSigner(t)
	v1 := writeModule(t, s.sign(t, testwasm.Versioned(t, "v1", 0), "svc"), "svc-v1.wasm")
	v2 := writeModule(t, s.sign(t, testwasm.Versioned(t, "v2", 0), "svc"), "svc-v2.wasm")
	ctx := context.Background()
	if _, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: v1, Count: 2}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	l := startLoad(t, e.client, "svc", 16, stop)
	testwait.Eventually(t, 10*time.Second, func() error {
		if l.seen("v1") < 100 {
			return errString("v1 has not answered 100 calls yet")
		}
		return nil
	})
	d, err := e.client.UpdateActor(ctx, e.host.ID(), lattice.UpdateActorRequest{Actor: "svc", Ref: v2, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref != v2 || d.Instances != 3 {
		t.Fatalf("updated actor = ref %s, %d instances; want %s, 3", d.Ref, d.Instances, v2)
	}
	testwait.Eventually(t, 10*time.Second, func() error {
		if l.seen("v2") < 100 {
			return errString("v2 has not answered 100 calls yet")
		}
		return nil
	})
	close(stop)
	l.wg.Wait()
	if len(l.fails) > 0 {
		t.Fatalf("%d of %d calls failed during the swap; first: %s", len(l.fails), l.calls.Load(), l.fails[0])
	}
	for answer := range l.answers {
		if answer != "v1" && answer != "v2" {
			t.Fatalf("answer %q is from neither version", answer)
		}
	}
	inv := e.host.Inventory()
	if len(inv.Actors) != 1 || inv.Actors[0].Ref != v2 {
		t.Fatalf("inventory after the swap = %+v, want only svc at v2", inv.Actors)
	}
	t.Logf("%d calls, none failed: %d answered by v1, %d by v2", l.calls.Load(), l.seen("v1"), l.seen("v2"))
}

func TestUpdateActorRefusesAnotherAliasAnApplicationsActorAndNoActor(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	s := newSigner(t)
	v1 := writeModule(t, s.sign(t, testwasm.Versioned(t, "v1", 0), "svc"), "svc-v1.wasm")
	other := writeModule(t, s.sign(t, testwasm.Versioned(t, "v2", 0), "other"), "other.wasm")
	ctx := context.Background()
	if _, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: v1}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.UpdateActor(ctx, e.host.ID(), lattice.UpdateActorRequest{Actor: "svc", Ref: other})
	if err == nil || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("update to a module of another alias = %v, want a refusal naming it", err)
	}
	if out, err := e.client.Call(ctx, "svc", "Version", nil); err != nil || string(out) != "v1" {
		t.Fatalf("after the refused update svc answers %q, %v; want v1 still", out, err)
	}
	shop := writeModule(t, newSigner(t).sign(t, testwasm.Versioned(t, "v1", 0), "shop"), "shop.wasm")
	managed := lattice.StartActorRequest{Ref: shop, Annotations: map[string]string{lattice.AnnotationManagedBy: lattice.ManagedByApps, lattice.AnnotationApp: "shop", lattice.AnnotationComponent: "shop"}}
	if _, err := e.client.StartActor(ctx, e.host.ID(), managed); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.UpdateActor(ctx, e.host.ID(), lattice.UpdateActorRequest{Actor: "shop", Ref: shop})
	if !errors.Is(err, lattice.ErrRefused) || !strings.Contains(err.Error(), "application shop manages it") {
		t.Fatalf("update by hand of an application's actor = %v, want refused, naming the application", err)
	}
	_, err = e.client.UpdateActor(ctx, e.host.ID(), lattice.UpdateActorRequest{Actor: "nothere", Ref: v1})
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("update of an actor that does not run = %v, want not running", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
