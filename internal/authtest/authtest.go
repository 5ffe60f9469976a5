// Package authtest starts embedded NATS servers that require credentials,
// as `wisp up` does, for the tests of packages that connect to a lattice:
// they run with authentication on and connect as the role they play.
package authtest

import (
	"context"
	"testing"

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
