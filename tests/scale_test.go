package tests

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
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/lattice/reconciler"
	"github.com/wisp-dev/wisp/provider"
)

// scaleMember is one host of the scale test, as `wisp up` runs it: its own
// NATS connection, shared by the host and its reconciler.
type scaleMember struct {
	h      *host.Host
	nc     *nats.Conn
	rec    *reconciler.Reconciler
	cancel context.CancelFunc
	done   chan struct{}
	group  int
}

// TestHundredHostsPlaceAndHealAnApp is the reduced form of the thousand-host
// run (bench/latticescale): 100 hosts in 4 groups (each group sharing an
// engine, as the hosts of one process would), every host with its own
// connection and reconciler, on a secured server. An application of 300
// instances is placed in full; the group holding the active reconciler
// then vanishes as a killed process does (connections closed, nothing
// said), and the 300 instances are placed again on the 75 hosts left,
// none lost, and they answer calls. It asserts correctness only: the
// timings are bench/latticescale's.
func TestHundredHostsPlaceAndHealAnApp(t *testing.T) {
	const hosts, groups, instances = 100, 4, 300
	module := filepath.Join(t.TempDir(), "echo.wasm")
	if err := os.WriteFile(module, testwasm.Wat(t, filepath.Join(testwasm.Root(), "bench", "latticescale", "echo.wat")), 0o644); err != nil {
		t.Fatal(err)
	}
	l := authtest.Start(t, natsserver.Config{Port: -1})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	engines := make([]engine.Engine, groups)
	for g := range engines {
		e, err := engine.New(engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		engines[g] = e
		t.Cleanup(func() { e.Close(context.Background()) })
	}
	copts, err := l.Creds(lattice.DefaultLattice, auth.HostUser).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	members := make([]*scaleMember, hosts)
	var wg sync.WaitGroup
	errs := make(chan error, hosts)
	for i := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := nats.Connect(l.Server.ClientURL(), copts...)
			if err != nil {
				errs <- err
				return
			}
			g := i % groups
			h, err := host.New(context.Background(), nc, host.WithName(fmt.Sprintf("h%03d", i)), host.WithEngineInstance(engines[g]),
				host.WithFileDirs(filepath.Dir(module)), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithLogger(quiet),
				host.WithDefaultLimits(lattice.ActorLimits{MaxMemoryPages: 4}))
			if err != nil {
				nc.Close()
				errs <- err
				return
			}
			rec, err := reconciler.New(reconciler.Config{Conn: nc, HostID: h.ID(), HostName: h.Name(),
				Providers: provider.Contracts(), Logger: quiet, Links: h.Links})
			if err != nil {
				errs <- err
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			m := &scaleMember{h: h, nc: nc, rec: rec, cancel: cancel, done: make(chan struct{}), group: g}
			go func() { defer close(m.done); rec.Run(ctx) }()
			members[i] = m
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range members {
			m.cancel()
			<-m.done
			m.h.Stop(context.Background())
			m.nc.Close()
		}
	})

	t.Logf("%d hosts up", hosts)
	admin := l.Connect(t, auth.AdminUser)
	c, err := lattice.NewClient(admin, lattice.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testwait.Eventually(t, time.Minute, func() error {
		hs, err := c.Hosts(ctx)
		if err != nil {
			return err
		}
		if len(hs) != hosts {
			return fmt.Errorf("%d hosts answer a ping, want %d", len(hs), hosts)
		}
		return nil
	})

	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	store, err := app.Open(ctx, js, lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	a, err := manifest.Parse("scale.yaml", []byte(fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: scale, annotations: {version: v1}}
spec:
  components:
    - name: echo
      type: actor
      properties: {image: "file://%s"}
      traits:
        - type: spreadscaler
          properties: {replicas: %d}
`, module, instances)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Deploy(ctx, "scale", ""); err != nil {
		t.Fatal(err)
	}
	// placed counts the app's instances on the live members, by host.
	placed := func(live func(*scaleMember) bool) (total, on int) {
		for _, m := range members {
			if !live(m) {
				continue
			}
			if act, ok := m.h.Actor("echo"); ok {
				n := act.Describe().Instances
				total += n
				if n > 0 {
					on++
				}
			}
		}
		return total, on
	}
	deployed := func(live func(*scaleMember) bool, want int) func() error {
		return func() error {
			total, on := placed(live)
			if total != instances || on != want {
				return fmt.Errorf("%d instances on %d hosts, want %d on %d", total, on, instances, want)
			}
			st, err := store.Status(ctx, "scale")
			if err != nil {
				return err
			}
			if st.Phase != app.PhaseDeployed || st.Components[0].Running != instances {
				return fmt.Errorf("status %s, %d running: %s", st.Phase, st.Components[0].Running, st.Message)
			}
			return nil
		}
	}
	all := func(*scaleMember) bool { return true }
	testwait.Eventually(t, 2*time.Minute, deployed(all, hosts))
	t.Logf("%d instances placed on %d hosts", instances, hosts)

	// The group whose host leads the reconcilers vanishes at once.
	var leader *scaleMember
	testwait.Eventually(t, 30*time.Second, testwait.Holds("one active reconciler", func() bool {
		leader = nil
		n := 0
		for _, m := range members {
			if m.rec.Leading() {
				leader, n = m, n+1
			}
		}
		return n == 1
	}))
	killed := leader.group
	for _, m := range members {
		if m.group == killed {
			m.nc.Close() // as a kill does: no host_stopped, no lease release
		}
	}
	t.Logf("group %d (the active reconciler's) gone", killed)
	alive := func(m *scaleMember) bool { return m.group != killed }
	testwait.Eventually(t, 2*time.Minute, deployed(alive, hosts-hosts/groups))
	testwait.Eventually(t, 30*time.Second, testwait.Holds("a new active reconciler among the living", func() bool {
		for _, m := range members {
			if alive(m) && m.rec.Leading() {
				return true
			}
		}
		return false
	}))
	for i := range 20 {
		out, err := c.Call(ctx, "echo", "e", []byte(fmt.Sprintf("call %d", i)))
		if err != nil || string(out) != fmt.Sprintf("call %d", i) {
			t.Fatalf("call %d through the healed lattice: %q, %v", i, out, err)
		}
	}
}
