package reconciler_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/lattice/reconciler"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type lat struct {
	*authtest.Lattice
	store *app.Store
}

func newLattice(t *testing.T) *lat {
	t.Helper()
	l := &lat{Lattice: authtest.Start(t, natsserver.Config{Port: -1})}
	// Reconcilers wait for the bucket the first deploy creates.
	js, err := jetstream.New(l.conn(t))
	if err != nil {
		t.Fatal(err)
	}
	if l.store, err = app.Open(context.Background(), js, lattice.DefaultLattice); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *lat) conn(t *testing.T) *nats.Conn {
	t.Helper()
	return l.Connect(t, auth.HostUser)
}

// running is a reconciler with the means to stop it.
type running struct {
	rec    *reconciler.Reconciler
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *lat) reconciler(t *testing.T, name string) *running {
	t.Helper()
	nc := l.conn(t)
	rec, err := reconciler.New(reconciler.Config{Conn: nc, HostID: "N" + name, HostName: name, LeaseTTL: 800 * time.Millisecond,
		Providers: manifest.Providers{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{rec: rec, nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func leaders(rs []*running) []*running {
	var out []*running
	for _, r := range rs {
		if r.rec.Leading() {
			out = append(out, r)
		}
	}
	return out
}

// TestOneReconcilerLeadsAndAnotherTakesOver: of three reconcilers one
// holds the lease; when it stops, or its host vanishes without a word,
// another takes over, and never two at once.
func TestOneReconcilerLeadsAndAnotherTakesOver(t *testing.T) {
	l := newLattice(t)
	rs := []*running{l.reconciler(t, "a"), l.reconciler(t, "b"), l.reconciler(t, "c")}
	var mu sync.Mutex
	two := false
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() { // never two leaders (each lease step is a compare-and-set)
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if len(leaders(rs)) > 1 {
				mu.Lock()
				two = true
				mu.Unlock()
			}
		}
	}()
	testwait.Eventually(t, 20*time.Second, testwait.Holds("a leader", func() bool { return len(leaders(rs)) == 1 }))
	first := leaders(rs)[0]
	first.cancel() // a clean stop releases the lease
	<-first.done
	testwait.Eventually(t, 20*time.Second, testwait.Holds("a second leader", func() bool { return len(leaders(rs)) == 1 && leaders(rs)[0] != first }))
	second := leaders(rs)[0]
	second.nc.Close() // gone without releasing: the lease runs out
	testwait.Eventually(t, 20*time.Second, testwait.Holds("a third leader", func() bool {
		for _, r := range rs {
			if r != first && r != second && r.rec.Leading() {
				return true
			}
		}
		return false
	}))
	close(stop)
	watch.Wait()
	mu.Lock()
	defer mu.Unlock()
	if two {
		t.Error("two reconcilers led at once")
	}
}

func startHost(t *testing.T, l *lat, name, zone string) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), l.conn(t), host.WithName(name), host.WithLabels(map[string]string{"zone": zone}),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithLogger(quiet), host.WithFileDirs(os.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return h
}

func count(h *host.Host, alias string) int {
	a, ok := h.Actor(alias)
	if !ok {
		return 0
	}
	return a.Describe().Instances
}

// TestReconcilerPlacesHealsAndCleansUp runs hosts and a reconciler in
// process: a spread is placed by zone, a stopped host's share moves, and
// undeploy stops what the reconciler started and nothing else.
func TestReconcilerPlacesHealsAndCleansUp(t *testing.T) {
	l := newLattice(t)
	east1, east2, west := startHost(t, l, "east1", "east"), startHost(t, l, "east2", "east"), startHost(t, l, "west", "west")
	module := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Started by hand: the reconciler must leave it alone.
	if _, err := east1.StartActor(context.Background(), lattice.StartActorRequest{Ref: module, Name: "byhand"}); err != nil {
		t.Fatal(err)
	}
	r := l.reconciler(t, "r")
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", r.rec.Leading))

	ctx := context.Background()
	store := l.store
	m, err := manifest.Parse("hello.yaml", []byte(fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: hello}
spec:
  components:
    - name: hello
      type: actor
      properties: {image: "file://%s"}
      traits:
        - type: spreadscaler
          properties:
            replicas: 5
            spread:
              - {name: east, requirements: {zone: east}, weight: 80}
              - {name: west, requirements: {zone: west}, weight: 20}
`, module)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Deploy(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("2+2+1 placement", func() bool {
		return count(east1, "hello") == 2 && count(east2, "hello") == 2 && count(west, "hello") == 1
	}))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("status deployed", func() bool {
		st, err := store.Status(ctx, "hello")
		return err == nil && st.Phase == app.PhaseDeployed && st.Components[0].Running == 5
	}))

	east2.Stop(ctx) // host_stopped: its share moves at once
	testwait.Eventually(t, 20*time.Second, testwait.Holds("east1 to take east2's share", func() bool { return count(east1, "hello") == 4 && count(west, "hello") == 1 }))

	if _, err := store.Undeploy(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the app's actors to stop", func() bool { return count(east1, "hello") == 0 && count(west, "hello") == 0 }))
	if count(east1, "byhand") != 1 {
		t.Fatal("undeploy stopped an actor started by hand")
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("status undeployed", func() bool {
		st, err := store.Status(ctx, "hello")
		return err == nil && st.Phase == app.PhaseUndeployed
	}))
}

// TestExternalProviderIsAwaitedThenLinked: a capability no built-in serves
// (wadm deploys those) is an external provider: the actor runs and is
// linked, and the status waits for a provider until a process answers on
// the provider's subject; then the application is deployed.
func TestExternalProviderIsAwaitedThenLinked(t *testing.T) {
	l := newLattice(t)
	h := startHost(t, l, "h", "east")
	module := filepath.Join(t.TempDir(), "hello.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := l.reconciler(t, "r")
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", r.rec.Leading))
	ctx := context.Background()
	m, err := manifest.Parse("blob.yaml", []byte(fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: files}
spec:
  components:
    - name: hello
      type: actor
      properties: {image: "file://%s"}
      traits:
        - type: spreadscaler
          properties: {replicas: 1}
        - type: linkdef
          properties: {target: blob, values: {ROOT: /srv/files}}
    - name: blob
      type: capability
      properties: {image: ghcr.io/acme/blobstore-fs:0.1.0, contract: wasmcloud:blobstore}
`, module)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.store.Put(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := l.store.Deploy(ctx, "files", ""); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the status to wait for the provider", func() bool {
		st, err := l.store.Status(ctx, "files")
		return err == nil && st.Phase == app.PhaseReconciling && st.Message == "waiting for a provider of wasmcloud:blobstore (link default)"
	}))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the actor to run while the provider is awaited", func() bool { return count(h, "hello") == 1 }))
	// The link is in place already, naming the component as its provider.
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the link", func() bool {
		ls, err := h.Links(ctx)
		return err == nil && len(ls) == 1 && ls[0].ProviderID == "blob" && ls[0].ContractID == "wasmcloud:blobstore" && ls[0].Values["ROOT"] == "/srv/files"
	}))
	p := l.Connect(t, auth.ProviderUser)
	if _, err := p.Subscribe(lattice.ProviderSubject("default", "wasmcloud:blobstore", "default"), func(m *nats.Msg) { m.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	p.Flush()
	testwait.Eventually(t, 20*time.Second, testwait.Holds("status deployed once a provider answers", func() bool {
		st, err := l.store.Status(ctx, "files")
		return err == nil && st.Phase == app.PhaseDeployed
	}))
}

// TestComponentNameNeedNotBeTheActorsAlias: as in wadm, a manifest names
// its components as it likes; a signed actor whose claims fix another call
// alias runs under that alias, and the reconciler scales, links and stops
// it by what the hosts report.
func TestComponentNameNeedNotBeTheActorsAlias(t *testing.T) {
	l := newLattice(t)
	h := startHost(t, l, "h", "east")
	acct, err := claims.GenerateKeyPair(claims.KindAccount)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := claims.GenerateKeyPair(claims.KindModule)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := claims.Sign(testwasm.Conformance(t, "wapc/hello_go.wasm"),
		claims.SignOptions{Name: "Greeter", CallAlias: "acme/greeter", Caps: []string{"wasmcloud:blobstore"}}, acct, mod)
	if err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(t.TempDir(), "greeter.wasm")
	if err := os.WriteFile(module, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	r := l.reconciler(t, "r")
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", r.rec.Leading))
	ctx := context.Background()
	deploy := func(replicas int) {
		t.Helper()
		m, err := manifest.Parse("greeter.yaml", []byte(fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: greet, annotations: {version: v%d}}
spec:
  components:
    - name: frontdoor
      type: actor
      properties: {image: "file://%s"}
      traits:
        - type: spreadscaler
          properties: {replicas: %d}
        - type: linkdef
          properties: {target: blob}
    - name: blob
      type: capability
      properties: {image: ghcr.io/acme/blobstore-fs:0.1.0, contract: wasmcloud:blobstore}
`, replicas, module, replicas)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.store.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := l.store.Deploy(ctx, "greet", ""); err != nil {
			t.Fatal(err)
		}
	}
	deploy(2)
	testwait.Eventually(t, 20*time.Second, testwait.Holds("2 instances under the claims' alias", func() bool { return count(h, "acme/greeter") == 2 }))
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the link of the actor's key", func() bool {
		ls, err := h.Links(ctx)
		return err == nil && len(ls) == 1 && ls[0].ActorName == "acme/greeter" && ls[0].ActorID == mod.PublicKey()
	}))
	deploy(3) // a scale goes to the alias the host knows
	testwait.Eventually(t, 20*time.Second, testwait.Holds("3 instances", func() bool { return count(h, "acme/greeter") == 3 }))
	if _, err := l.store.Undeploy(ctx, "greet"); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the actor stopped", func() bool { return count(h, "acme/greeter") == 0 }))
}
