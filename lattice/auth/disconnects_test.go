package auth_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestLatticeHearsItsClientsDisconnect: a host of a secured lattice
// receives the server's advisory when another connection of its account
// closes, on lattice.DisconnectSubject, naming that connection; the
// advisories of another lattice's account do not reach it.
func TestLatticeHearsItsClientsDisconnect(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1}, lattice.DefaultLattice, "other")
	watcher := l.Connect(t, auth.HostUser)
	sub, err := watcher.SubscribeSync(lattice.DisconnectSubject(lattice.DefaultLattice))
	if err != nil {
		t.Fatal(err)
	}
	watcher.Flush()

	copts, err := l.Creds("other", auth.HostUser).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := l.Server.Connect(copts...)
	if err != nil {
		t.Fatal(err)
	}
	stranger.Close()
	gone := l.Connect(t, auth.HostUser)
	id := lattice.ConnOf(gone)
	gone.Close()

	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no disconnect advisory: %v", err)
	}
	var d lattice.Disconnect
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Conn() != id {
		t.Fatalf("advisory names %+v, want the closed connection %+v (another lattice's?)", d.Conn(), id)
	}
}
