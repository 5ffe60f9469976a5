package host

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// memberEvent builds a host_* event of host id at t, beating every 30 s.
func memberEvent(t *testing.T, typ, id string, at time.Time, conn uint64, providersOnly bool) lattice.Event {
	t.Helper()
	e, err := lattice.NewEvent("default", id, typ, lattice.HostEventData{Host: lattice.HostSummary{
		ID: id, HeartbeatMS: 30_000, Conn: &lattice.ConnID{Server: "S", Client: conn}, ProvidersOnly: providersOnly,
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.Time = at
	return e
}

func TestMembersCountTheHostsThatAreUp(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ms := newMembers("NSELF")
	ms.heard(memberEvent(t, lattice.EventHostStarted, "NA", t0, 1, false), t0)
	if n := ms.count(t0); n != 0 {
		t.Fatalf("before the history is read: count %d, want 0 (unknown)", n)
	}
	ms.markSynced()
	if n := ms.count(t0); n != 2 {
		t.Fatalf("self and NA: count %d, want 2", n)
	}

	// Its own events, a providers-only process and other events are not
	// hosts of an actor auction.
	ms.heard(memberEvent(t, lattice.EventHostHeartbeat, "NSELF", t0, 9, false), t0)
	ms.heard(memberEvent(t, lattice.EventHostStarted, "NPROV", t0, 2, true), t0)
	ms.heard(memberEvent(t, lattice.EventActorStarted, "NB", t0, 3, false), t0)
	if n := ms.count(t0); n != 2 {
		t.Fatalf("after self, providers-only and actor events: count %d, want 2", n)
	}

	// A stopped host goes; an older event of it, replayed later, does not
	// bring it back; a newer one does.
	ms.heard(memberEvent(t, lattice.EventHostStarted, "NB", t0, 3, false), t0)
	ms.heard(memberEvent(t, lattice.EventHostStopped, "NB", t0.Add(time.Second), 3, false), t0.Add(time.Second))
	ms.heard(memberEvent(t, lattice.EventHostHeartbeat, "NB", t0.Add(time.Second/2), 3, false), t0.Add(2*time.Second))
	if n := ms.count(t0.Add(2 * time.Second)); n != 2 {
		t.Fatalf("NB stopped, then an older beat: count %d, want 2", n)
	}
	ms.heard(memberEvent(t, lattice.EventHostStarted, "NB", t0.Add(3*time.Second), 4, false), t0.Add(3*time.Second))
	if n := ms.count(t0.Add(3 * time.Second)); n != 3 {
		t.Fatalf("NB started again: count %d, want 3", n)
	}

	// The server's word that a host's connection closed takes it out
	// until it is heard again (on its new connection).
	ms.closed(lattice.ConnID{Server: "S", Client: 4}, t0.Add(4*time.Second))
	if n := ms.count(t0.Add(4 * time.Second)); n != 2 {
		t.Fatalf("NB's connection closed: count %d, want 2", n)
	}
	ms.heard(memberEvent(t, lattice.EventHostHeartbeat, "NB", t0.Add(5*time.Second), 5, false), t0.Add(5*time.Second))
	if n := ms.count(t0.Add(5 * time.Second)); n != 3 {
		t.Fatalf("NB beat again: count %d, want 3", n)
	}

	// A host silent for its TTL is forgotten.
	ttl := lattice.HeartbeatTTL(30 * time.Second)
	if n := ms.count(t0.Add(ttl)); n != 3 {
		t.Fatalf("NA silent for its TTL, not more: count %d, want 3", n)
	}
	if n := ms.count(t0.Add(ttl + time.Second)); n != 2 {
		t.Fatalf("NA silent past its TTL: count %d, want 2", n)
	}
}

// TestMembersReplayTheEventStream: a host starting reads which hosts are
// up from the event stream's history, more of it than one batch; an empty
// history leaves it knowing only itself.
func TestMembersReplayTheEventStream(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	nc := l.ConnectInProcess(t, auth.HostUser)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := lattice.EnsureEventStream(ctx, js, lattice.DefaultLattice); err != nil {
		t.Fatal(err)
	}
	empty := newMembers("NSELF")
	if err := empty.replay(ctx, js, lattice.DefaultLattice); err != nil {
		t.Fatal(err)
	}
	if n := empty.count(time.Now()); n != 1 {
		t.Fatalf("empty history: count %d, want 1", n)
	}

	store := func(e lattice.Event) {
		t.Helper()
		b, _ := json.Marshal(e)
		if _, err := js.Publish(ctx, lattice.EventSubject(lattice.DefaultLattice, e.ShortType()), b); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for i, id := range []string{"NA", "NB", "NC"} {
		store(memberEvent(t, lattice.EventHostStarted, id, now, uint64(i), false))
	}
	// Actor events in between are not read.
	for i := range replayBatch + 200 {
		e, err := lattice.NewEvent(lattice.DefaultLattice, "NA", lattice.EventActorScaled, lattice.ActorEventData{Name: "echo"})
		if err != nil {
			t.Fatal(err)
		}
		store(e)
		if i%2 == 0 {
			store(memberEvent(t, lattice.EventHostHeartbeat, "NA", now.Add(time.Duration(i)), 0, false))
		}
	}
	store(memberEvent(t, lattice.EventHostStopped, "NB", now.Add(time.Hour), 1, false))
	ms := newMembers("NSELF")
	if n := ms.count(time.Now()); n != 0 {
		t.Fatalf("before replay: count %d, want 0 (unknown)", n)
	}
	if err := ms.replay(ctx, js, lattice.DefaultLattice); err != nil {
		t.Fatal(err)
	}
	if n := ms.count(time.Now()); n != 3 {
		t.Fatalf("NA, NB stopped, NC and self: count %d, want 3", n)
	}
}
