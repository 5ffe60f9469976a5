package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/selfsigned"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestAnonymousConnectionsAreRefused: `wisp up` requires credentials on its
// listener, and a CLI without them says so with exit code 9.
func TestAnonymousConnectionsAreRefused(t *testing.T) {
	h := startHost(t)
	if _, err := nats.Connect(h.url, nats.Timeout(2*time.Second)); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Fatalf("anonymous connection: %v", err)
	}
	// A CLI with a configuration of its own (no auth store, no context).
	_, errOut, code := runEnv(t, []string{"WISP_CONFIG_DIR=" + t.TempDir()}, h.url, "get", "hosts")
	if code != 9 || !strings.Contains(errOut, "--nats-creds") {
		t.Fatalf("get hosts without credentials: exit %d, %q", code, errOut)
	}
}

// TestCallerCredsReachOnlyTheirActors walks every attack a caller's
// credentials could try against a running lattice: each fails with a NATS
// permissions violation, and the granted call works, as the README's
// nats.go snippet makes it.
func TestCallerCredsReachOnlyTheirActors(t *testing.T) {
	h := startHost(t)
	echo := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, h.url, "build", "./actors/echo", "-o", echo)
	mustRun(t, h.url, "start", "actor", echo)
	creds := filepath.Join(t.TempDir(), "shop.creds")
	mustRun(t, h.url, "creds", "create", "shop-frontend", "--role", "caller", "--allow-call", "echo", "-o", creds)
	if fi, err := os.Stat(creds); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("creds file: %v %v", fi, err)
	}
	if out := mustRun(t, h.url, "creds", "list"); !strings.Contains(out, "shop-frontend") || !strings.Contains(out, "caller") {
		t.Fatalf("creds list = %q", out)
	}

	// The README's snippet.
	nc, err := nats.Connect(h.url, nats.UserCredentials(creds), nats.CustomInboxPrefix("_INBOX.shop-frontend"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg := nats.NewMsg("wisp.rpc.default.echo")
	msg.Header.Set("Wisp-Operation", "Echo.Reply")
	msg.Data = []byte("hello")
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil || reply.Header.Get("Wisp-Error") != "" || string(reply.Data) != "hello" {
		t.Fatalf("granted call: %v %v", reply, err)
	}

	c, err := authtest.Watch(t, h.url, nats.UserCredentials(creds), nats.CustomInboxPrefix("_INBOX.shop-frontend"))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(*nats.Msg) {}
	c.Refused(t, "subscribe to every call", "wisp.rpc.default.>", func() error { _, err := c.Subscribe("wisp.rpc.default.>", noop); return err })
	c.Refused(t, "answer echo's calls in its queue group", "wisp.rpc.default.echo", func() error {
		_, err := c.QueueSubscribe("wisp.rpc.default.echo", "wisp.rpc.default.echo", noop)
		return err
	})
	c.Refused(t, "read the admin's replies", "_INBOX.admin.>", func() error { _, err := c.Subscribe("_INBOX.admin.>", noop); return err })
	c.Refused(t, "read every reply", "_INBOX.>", func() error { _, err := c.Subscribe("_INBOX.>", noop); return err })
	c.Refused(t, "call an actor it was not granted", "wisp.rpc.default.kvcounter", func() error { return c.Publish("wisp.rpc.default.kvcounter", nil) })
	hostID := hostsByName(t, h.url, "default", 1)
	var id string
	for _, s := range hostID {
		id = s.ID
	}
	c.Refused(t, "stop a host", "wisp.ctl.default.host."+id+".stop", func() error { return c.Publish("wisp.ctl.default.host."+id+".stop", nil) })
	c.Refused(t, "stop every host", "wisp.ctl.default.>", func() error { return c.Publish("wisp.ctl.default.>", nil) })
	forged := nats.NewMsg("wisp.prov.default.wasmcloud:keyvalue.default")
	forged.Header.Set("Wisp-Source", "MSOMEONEELSE")
	c.Refused(t, "call a provider as another actor", "wisp.prov.default.wasmcloud:keyvalue.default", func() error { return c.PublishMsg(forged) })
	c.Refused(t, "pose as a provider", "wisp.prov.default.>", func() error { _, err := c.Subscribe("wisp.prov.default.>", noop); return err })
	c.Refused(t, "take the reconciler's lease", "$KV.WISP_APPS_default.lease", func() error { return c.Publish("$KV.WISP_APPS_default.lease", []byte("me")) })
	c.Refused(t, "put a link", "$KV.WISP_LINKS_default.x", func() error { return c.Publish("$KV.WISP_LINKS_default.x", []byte("{}")) })
	c.Refused(t, "use JetStream", "$JS.API.STREAM.DELETE.WISP_EVENTS_default", func() error {
		return c.Publish("$JS.API.STREAM.DELETE.WISP_EVENTS_default", nil)
	})
	c.Refused(t, "flood the event stream", "wisp.evt.default.host_stopped", func() error { return c.Publish("wisp.evt.default.host_stopped", []byte("{}")) })

	// The host never saw any of it: it still serves, and still runs.
	if out := mustRun(t, h.url, "call", "echo", "Echo.Reply", "still here"); out != "still here\n" {
		t.Fatalf("after the attacks: %q", out)
	}
	// A caller role needs its grants.
	if _, errOut, code := run(t, h.url, "creds", "create", "nogrant", "--role", "caller"); code != 2 || !strings.Contains(errOut, "--allow-call") {
		t.Fatalf("caller without --allow-call: exit %d, %q", code, errOut)
	}
}

// TestRevokedCredsStopWorkingWithoutARestart: `wisp creds revoke` closes
// the user's live connection and its creds no longer connect, while the
// host keeps running.
func TestRevokedCredsStopWorkingWithoutARestart(t *testing.T) {
	h := startHost(t)
	creds := filepath.Join(t.TempDir(), "app.creds")
	mustRun(t, h.url, "creds", "create", "app", "--role", "caller", "--allow-call", "*", "-o", creds)
	closed := make(chan struct{})
	nc, err := nats.Connect(h.url, nats.UserCredentials(creds), nats.CustomInboxPrefix("_INBOX.app"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	mustRun(t, h.url, "creds", "revoke", "app")
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked user's connection stayed open")
	}
	if _, err := nats.Connect(h.url, nats.UserCredentials(creds), nats.Timeout(2*time.Second)); err == nil {
		t.Fatal("revoked creds connected again")
	}
	if out := mustRun(t, h.url, "creds", "list"); !strings.Contains(out, "revoked") {
		t.Fatalf("creds list after revoke = %q", out)
	}
	if _, _, code := run(t, h.url, "creds", "revoke", "nobody"); code != 3 {
		t.Fatalf("revoke an unknown user: exit %d", code)
	}
	hostsByName(t, h.url, "default", 1)
}

// TestHubRefusesAnAnonymousLeaf: a hub's leaf listener takes only leaf
// credentials of its operator; with `wisp creds create --role leaf` the same
// server joins.
func TestHubRefusesAnAnonymousLeaf(t *testing.T) {
	leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hub := startHost(t, "--leaf-listen", leaf)
	ctx := context.Background()
	anon, err := natsserver.Start(ctx, natsserver.Config{Port: -1, NoJetStream: true, LeafRemotes: []string{leaf}})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Shutdown()
	creds := filepath.Join(t.TempDir(), "plant-1.creds")
	mustRun(t, hub.url, "creds", "create", "plant-1", "--role", "leaf", "-o", creds)
	site, err := natsserver.Start(ctx, natsserver.Config{Port: -1, NoJetStream: true, LeafRemotes: []string{leaf}, LeafCredentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Shutdown()
	testwait.Eventually(t, 10*time.Second, func() error {
		if n := site.LeafNodes(); n != 1 {
			return fmt.Errorf("the leaf with credentials has not connected: %d leaf connections", n)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // the anonymous leaf has retried by now
	if n := anon.LeafNodes(); n != 0 {
		t.Fatalf("the anonymous leaf is connected (%d)", n)
	}
}

// TestTLSOnEveryListener: `wisp up --tls auto` serves TLS with a CA of its
// own, which the context hands the CLI; a client trusting another CA fails
// the handshake.
func TestTLSOnEveryListener(t *testing.T) {
	h := startHost(t, "--tls", "auto")
	if out := mustRun(t, h.url, "get", "hosts"); !strings.Contains(out, "NAME") {
		t.Fatalf("get hosts over TLS = %q", out)
	}
	other, err := selfsigned.Ensure(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cr := credsOf(t, lattice.DefaultLattice, auth.AdminUser)
	_, err = nats.Connect(h.url, nats.UserCredentials(cr.CredsFile), nats.RootCAs(other.CA), nats.Timeout(2*time.Second))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA: %v, want a certificate error", err)
	}
	// Plain text is not spoken either.
	if _, err := nats.Connect(h.url, nats.UserCredentials(cr.CredsFile), nats.Timeout(2*time.Second)); err == nil {
		t.Fatal("a client without TLS connected")
	}
}

// TestOpenModeIsLoopbackOnlyAndLoud: --insecure-no-auth is the old open
// mode for experiments. This test runs open on purpose: it is the one that
// checks what open mode gives up and where it is refused.
func TestOpenModeIsLoopbackOnlyAndLoud(t *testing.T) {
	_, errOut, code := run(t, "", "up", "--insecure-no-auth", "--nats-host", "0.0.0.0", "--nats-port", fmt.Sprint(freePort(t)))
	if code != 2 || !strings.Contains(errOut, "--insecure-no-auth would let anyone") || !strings.Contains(errOut, "--tls") {
		t.Fatalf("open mode on 0.0.0.0: exit %d, %q", code, errOut)
	}
	h := startHost(t, "--insecure-no-auth")
	if !strings.Contains(h.logs.String(), "--insecure-no-auth: the NATS server requires no credentials") {
		t.Fatalf("no warning:\n%s", h.logs)
	}
	nc, err := nats.Connect(h.url)
	if err != nil {
		t.Fatalf("open mode refused an anonymous client: %v", err)
	}
	nc.Close()
}
