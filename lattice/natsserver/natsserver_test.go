package natsserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

func TestServerRunsJetStreamAndAnswersInProcess(t *testing.T) {
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if !strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("ClientURL = %s, want loopback", srv.ClientURL())
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream is not on: %v", err)
	}
	if max := nc.MaxPayload(); max != 8<<20 {
		t.Fatalf("max payload = %d, want 8 MiB", max)
	}
}

func TestPortInUseIsAClearError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = natsserver.Start(context.Background(), natsserver.Config{Port: port, NoJetStream: true})
	if err == nil || !strings.Contains(err.Error(), "--nats-port") {
		t.Fatalf("Start on a busy port = %v, want an error that says what to do", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestTwoServersFormAClusterWithReplicatedLinks: two embedded servers with
// routes to each other form a cluster whose JetStream replicates the link
// bucket on both (min(3, 2) replicas).
func TestTwoServersFormAClusterWithReplicatedLinks(t *testing.T) {
	ctx := context.Background()
	a, b := freeAddr(t), freeAddr(t)
	routes := []string{"nats-route://" + a, b}
	s1, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: t.TempDir(), ClusterListen: a, ClusterRoutes: routes})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Shutdown()
	s2, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: t.TempDir(), ClusterListen: b, ClusterRoutes: routes})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	nc, err := nats.Connect(s2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	testwait.Eventually(t, 30*time.Second, func() error { // the cluster elects its JetStream leader first
		kv, err = lattice.EnsureLinkBucket(ctx, js, "default")
		return err
	})
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; r != 2 {
		t.Fatalf("replicas = %d, want 2 on a two-server cluster", r)
	}
	// A client of the other server sees a subscriber of this one.
	nc1, err := s1.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc1.Close()
	nc1.Subscribe("hello", func(m *nats.Msg) { m.Respond([]byte("from s1")) })
	nc1.Flush()
	testwait.Eventually(t, 30*time.Second, func() error {
		if r, err := nc.Request("hello", nil, time.Second); err != nil || string(r.Data) != "from s1" {
			return fmt.Errorf("no route between the servers: %v", err)
		}
		return nil
	})
}

// TestLeafNodeReachesTheHubAndItsJetStream: an edge server connects to a
// hub as a leaf node; its clients call the hub's subscribers and use the
// hub's JetStream by its domain (the leaf has none of its own).
func TestLeafNodeReachesTheHubAndItsJetStream(t *testing.T) {
	ctx := context.Background()
	leafAddr := freeAddr(t)
	hub, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: t.TempDir(), LeafListen: leafAddr, JetStreamDomain: "cloud"})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Shutdown()
	edge, err := natsserver.Start(ctx, natsserver.Config{Port: -1, LeafRemotes: []string{leafAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer edge.Shutdown()
	hc, err := hub.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hc.Subscribe("hello", func(m *nats.Msg) { m.Respond([]byte("from the hub")) })
	hc.Flush()
	ec, err := edge.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	testwait.Eventually(t, 30*time.Second, func() error {
		if r, err := ec.Request("hello", nil, time.Second); err != nil || string(r.Data) != "from the hub" {
			return fmt.Errorf("the leaf node does not reach the hub: %v", err)
		}
		return nil
	})
	js, err := jetstream.NewWithDomain(ec, "cloud")
	if err != nil {
		t.Fatal(err)
	}
	kv, err := lattice.EnsureLinkBucket(ctx, js, "edge")
	if err != nil {
		t.Fatalf("link bucket through the leaf node: %v", err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	hjs, _ := jetstream.New(hc)
	hkv, err := hjs.KeyValue(ctx, lattice.LinkBucketName("edge"))
	if err != nil {
		t.Fatalf("the bucket is not at the hub: %v", err)
	}
	if e, err := hkv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
		t.Fatalf("hub reads %v, %v", e, err)
	}
}

func TestTopologyFlagsAreChecked(t *testing.T) {
	ctx := context.Background()
	for _, c := range []natsserver.Config{
		{Port: -1, ClusterRoutes: []string{"127.0.0.1:1"}},
		{Port: -1, ClusterListen: "no-port"},
		{Port: -1, ClusterListen: freeAddr(t), ClusterRoutes: []string{"nats-route://"}},
		{Port: -1, LeafRemotes: []string{"nats-leaf://hostonly"}},
	} {
		if s, err := natsserver.Start(ctx, c); err == nil {
			s.Shutdown()
			t.Errorf("Start(%+v) succeeded", c)
		}
	}
}

// TestClusterRoutesAuthenticate: members sharing an auth store (so the same
// route secret) form a cluster; a server without the secret is refused.
func TestClusterRoutesAuthenticate(t *testing.T) {
	ctx := context.Background()
	st, err := auth.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := st.ServerConfig("default")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := st.RouteSecret()
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := freeAddr(t), freeAddr(t), freeAddr(t)
	members := []string{a, b}
	start := func(listen, secret string, routes []string) *natsserver.Server {
		s, err := natsserver.Start(ctx, natsserver.Config{Port: -1, NoJetStream: true, StoreDir: t.TempDir(), ClusterListen: listen,
			ClusterRoutes: routes, Auth: cfg, RouteSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		return s
	}
	s1, s2 := start(a, secret, members), start(b, secret, members)
	stranger := start(c, "not-the-secret", []string{a})
	testwait.Eventually(t, 10*time.Second, func() error {
		if s1.Routes() < 1 || s2.Routes() < 1 {
			return fmt.Errorf("members did not route: %d %d", s1.Routes(), s2.Routes())
		}
		return nil
	})
	time.Sleep(2 * time.Second) // the stranger has tried by now
	if n := stranger.Routes(); n != 0 {
		t.Fatalf("a server without the route secret joined (%d routes)", n)
	}
}
