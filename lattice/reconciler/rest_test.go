package reconciler_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/reconciler"
)

// passCounter is an Observer that counts the reconciler's passes.
type passCounter struct{ passes atomic.Int64 }

func (p *passCounter) ReconcilePass(time.Duration)   { p.passes.Add(1) }
func (p *passCounter) ReconcileAction(string, error) {}

// TestALatticeAtRestMakesNoPass: once an application is deployed and
// nothing changes, the hosts' heartbeats keep them alive in the active
// reconciler's view without a pass (a pass reads every link, and a
// thousand hosts beat 33 times a second); a change still makes one at
// once.
func TestALatticeAtRestMakesNoPass(t *testing.T) {
	l := newLattice(t)
	ctx := context.Background()
	h, err := host.New(ctx, l.conn(t), host.WithName("a"), host.WithLabels(map[string]string{"zone": "z"}),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithLogger(quiet), host.WithFileDirs(os.TempDir()),
		host.WithHeartbeat(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	module := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	obs := &passCounter{}
	rec, err := reconciler.New(reconciler.Config{Conn: l.conn(t), HostID: "Nr", HostName: "r", LeaseTTL: 800 * time.Millisecond,
		Interval: 100 * time.Millisecond, Providers: manifest.Providers{}, Logger: quiet, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", rec.Leading))

	deployed := func() bool {
		st, err := l.store.Status(ctx, "rest")
		return err == nil && st.Phase == app.PhaseDeployed && count(h, "rest") == 1
	}
	deployManifest(t, l.store, oneActorApp("rest", module, "z"))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the app to deploy", deployed))

	// Ten heartbeats and ten ticks a second: a window of a second with
	// no pass comes only if heartbeats alone make none.
	testwait.Eventually(t, 15*time.Second, testwait.Holds("a second without a pass", func() bool {
		before := obs.passes.Load()
		time.Sleep(time.Second)
		return obs.passes.Load() == before
	}))
	if !rec.Leading() || count(h, "rest") != 1 {
		t.Fatalf("at rest: leading %v, %d instances", rec.Leading(), count(h, "rest"))
	}

	before := obs.passes.Load()
	if err := h.StopActor(ctx, "rest"); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the stopped actor to be started again", deployed))
	if obs.passes.Load() == before {
		t.Fatal("the actor came back without a pass")
	}
}
