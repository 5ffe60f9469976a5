package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	_ "github.com/wisp-dev/wisp/provider/messaging" // the edge host's provider
)

// flapProxy forwards TCP from addr to target and can cut every connection
// and stop listening (down), then listen on the same address again (up):
// an uplink that comes and goes.
type flapProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup // the accept loop and the copiers
	// stalled makes the proxy swallow what it reads: an uplink gone
	// silent, with no reset for either side to notice.
	stalled atomic.Bool
}

func (p *flapProxy) up() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("proxy listen %s: %w", p.addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.forward(c) }()
		}
	}()
	return nil
}

// forward copies both ways between c and a new connection to the target
// until either side closes or down cuts them.
func (p *flapProxy) forward(c net.Conn) {
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialing
		p.mu.Unlock()
		c.Close()
		t.Close()
		return
	}
	p.conns[c], p.conns[t] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.stalled.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	go pipe(c, t)
	go pipe(t, c)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, t)
	p.mu.Unlock()
}

// down stops listening and cuts every connection, and returns once the
// proxy's goroutines have ended.
func (p *flapProxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// uplink starts a hub server (JetStream domain cloud) and an edge server
// that is its leaf node through a flapProxy, and stops them when the test
// ends.
func uplink(t *testing.T, log *slog.Logger) (hub *natsserver.Server, proxy *flapProxy, edge *natsserver.Server) {
	t.Helper()
	ctx := context.Background()
	// Both servers trust the test's auth store; the edge's leaf
	// connection authenticates as its leaf user.
	st, err := auth.Open(filepath.Join(testConfigDir(t), "auth"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := st.ServerConfig(lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	leafAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hub, err = natsserver.Start(ctx, natsserver.Config{Port: -1, LeafListen: leafAddr, LeafNoAdvertise: true, JetStreamDomain: "cloud",
		StoreDir: t.TempDir(), Logger: log, Auth: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Shutdown)
	proxy = &flapProxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), target: leafAddr, conns: map[net.Conn]struct{}{}}
	if err := proxy.up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.down)
	edge, err = natsserver.Start(ctx, natsserver.Config{Port: -1, LeafRemotes: []string{"nats-leaf://" + proxy.addr}, Logger: log,
		Auth: cfg, LeafAccount: cfg.LatticeAccounts[lattice.DefaultLattice], LeafCredentials: st.LocalCreds(lattice.DefaultLattice, auth.LeafUser)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Shutdown)
	return hub, proxy, edge
}

// connectAs opens an in-process connection to srv as the test store's
// user (auth.HostUser, auth.AdminUser…) of the default lattice.
func connectAs(t *testing.T, srv *natsserver.Server, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	copts, err := credsOf(t, lattice.DefaultLattice, user).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(append(copts, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open files: %v", err)
	}
	return len(ents)
}

// TestEdgeHostSurvivesAFlappingUplink: an edge host on a leaf node whose
// uplink to the hub is cut and restored 50 times, every few hundred
// milliseconds, some cuts in the middle of the leaf handshake. The edge
// host serves its actor locally throughout; afterwards the hub reaches it
// again, and the process has as many goroutines and open files as before
// the flaps, within a small bound (no leak per flap).
func TestEdgeHostSurvivesAFlappingUplink(t *testing.T) {
	if testing.Short() {
		t.Skip("50 uplink flaps take about a minute")
	}
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("WISP_TEST_LOGS") != "" {
			t.Logf("hosts' output:\n%s", logs)
		}
	})
	hub, proxy, edge := uplink(t, log)

	newHost := func(srv *natsserver.Server, name string, labels map[string]string) *host.Host {
		nc := connectAs(t, srv, auth.HostUser, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Debug("NATS", "host", name, "err", err)
		}))
		h, err := host.New(ctx, nc, host.WithName(name), host.WithLabels(labels), host.WithJetStreamDomain("cloud"),
			host.WithLogger(log.With("name", name)), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithHeartbeat(time.Second), host.WithFileDirs(os.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Stop(context.Background()) })
		return h
	}
	newHost(hub, "cloud", map[string]string{"site": "cloud"})
	gw := newHost(edge, "gw", map[string]string{"site": "plant-1", "tier": "gateway"})
	if _, err := gw.StartProvider(ctx, lattice.StartProviderRequest{Name: "messaging"}); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.StartActor(ctx, lattice.StartActorRequest{Ref: testwasm.GoActorFile(t, "actors/echo"), Name: "echo", Count: 1}); err != nil {
		t.Fatal(err)
	}
	client := func(srv *natsserver.Server) *lattice.Client {
		nc := connectAs(t, srv, auth.AdminUser)
		c, err := lattice.NewClient(nc, lattice.WithTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return c
	}
	atHub, atEdge := client(hub), client(edge)
	// rejoined waits until the hub lists both hosts, reaches the edge's
	// actor and stores a link (the hub's JetStream through the edge's
	// watch is exercised on every flap that lasts).
	rejoined := func(what string) {
		t.Helper()
		testwait.Eventually(t, 30*time.Second, func() error {
			hosts, _ := atHub.Hosts(ctx)
			out, err := atHub.Call(ctx, "echo", "Echo.Reply", []byte("hub"))
			if len(hosts) != 2 || err != nil || string(out) != "hub" {
				return fmt.Errorf("%s: the hub does not reach the edge: %d hosts, call: %q %v", what, len(hosts), out, err)
			}
			return nil
		})
	}
	rejoined("before the flaps")
	testwait.Eventually(t, 30*time.Second, func() error {
		_, err := atHub.PutLink(ctx, lattice.Link{ActorID: "echo", ProviderID: "kv", ContractID: "wasmcloud:keyvalue"})
		return err
	})

	edgeCall := func(i int) {
		t.Helper()
		if out, err := atEdge.Call(ctx, "echo", "Echo.Reply", []byte("edge")); err != nil || string(out) != "edge" {
			t.Fatalf("flap %d: the edge's own actor at the edge: %q %v", i, out, err)
		}
	}
	waitLeaf := func(n int) {
		t.Helper()
		testwait.Eventually(t, 15*time.Second, func() error {
			if e, h := edge.LeafNodes(), hub.LeafNodes(); e != n || h != n {
				return fmt.Errorf("leaf connections: edge %d, hub %d, want %d", e, h, n)
			}
			return nil
		})
	}
	flap := func(i int) {
		proxy.down()
		waitLeaf(0)
		edgeCall(i)
		time.Sleep(200 * time.Millisecond)
		if err := proxy.up(); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			waitLeaf(1) // up long enough for the edge host to reach the hub's JetStream again
			time.Sleep(300 * time.Millisecond)
		} else {
			time.Sleep(time.Duration(100+(i*37)%500) * time.Millisecond) // cut whenever, handshake or not
		}
		edgeCall(i)
	}
	// One flap first, so that what starts once per process (reconnect
	// timers, pools) is in the baseline.
	flap(0)
	waitLeaf(1)
	rejoined("after the first flap")
	settle := func() (int, int) {
		runtime.GC()
		time.Sleep(2 * time.Second) // a heartbeat and a state loop backoff
		return runtime.NumGoroutine(), openFDs(t)
	}
	baseG, baseFD := settle()

	began := time.Now()
	peakG := 0
	for i := 1; i <= 50; i++ {
		flap(i)
		peakG = max(peakG, runtime.NumGoroutine())
	}
	waitLeaf(1)
	rejoined("after 50 flaps")
	took := time.Since(began)

	var g, fd int
	const slack = 10
	if err := testwait.Wait(20*time.Second, func() error {
		g, fd = settle()
		if g > baseG+slack || fd > baseFD+slack {
			return fmt.Errorf("after 50 flaps: %d goroutines (baseline %d), %d open files (baseline %d)", g, baseG, fd, baseFD)
		}
		return nil
	}); err != nil {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%v\n%s", err, buf[:n])
	}
	// The edge host follows the hub's link bucket again: a link put now
	// reaches its provider.
	linked := time.Now()
	if _, err := atHub.PutLink(ctx, lattice.Link{ActorID: "echo", ProviderID: "messaging", ContractID: "wasmcloud:messaging"}); err != nil {
		t.Fatalf("link put after the flaps: %v", err)
	}
	testwait.Eventually(t, 20*time.Second, func() error {
		if ps := gw.Inventory().Providers; len(ps) != 1 || ps[0].Links != 1 {
			return fmt.Errorf("the edge's messaging provider did not get the link put after the flaps: %+v", ps)
		}
		return nil
	})
	t.Logf("a link put at the hub after the flaps reached the edge's provider in %v", time.Since(linked).Round(time.Millisecond))
	t.Logf("50 uplink flaps in %v: goroutines %d before, %d after (peak %d during); open files %d before, %d after",
		took.Round(time.Second), baseG, g, peakG, baseFD, fd)
}

// TestEdgeNoticesASilentUplink: an uplink that stops carrying packets
// without a reset (a firewall dropping them, a cellular link gone) is
// noticed by the edge's leaf pings within seconds; from then calls at the
// edge to an actor only the cloud runs fail at once, the edge's own actor
// keeps answering, and the site re-joins when packets flow again.
func TestEdgeNoticesASilentUplink(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, proxy, edge := uplink(t, quiet)
	echo := testwasm.GoActorFile(t, "actors/echo")
	for _, s := range []struct {
		srv   *natsserver.Server
		alias string
	}{{hub, "cloudecho"}, {edge, "edgeecho"}} {
		nc := connectAs(t, s.srv, auth.HostUser)
		h, err := host.New(ctx, nc, host.WithJetStreamDomain("cloud"), host.WithLogger(quiet), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Stop(context.Background()) })
		if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: echo, Name: s.alias}); err != nil {
			t.Fatal(err)
		}
	}
	nc := connectAs(t, edge, auth.AdminUser)
	atEdge, _ := lattice.NewClient(nc, lattice.WithTimeout(2*time.Second))
	joined := time.Now()
	testwait.Eventually(t, 30*time.Second, func() error {
		if _, err := atEdge.Call(ctx, "cloudecho", "Echo.Reply", []byte("x")); err != nil {
			return fmt.Errorf("the edge does not reach the cloud's actor: %w", err)
		}
		return nil
	})
	t.Logf("joined in %v", time.Since(joined).Round(100*time.Millisecond))

	proxy.stalled.Store(true)
	cut := time.Now()
	var noticed time.Duration
	testwait.Eventually(t, 60*time.Second, func() error {
		start := time.Now()
		_, err := atEdge.Call(ctx, "cloudecho", "Echo.Reply", []byte("x"))
		if errors.Is(err, lattice.ErrActorNotRunning) {
			noticed = time.Since(cut)
			if took := time.Since(start); took > time.Second {
				t.Fatalf("a call to a cloud actor took %v once the uplink was known down", took)
			}
			return nil
		}
		if out, err := atEdge.Call(ctx, "edgeecho", "Echo.Reply", []byte("local")); err != nil || string(out) != "local" {
			t.Fatalf("the edge's own actor with the uplink silent: %q %v", out, err)
		}
		return fmt.Errorf("the edge does not know its uplink is gone: a call to the cloud's actor: %v", err)
	})
	t.Logf("a silent uplink was noticed after %v (leaf pings every %v, 3 missed)", noticed.Round(100*time.Millisecond), natsserver.LeafPingInterval)
	if noticed > 30*time.Second {
		t.Errorf("a silent uplink took %v to notice; leaf pings should notice within about 20s", noticed)
	}

	proxy.stalled.Store(false)
	back := time.Now()
	testwait.Eventually(t, 60*time.Second, func() error {
		if out, err := atEdge.Call(ctx, "cloudecho", "Echo.Reply", []byte("back")); err != nil || string(out) != "back" {
			return fmt.Errorf("the site did not re-join after the uplink came back: %q %v", out, err)
		}
		return nil
	})
	t.Logf("re-joined %v after packets flowed again", time.Since(back).Round(100*time.Millisecond))
}
