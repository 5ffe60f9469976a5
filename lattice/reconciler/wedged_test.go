package reconciler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/reconciler"
)

// fakeHost is a plain NATS responder posing as a host with labels: it
// answers pings with its summary and serves the subjects handlers gives
// it for its id.
func fakeHost(t *testing.T, nc *nats.Conn, name string, labels map[string]string, handlers func(id string, sum lattice.HostSummary) map[string]nats.MsgHandler) {
	t.Helper()
	kp, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := kp.PublicKey()
	sum := lattice.HostSummary{ID: id, Name: name, Lattice: lattice.DefaultLattice, Labels: labels, StartedAt: time.Now()}
	subs := handlers(id, sum)
	subs[lattice.PingSubject(lattice.DefaultLattice)] = func(m *nats.Msg) { respondJSON(m, sum) }
	for subject, fn := range subs {
		sub, err := nc.Subscribe(subject, fn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func respondJSON(m *nats.Msg, v any) {
	b, _ := json.Marshal(v)
	m.Respond(b)
}

// wedgedHost is a fake host that answers inventories (nothing runs) and
// accepts every start_actor, then never reports an outcome, like a wedged
// or lying host. It returns how many starts it accepted.
func wedgedHost(t *testing.T, nc *nats.Conn, labels map[string]string) *atomic.Int64 {
	t.Helper()
	var starts atomic.Int64
	fakeHost(t, nc, "wedged", labels, func(id string, sum lattice.HostSummary) map[string]nats.MsgHandler {
		return map[string]nats.MsgHandler{
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbInventory): func(m *nats.Msg) {
				respondJSON(m, lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: sum, Actors: []lattice.ActorDescription{}})
			},
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbStartActor): func(m *nats.Msg) {
				starts.Add(1)
				respondJSON(m, lattice.Ack{Accepted: true}) // and nothing more, ever
			},
		}
	})
	return &starts
}

func deployManifest(t *testing.T, store *app.Store, yaml string) {
	t.Helper()
	m, err := manifest.Parse("app.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Deploy(ctx, m.Metadata.Name, ""); err != nil {
		t.Fatal(err)
	}
}

func oneActorApp(name, module, zone string) string {
	return fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: %s}
spec:
  components:
    - name: %s
      type: actor
      properties: {image: "file://%s"}
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread: [{name: z, requirements: {zone: %s}}]
`, name, name, module, zone)
}

// A host that accepts a start and never reports holds up only that
// component: another application deploys in seconds meanwhile, the
// wedged start fails at its deadline, and the status never shows the
// wedged host running anything.
func TestWedgedHostHoldsUpOnlyItsOwnComponent(t *testing.T) {
	l := newLattice(t)
	good := startHost(t, l, "good", "good")
	starts := wedgedHost(t, l.conn(t), map[string]string{"zone": "wedged"})
	module := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := reconciler.New(reconciler.Config{Conn: l.conn(t), HostID: "Nr", HostName: "r", LeaseTTL: 800 * time.Millisecond,
		Providers: manifest.Providers{}, Logger: quiet, ActionTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", rec.Leading))

	deployManifest(t, l.store, oneActorApp("stuck", module, "wedged"))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the wedged host to accept the start", func() bool { return starts.Load() > 0 }))
	begin := time.Now()
	deployManifest(t, l.store, oneActorApp("other", module, "good"))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the other app to deploy", func() bool {
		st, err := l.store.Status(context.Background(), "other")
		return err == nil && st.Phase == app.PhaseDeployed && count(good, "other") == 1
	}))
	took := time.Since(begin)
	t.Logf("another app deployed in %s while a start hung", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Fatalf("the other app took %s to deploy", took)
	}
	var st *app.Status
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the wedged start to fail", func() bool {
		st, err = l.store.Status(context.Background(), "stuck")
		return err == nil && st.Phase == app.PhaseFailed
	}))
	if !strings.Contains(st.Message, "accepted the command but its outcome did not arrive") {
		t.Fatalf("status message = %q", st.Message)
	}
	if c := st.Components[0]; c.Running != 0 || len(c.Hosts) != 0 {
		t.Fatalf("status shows placements no inventory confirms: %+v", c)
	}
}

// TestAHostThatVanishedSilentlyLosesItsShareAtOnce: a host answers the
// reconciler's first look, then is gone without a word (no disconnect
// advisory, no host_stopped: its subscriptions simply ended, its
// connection stays). The start the reconciler sends it finds nobody, so
// the reconciler asks at once whether the host is there and moves its
// share, rather than retry it until the host's heartbeats are missed
// (over a minute).
func TestAHostThatVanishedSilentlyLosesItsShareAtOnce(t *testing.T) {
	l := newLattice(t)
	good := startHost(t, l, "good", "z")
	nc := l.conn(t)
	kp, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := kp.PublicKey()
	sum := lattice.HostSummary{ID: id, Name: "ghost", Lattice: lattice.DefaultLattice, Labels: map[string]string{"zone": "z"}, StartedAt: time.Now()}
	var subs []*nats.Subscription
	var gone sync.Once
	vanish := func() {
		gone.Do(func() {
			for _, s := range subs {
				s.Unsubscribe()
			}
		})
	}
	for subject, fn := range map[string]nats.MsgHandler{
		lattice.PingSubject(lattice.DefaultLattice): func(m *nats.Msg) { respondJSON(m, sum) },
		lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbInventory): func(m *nats.Msg) {
			respondJSON(m, lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: sum, Actors: []lattice.ActorDescription{}})
			go vanish()
		},
	} {
		s, err := nc.Subscribe(subject, fn)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	t.Cleanup(vanish)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := reconciler.New(reconciler.Config{Conn: l.conn(t), HostID: "Nr", HostName: "r", LeaseTTL: 800 * time.Millisecond,
		Providers: manifest.Providers{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", rec.Leading))

	deployManifest(t, l.store, strings.Replace(oneActorApp("spread", module, "z"), "replicas: 1", "replicas: 2", 1))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("both instances on the host that is there", func() bool {
		st, err := l.store.Status(context.Background(), "spread")
		return err == nil && st.Phase == app.PhaseDeployed && count(good, "spread") == 2
	}))
}
