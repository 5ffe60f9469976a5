package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestAHostStoppedWhileTakingOverIsDropped: a reconciler taking over pings
// the lattice and reads every host that answered; a host_stopped event of
// one of them, heard meanwhile, drops it from the view. The pass must not
// then read the host it dropped (it did, and dereferenced its missing
// view: a CI run of the tests package panicked there).
func TestAHostStoppedWhileTakingOverIsDropped(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	h, err := host.New(ctx, l.Connect(t, auth.HostUser), host.WithName("a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(ctx) })
	r, err := New(Config{Conn: l.Connect(t, auth.HostUser), HostID: "Nr", HostName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	r.needSync, r.hosts = true, map[string]*hostView{}
	r.reports[h.ID()] = &report{stopped: true, heard: time.Now()}
	o, err := r.observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.hosts[h.ID()] != nil || len(o.hosts) != 0 {
		t.Fatalf("a host that stopped is still in the view (%d hosts observed)", len(o.hosts))
	}
}
