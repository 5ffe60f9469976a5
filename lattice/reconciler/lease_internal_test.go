package reconciler

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestSuspicionEndsWhenTheHolderRenews: a follower told the holder may be
// gone looks twice, half a TTL apart; a renewal in between sends it back
// to its slow poll (it does not keep reading the key twice a TTL for
// good), and no renewal makes it take the lease over.
func TestSuspicionEndsWhenTheHolderRenews(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	js, err := jetstream.New(l.Connect(t, auth.HostUser))
	if err != nil {
		t.Fatal(err)
	}
	store, err := app.Open(ctx, js, lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	const ttl, poll = 800 * time.Millisecond, time.Minute
	a := &lease{kv: store.KV(), me: Holder{HostID: "NA"}, ttl: ttl, poll: poll}
	b := &lease{kv: store.KV(), me: Holder{HostID: "NB"}, ttl: ttl, poll: poll}
	slow := func(d time.Duration) bool { return d >= poll*3/4 }
	soon := func(d time.Duration) bool { return d > 0 && d <= ttl/2 }

	a.step(ctx)
	if !a.held.Load() {
		t.Fatal("the first lease step did not create the lease")
	}
	if d := b.step(ctx); !slow(d) || b.held.Load() {
		t.Fatalf("a follower with nothing suspected waits %v (held %v), want its poll", d, b.held.Load())
	}

	b.suspectHolder()
	if d := b.step(ctx); !soon(d) {
		t.Fatalf("first look under suspicion: next in %v, want within ttl/2", d)
	}
	a.step(ctx) // the holder renews: it is alive
	if d := b.step(ctx); !slow(d) {
		t.Fatalf("after seeing a renewal the follower looks again in %v, want its poll", d)
	}
	for range 3 { // and stays there while the holder renews
		a.step(ctx)
		if d := b.step(ctx); !slow(d) {
			t.Fatalf("a follower of a live holder looks again in %v, want its poll", d)
		}
	}

	b.suspectHolder()
	if d := b.step(ctx); !soon(d) {
		t.Fatalf("first look under the second suspicion: next in %v, want within ttl/2", d)
	}
	b.seen = b.seen.Add(-ttl / 2) // half a TTL passes without a renewal
	b.step(ctx)
	if !b.held.Load() {
		t.Fatal("the follower did not take over a lease nobody renewed")
	}
	a.step(ctx)
	if a.held.Load() {
		t.Fatal("the old holder still holds the lease after a takeover")
	}
}

// TestAHolderHeardClosedBeforeItWasReadIsGone: the server's advisory that
// the holder's connection closed can reach a follower before the follower
// has read who holds the lease (the holder renewed, then died). The
// follower must still take the lease over, not read the renewal as a sign
// of life and go back to its slow poll.
func TestAHolderHeardClosedBeforeItWasReadIsGone(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	js, err := jetstream.New(l.Connect(t, auth.HostUser))
	if err != nil {
		t.Fatal(err)
	}
	store, err := app.Open(ctx, js, lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	const ttl, poll = 800 * time.Millisecond, time.Minute
	aConn := lattice.ConnID{Server: "S", Client: 7}
	a := &lease{kv: store.KV(), me: Holder{HostID: "NA"}, ttl: ttl, poll: poll,
		conn: func() *lattice.ConnID { return &aConn }}
	b := &lease{kv: store.KV(), me: Holder{HostID: "NB"}, ttl: ttl, poll: poll}

	a.step(ctx)
	b.suspectHolder() // say, the previous holder released the lease
	b.step(ctx)       // first look: a holds it
	a.step(ctx)       // a renews ...
	if b.connClosed(lattice.ConnID{Server: "S", Client: 8}) {
		t.Fatal("another connection's close was taken for the holder's")
	}
	if !b.connClosed(aConn) { // ... and its connection closes
		t.Fatal("the holder's connection closing was not recognised")
	}
	b.mu.Lock()
	b.holder = Holder{} // as if the advisory came before b read a
	b.mu.Unlock()
	if d := b.step(ctx); d <= 0 || d > ttl/2 {
		t.Fatalf("a follower that saw the dead holder's last renewal looks again in %v, want within ttl/2", d)
	}
	b.seen = b.seen.Add(-ttl / 2)
	b.step(ctx)
	if !b.held.Load() {
		t.Fatal("the follower did not take over from a holder whose connection closed")
	}
}
