package reconciler_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/reconciler"
)

// laggingHost is a fake host whose first inventory is older than what it
// runs: it lists nothing until asked to start the actor, answers that start
// "already running on this host", and lists the actor from then on.
func laggingHost(t *testing.T, nc *nats.Conn, labels map[string]string) {
	t.Helper()
	var mu sync.Mutex
	var running []lattice.ActorDescription
	fakeHost(t, nc, "lagging", labels, func(id string, sum lattice.HostSummary) map[string]nats.MsgHandler {
		return map[string]nats.MsgHandler{
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbInventory): func(m *nats.Msg) {
				mu.Lock()
				defer mu.Unlock()
				respondJSON(m, lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: sum, Actors: append([]lattice.ActorDescription{}, running...)})
			},
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbStartActor): func(m *nats.Msg) {
				var req lattice.StartActorRequest
				json.Unmarshal(m.Data, &req)
				mu.Lock()
				running = []lattice.ActorDescription{{Name: req.Name, Ref: req.Ref, Instances: max(req.Count, 1), Annotations: req.Annotations}}
				mu.Unlock()
				respondJSON(m, lattice.Ack{Error: "start actor " + req.Name + ": " + lattice.AlreadyRunning + " (scale it, or stop it first)", Code: lattice.CodeRefused})
			},
		}
	})
}

// TestAStartTheHostHadDoneIsNoFailure: a start that a host refuses because
// the actor already runs there (the plan was older than its inventory) is
// taken as done: the application deploys and its status never shows the
// refusal.
func TestAStartTheHostHadDoneIsNoFailure(t *testing.T) {
	l := newLattice(t)
	startHost(t, l, "other", "other") // a real host: it answers the link reads
	laggingHost(t, l.conn(t), map[string]string{"zone": "lag"})
	module := filepath.Join(t.TempDir(), "lagged.wasm")
	if err := os.WriteFile(module, testwasm.Conformance(t, "wapc/hello_go.wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	deploysWithoutRefusals(t, l, manifest.Providers{}, "lagged", oneActorApp("lagged", module, "lag"))
}

// deploysWithoutRefusals runs a reconciler, deploys the application name
// and checks it deploys without its status ever showing a start refused
// as already running.
func deploysWithoutRefusals(t *testing.T, l *lat, providers manifest.Providers, name, yaml string) {
	t.Helper()
	rec, err := reconciler.New(reconciler.Config{Conn: l.conn(t), HostID: "Nr", HostName: "r", LeaseTTL: 800 * time.Millisecond,
		Providers: providers, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the reconciler to lead", rec.Leading))
	deployManifest(t, l.store, yaml)
	var seen []string
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the app to deploy", func() bool {
		st, err := l.store.Status(context.Background(), name)
		if err != nil {
			return false
		}
		for _, c := range st.Components {
			if c.Error != "" {
				seen = append(seen, c.Error)
			}
		}
		return st.Phase == app.PhaseDeployed
	}))
	for _, e := range seen {
		if strings.Contains(e, lattice.AlreadyRunning) {
			t.Fatalf("the status showed a start the host had done as a failure: %s", e)
		}
	}
}

// laggingProviderHost is laggingHost for a provider: it lists none until
// asked to start one, refuses that start as already running, and lists
// the provider from then on.
func laggingProviderHost(t *testing.T, nc *nats.Conn, labels map[string]string) {
	t.Helper()
	var mu sync.Mutex
	var running []lattice.ProviderDescription
	fakeHost(t, nc, "lagging", labels, func(id string, sum lattice.HostSummary) map[string]nats.MsgHandler {
		return map[string]nats.MsgHandler{
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbInventory): func(m *nats.Msg) {
				mu.Lock()
				defer mu.Unlock()
				respondJSON(m, lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: sum, Actors: []lattice.ActorDescription{},
					Providers: append([]lattice.ProviderDescription{}, running...)})
			},
			lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbStartProvider): func(m *nats.Msg) {
				var req lattice.StartProviderRequest
				json.Unmarshal(m.Data, &req)
				mu.Lock()
				running = []lattice.ProviderDescription{{Name: req.Name, Contract: "wasmcloud:messaging", LinkName: req.LinkName, Annotations: req.Annotations}}
				mu.Unlock()
				respondJSON(m, lattice.Ack{Error: "start provider " + req.Name + ": wasmcloud:messaging under link name \"default\" is " + lattice.AlreadyRunning, Code: lattice.CodeRefused})
			},
		}
	})
}

// TestAProviderStartTheHostHadDoneIsNoFailure: as for actors, a provider
// start a host refuses because the provider already runs there is taken
// as done (a CI run of the iot-pipeline example failed its deploy on it,
// the gateway behind a leaf node having been read as gone for a moment).
func TestAProviderStartTheHostHadDoneIsNoFailure(t *testing.T) {
	l := newLattice(t)
	startHost(t, l, "other", "other") // a real host: it answers the link reads
	laggingProviderHost(t, l.conn(t), map[string]string{"zone": "lag"})
	deploysWithoutRefusals(t, l, manifest.Providers{"messaging": "wasmcloud:messaging"}, "lagged", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: lagged}
spec:
  components:
    - name: messaging
      type: capability
      properties: {image: "wisp:messaging", contract: wasmcloud:messaging}
      traits:
        - type: daemonscaler
          properties:
            spread: [{name: z, requirements: {zone: lag}}]
`)
}
