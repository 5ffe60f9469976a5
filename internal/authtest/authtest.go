// Package authtest starts embedded NATS servers that require credentials,
// as `wisp up` does, for the tests of packages that connect to a lattice:
// they run with authentication on and connect as the role they play.
package authtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// Lattice is a secured server and the auth store it trusts.
type Lattice struct {
	Server *natsserver.Server
	Store  *auth.Store
}

// Start starts a server with cfg (Port -1 picks a free one), trusting a
// new auth store with the accounts of lattices (default: the default
// lattice), and stops it when the test ends.
func Start(t testing.TB, cfg natsserver.Config, lattices ...string) *Lattice {
	t.Helper()
	if len(lattices) == 0 {
		lattices = []string{lattice.DefaultLattice}
	}
	st, err := auth.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth, err = st.ServerConfig(lattices...); err != nil {
		t.Fatal(err)
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	srv, err := natsserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return &Lattice{Server: srv, Store: st}
}

// Creds are the credentials of the store's own user (auth.HostUser,
// auth.AdminUser, auth.ProviderUser, auth.LeafUser) of lattice L.
func (l *Lattice) Creds(L, user string) lattice.Credentials {
	return lattice.Credentials{CredsFile: l.Store.LocalCreds(L, user)}
}

// Connect connects over TCP as user of the default lattice and closes the
// connection when the test ends.
func (l *Lattice) Connect(t testing.TB, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	copts, err := l.Creds(lattice.DefaultLattice, user).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(l.Server.ClientURL(), append(copts, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectInProcess is Connect through the in-process connection a host of
// `wisp up` uses.
func (l *Lattice) ConnectInProcess(t testing.TB, user string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	copts, err := l.Creds(lattice.DefaultLattice, user).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := l.Server.Connect(append(copts, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Watched is a NATS connection whose asynchronous errors a test can wait
// for: the server reports a refused publish or subscription that way.
type Watched struct {
	*nats.Conn
	errs chan error
}

// Watch connects to url with opts, keeping the connection's asynchronous
// errors, and closes it when the test ends.
func Watch(t testing.TB, url string, opts ...nats.Option) (*Watched, error) {
	t.Helper()
	w := &Watched{errs: make(chan error, 32)}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case w.errs <- err:
		default:
		}
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	w.Conn = nc
	return w, nil
}

// Refused fails the test unless the server refused what do did on subject
// with a permissions violation naming it.
func (w *Watched) Refused(t testing.TB, what, subject string, do func() error) {
	t.Helper()
	if err := do(); err != nil {
		if auth.IsPermissionError(err) {
			return
		}
		t.Fatalf("%s %s: %v, want a permissions violation", what, subject, err)
	}
	w.Flush()
	select {
	case err := <-w.errs:
		if !auth.IsPermissionError(err) || !strings.Contains(err.Error(), subject) {
			t.Fatalf("%s %s: %v, want a permissions violation naming it", what, subject, err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("%s %s was allowed", what, subject)
	}
}
