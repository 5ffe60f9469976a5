package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// securedServer starts an embedded server trusting a new store's operator,
// with the accounts of lattices.
func securedServer(t *testing.T, lattices ...string) (*auth.Store, *natsserver.Server) {
	t.Helper()
	l := authtest.Start(t, natsserver.Config{Port: -1}, lattices...)
	return l.Store, l.Server
}

// connect connects with a .creds file, keeping the connection's
// asynchronous errors (permission violations arrive that way).
func connect(t *testing.T, url, creds string) *authtest.Watched {
	t.Helper()
	opts, err := lattice.Credentials{CredsFile: creds}.NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	w, err := authtest.Watch(t, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func writeCreds(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnonymousConnectionIsRefused(t *testing.T) {
	_, srv := securedServer(t, "default")
	_, err := nats.Connect(srv.ClientURL(), nats.Timeout(2*time.Second))
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous connect: %v, want an authorization violation", err)
	}
}

// TestCallerCallsOnlyWhatItIsGranted: a caller's creds call echo and read
// the answer in its own inbox, and can do nothing else.
func TestCallerCallsOnlyWhatItIsGranted(t *testing.T) {
	st, srv := securedServer(t, "default")
	host := connect(t, srv.ClientURL(), st.LocalCreds("default", auth.HostUser))
	sub, err := host.QueueSubscribe("wisp.rpc.default.echo", "wisp.rpc.default.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	host.Flush()
	b, err := st.CreateUser("default", "shop", auth.RoleCaller, auth.Grant{Calls: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	caller := connect(t, srv.ClientURL(), writeCreds(t, b))
	msg, err := caller.Request("wisp.rpc.default.echo", []byte("hi"), 3*time.Second)
	if err != nil || string(msg.Data) != "hi" {
		t.Fatalf("granted call: %v %v", msg, err)
	}
	caller.Refused(t, "publish", "wisp.rpc.default.kvcounter", func() error { return caller.Publish("wisp.rpc.default.kvcounter", nil) })
	caller.Refused(t, "subscribe", "wisp.rpc.default.>", func() error { _, err := caller.Subscribe("wisp.rpc.default.>", func(*nats.Msg) {}); return err })
	caller.Refused(t, "queue subscribe", "wisp.rpc.default.echo", func() error {
		_, err := caller.QueueSubscribe("wisp.rpc.default.echo", "wisp.rpc.default.echo", func(*nats.Msg) {})
		return err
	})
	caller.Refused(t, "subscribe", "_INBOX.admin.>", func() error { _, err := caller.Subscribe("_INBOX.admin.>", func(*nats.Msg) {}); return err })
	caller.Refused(t, "subscribe", "wisp.prov.default.>", func() error { _, err := caller.Subscribe("wisp.prov.default.>", func(*nats.Msg) {}); return err })
	caller.Refused(t, "publish", "wisp.ctl.default.host.N1.stop", func() error { return caller.Publish("wisp.ctl.default.host.N1.stop", nil) })
	caller.Refused(t, "publish", "wisp.prov.default.wasmcloud:keyvalue.default", func() error {
		return caller.Publish("wisp.prov.default.wasmcloud:keyvalue.default", nil)
	})
	caller.Refused(t, "publish", "$KV.WISP_APPS_default.lease", func() error { return caller.Publish("$KV.WISP_APPS_default.lease", nil) })
	caller.Refused(t, "publish", "$JS.API.INFO", func() error { return caller.Publish("$JS.API.INFO", nil) })
	caller.Refused(t, "publish", "wisp.evt.default.host_stopped", func() error { return caller.Publish("wisp.evt.default.host_stopped", nil) })
}

// TestAdminCannotTakeCallsNorReadLinkSecrets: an admin drives the lattice
// but cannot answer in an actor's place, pose as a host to providers,
// publish events or read the link bucket (its values may be secrets).
func TestAdminCannotTakeCallsNorReadLinkSecrets(t *testing.T) {
	st, srv := securedServer(t, "default")
	admin := connect(t, srv.ClientURL(), st.LocalCreds("default", auth.AdminUser))
	admin.Refused(t, "subscribe", "wisp.rpc.default.echo", func() error { _, err := admin.Subscribe("wisp.rpc.default.echo", func(*nats.Msg) {}); return err })
	admin.Refused(t, "publish", "wisp.prov.default.wasmcloud:keyvalue.default", func() error {
		return admin.Publish("wisp.prov.default.wasmcloud:keyvalue.default", nil)
	})
	admin.Refused(t, "publish", "wisp.evt.default.host_started", func() error { return admin.Publish("wisp.evt.default.host_started", nil) })
	admin.Refused(t, "publish", "$JS.API.DIRECT.GET.KV_WISP_LINKS_default", func() error {
		return admin.Publish("$JS.API.DIRECT.GET.KV_WISP_LINKS_default", nil)
	})
	// What an admin does: JetStream (the application bucket) works.
	if _, err := admin.Request("$JS.API.INFO", nil, 3*time.Second); err != nil {
		t.Fatalf("admin JetStream: %v", err)
	}
}

// TestLatticesAreApartByAccount: a host of lattice blue sees nothing of
// default, even subscribing to everything.
func TestLatticesAreApartByAccount(t *testing.T) {
	st, srv := securedServer(t, "default", "blue")
	def := connect(t, srv.ClientURL(), st.LocalCreds("default", auth.HostUser))
	blue := connect(t, srv.ClientURL(), st.LocalCreds("blue", auth.HostUser))
	got := make(chan *nats.Msg, 1)
	// A host may subscribe to everything of its account: nothing of
	// default's arrives, not even on blue's own subjects.
	if _, err := blue.Subscribe(">", func(m *nats.Msg) { got <- m }); err != nil {
		t.Fatal(err)
	}
	blue.Flush()
	def.Publish("wisp.evt.default.host_started", []byte("from default"))
	def.Publish("wisp.evt.blue.host_started", []byte("from default"))
	def.Publish("wisp.rpc.blue.echo", []byte("from default"))
	def.Flush()
	select {
	case m := <-got:
		t.Fatalf("blue received %q from default's account", m.Data)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRevokedCredsStopWorkingWithoutARestart: the running server drops the
// revoked user's connection and refuses it afterwards.
func TestRevokedCredsStopWorkingWithoutARestart(t *testing.T) {
	st, srv := securedServer(t, "default")
	b, err := st.CreateUser("default", "shop", auth.RoleCaller, auth.Grant{Calls: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	creds := writeCreds(t, b)
	closed := make(chan struct{})
	opts, _ := lattice.Credentials{CredsFile: creds}.NATSOptions()
	nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	acct, err := st.Revoke("default", "shop")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := nats.Connect(srv.ClientURL(), nats.UserCredentials(st.SystemCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := auth.PushAccount(ctx, sys, acct); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked user's connection stayed open")
	}
	if _, err := nats.Connect(srv.ClientURL(), opts...); err == nil {
		t.Fatal("revoked creds connected")
	}
	users, _ := st.Users("default")
	for _, u := range users {
		if u.Name == "shop" && u.Revoked.IsZero() {
			t.Fatal("the store does not list shop as revoked")
		}
	}
	if _, err := st.Revoke("default", "nobody"); !errors.Is(err, auth.ErrNoUser) {
		t.Fatalf("revoke an unknown user: %v", err)
	}
}

func TestCallerNeedsGrantsAndRolesParse(t *testing.T) {
	st, err := auth.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser("default", "app", auth.RoleCaller, auth.Grant{}); err == nil || !strings.Contains(err.Error(), "--allow-call") {
		t.Fatalf("caller without grants: %v", err)
	}
	if _, err := st.CreateUser("default", "app", auth.RoleCaller, auth.Grant{Calls: []string{"a b"}}); err == nil {
		t.Fatal("a grant with whitespace was accepted")
	}
	if _, err := st.CreateUser("default", auth.AdminUser, auth.RoleAdmin, auth.Grant{}); err == nil {
		t.Fatal("the store's own admin name was accepted")
	}
	if _, err := st.CreateUser("default", "edge-1", auth.RoleHost, auth.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser("default", "edge-1", auth.RoleHost, auth.Grant{}); err == nil {
		t.Fatal("a second user edge-1 was made")
	}
	if _, err := auth.ParseRole("root"); err == nil || !strings.Contains(err.Error(), "admin, host, caller, provider, leaf, observer") {
		t.Fatalf("ParseRole: %v", err)
	}
	// A second Open of the same directory keeps the operator.
	a, _ := st.OperatorJWT()
	st2, err := auth.Open(st.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := st2.OperatorJWT(); a != b {
		t.Fatal("reopening made a new operator")
	}
	fi, err := os.Stat(filepath.Join(st.Dir(), "operator.nk"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator seed mode: %v %v", fi, err)
	}
}

// TestProviderCannotForgeNorTakeCalls: a provider process answers its
// contract's calls and calls actors, but cannot call another provider (its
// Wisp-Source would be a lie), answer actors' calls, send control commands
// or write the lattice's state.
func TestProviderCannotForgeNorTakeCalls(t *testing.T) {
	st, srv := securedServer(t, "default")
	b, err := st.CreateUser("default", "kv-proc", auth.RoleProvider, auth.Grant{Contracts: []string{"wasmcloud:keyvalue"}})
	if err != nil {
		t.Fatal(err)
	}
	p := connect(t, srv.ClientURL(), writeCreds(t, b))
	if _, err := p.Subscribe("wisp.prov.default.wasmcloud:keyvalue.default", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	p.Refused(t, "subscribe", "wisp.prov.default.wasmcloud:httpserver.default", func() error {
		_, err := p.Subscribe("wisp.prov.default.wasmcloud:httpserver.default", func(*nats.Msg) {})
		return err
	})
	p.Refused(t, "subscribe", "wisp.rpc.default.echo", func() error { _, err := p.Subscribe("wisp.rpc.default.echo", func(*nats.Msg) {}); return err })
	p.Refused(t, "subscribe", "_INBOX.admin.>", func() error { _, err := p.Subscribe("_INBOX.admin.>", func(*nats.Msg) {}); return err })
	p.Refused(t, "publish", "wisp.prov.default.wasmcloud:httpserver.default", func() error {
		return p.Publish("wisp.prov.default.wasmcloud:httpserver.default", nil)
	})
	p.Refused(t, "publish", "wisp.ctl.default.host.N1.stop", func() error { return p.Publish("wisp.ctl.default.host.N1.stop", nil) })
	p.Refused(t, "publish", "$KV.WISP_LINKS_default.x", func() error { return p.Publish("$KV.WISP_LINKS_default.x", nil) })
	p.Refused(t, "publish", "$JS.API.STREAM.DELETE.WISP_EVENTS_default", func() error {
		return p.Publish("$JS.API.STREAM.DELETE.WISP_EVENTS_default", nil)
	})
	// What it does: call actors, and keep a data bucket of its own.
	if err := p.Publish("wisp.rpc.default.echo", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Request("$JS.API.INFO", nil, 3*time.Second); err != nil {
		t.Fatalf("provider JetStream: %v", err)
	}
}

// TestObserverSpiesButChangesNothing: an observer renews its interest in an
// actor and reads the host's spy records and the events, and can neither
// call actors, send other commands, nor reach JetStream. An admin may spy
// too.
func TestObserverSpiesButChangesNothing(t *testing.T) {
	st, srv := securedServer(t, "default")
	host := connect(t, srv.ClientURL(), st.LocalCreds("default", auth.HostUser))
	interest, err := host.SubscribeSync(lattice.SpyInterestSubject("default", "*"))
	if err != nil {
		t.Fatal(err)
	}
	host.Flush()
	b, err := st.CreateUser("default", "watcher", auth.RoleObserver, auth.Grant{})
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name  string
		creds string
	}{{"observer", writeCreds(t, b)}, {"admin", st.LocalCreds("default", auth.AdminUser)}} {
		c := connect(t, srv.ClientURL(), who.creds)
		records, err := c.SubscribeSync(lattice.SpySubject("default", "echo"))
		if err != nil {
			t.Fatal(err)
		}
		c.Flush()
		if err := c.Publish(lattice.SpyInterestSubject("default", "echo"), []byte(`{"payload":true}`)); err != nil {
			t.Fatal(err)
		}
		if m, err := interest.NextMsg(3 * time.Second); err != nil || m.Subject != "wisp.ctl.default.spy.echo" {
			t.Fatalf("%s: the host got no interest: %v %v", who.name, m, err)
		}
		host.Publish(lattice.SpySubject("default", "echo"), []byte(`{"operation":"Echo.Reply"}`))
		host.Flush()
		if m, err := records.NextMsg(3 * time.Second); err != nil || !strings.Contains(string(m.Data), "Echo.Reply") {
			t.Fatalf("%s: no spy record: %v %v", who.name, m, err)
		}
	}
	obs := connect(t, srv.ClientURL(), writeCreds(t, b))
	obs.Refused(t, "publish", "wisp.rpc.default.echo", func() error { return obs.Publish("wisp.rpc.default.echo", nil) })
	obs.Refused(t, "publish", "wisp.ctl.default.host.N1.stop", func() error { return obs.Publish("wisp.ctl.default.host.N1.stop", nil) })
	obs.Refused(t, "publish", "$JS.API.INFO", func() error { return obs.Publish("$JS.API.INFO", nil) })
	obs.Refused(t, "subscribe", "wisp.rpc.default.echo", func() error { _, err := obs.Subscribe("wisp.rpc.default.echo", func(*nats.Msg) {}); return err })
	obs.Refused(t, "publish", "wisp.spy.default.echo", func() error { return obs.Publish("wisp.spy.default.echo", nil) })
	if r, err := auth.ParseRole("observer"); err != nil || r != auth.RoleObserver {
		t.Fatalf("ParseRole(observer) = %v, %v", r, err)
	}
}
