package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
)

// Holder is the value of the lease key: the host whose reconciler is
// active.
type Holder struct {
	HostID    string    `json:"host_id"`
	HostName  string    `json:"host_name"`
	RenewedAt time.Time `json:"renewed_at"`
	// Conn is the holder's NATS connection: when the server says it
	// closed, the followers take the lease over without waiting for a
	// poll.
	Conn *lattice.ConnID `json:"conn,omitempty"`
}

// lease elects one active reconciler per lattice through a key of the
// application bucket. The holder renews it (compare-and-set on the key's
// revision) every ttl/4 and acts only within ttl/2 of its last renewal.
//
// Followers do not read the key on every renewal, which would cost a
// message per host several times a second. They read it when they start,
// every followerPoll, and at once when something says the holder may be
// gone: the server's advisory that the holder's connection closed, or
// the holder's release. A follower that then sees the same revision
// still there ttl/2 after it first read it takes the lease over with
// compare-and-set: the holder sent that renewal before the follower read
// it, so it has stopped acting by then. A follower that sees a new
// revision instead knows the holder (perhaps a new one) is alive and goes
// back to its poll, unless the server already said the connection that
// wrote it closed: a follower remembers the connections it heard close
// for a poll, because the advisory may come before it has read who holds
// the lease (the holder renewed, then died). No two hosts' clocks are
// ever compared.
type lease struct {
	kv   jetstream.KeyValue
	me   Holder
	conn func() *lattice.ConnID // this reconciler's connection, for me.Conn
	ttl  time.Duration
	poll time.Duration // a follower's read of the key when nothing happens
	held atomic.Bool

	rev     uint64       // the key's revision as last seen
	seen    time.Time    // when rev was first seen (follower)
	renewed atomic.Int64 // last successful renewal (holder), Unix ns

	mu      sync.Mutex
	holder  Holder // the holder as last read (follower)
	suspect bool   // the holder may be gone: check again within ttl/2
	// checking: the key was read since the suspicion began, so a new
	// revision now means the holder renewed it and is alive.
	checking bool
	// closed: connections the server said closed, and when, kept for a
	// poll and a TTL.
	closed map[lattice.ConnID]time.Time

	onChange func(bool)
}

// step does one round: create, renew or take over the lease. It returns
// how long to wait before the next round.
func (l *lease) step(ctx context.Context) time.Duration {
	now := time.Now()
	if l.held.Load() {
		// Renew without reading first: one request, one answer. On a
		// failure, read what is there (JetStream unreachable: the
		// holder stops acting well before a follower could take over,
		// see holds).
		if rev, err := l.kv.Update(ctx, app.KeyLease, l.value(), l.rev); err == nil {
			l.win(rev, now)
			return l.ttl / 4
		}
	}
	e, err := l.kv.Get(ctx, app.KeyLease)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if rev, err := l.kv.Create(ctx, app.KeyLease, l.value()); err == nil {
			l.win(rev, now)
			return l.ttl / 4
		}
		l.lose()
		return l.ttl / 4 // another took it: read who
	case err != nil:
		if !l.holds() {
			l.lose()
		}
		return l.ttl / 4
	}
	var h Holder
	json.Unmarshal(e.Value(), &h)
	if h.HostID == l.me.HostID {
		rev, err := l.kv.Update(ctx, app.KeyLease, l.value(), e.Revision())
		switch {
		case err == nil:
			l.win(rev, now)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || !l.holds():
			l.lose() // another wrote the key since, or this holder is stale
		}
		// A renewal that only timed out (JetStream slow under load) keeps
		// the lease held: Leading is false once the last renewal is ttl/2
		// old, and a follower's takeover shows as a revision mismatch
		// here. Dropping it would make the next holder, often this host
		// again, read the whole lattice once more.
		return l.ttl / 4
	}
	l.lose()
	l.mu.Lock()
	l.holder = h
	gone := h.Conn != nil && !l.closed[*h.Conn].IsZero()
	if gone {
		l.suspect = true
	}
	suspect, checking := l.suspect, l.checking
	l.checking = suspect
	l.mu.Unlock()
	if e.Revision() != l.rev {
		l.rev, l.seen = e.Revision(), now
		if gone || (suspect && !checking) {
			// The first look since the suspicion, or a holder whose
			// connection is closed: look again.
			return l.ttl / 2
		}
		return l.jittered() // not suspected, or renewed since: alive
	}
	if now.Sub(l.seen) >= l.ttl/2 {
		if rev, err := l.kv.Update(ctx, app.KeyLease, l.value(), e.Revision()); err == nil {
			l.win(rev, now)
			return l.ttl / 4
		}
		return l.ttl / 4 // another follower won: read who
	}
	if suspect {
		return l.ttl/2 - now.Sub(l.seen)
	}
	return l.jittered()
}

// jittered is a follower's next poll: poll ±25%, so that hosts started
// together do not read the key together.
func (l *lease) jittered() time.Duration {
	l.mu.Lock()
	l.suspect, l.checking = false, false
	l.mu.Unlock()
	return l.poll*3/4 + rand.N(l.poll/2+1)
}

// holds reports whether this host holds the lease and renewed it less
// than half a TTL ago: a follower takes over only after seeing the same
// revision for half a TTL, so two holders never act at once.
func (l *lease) holds() bool {
	return l.held.Load() && time.Since(time.Unix(0, l.renewed.Load())) < l.ttl/2
}

// connClosed hears that connection c closed. It reports whether c is
// the connection of the holder as this follower last read it; either way
// it remembers c, so that a holder read later on that connection is
// known gone.
func (l *lease) connClosed(c lattice.ConnID) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed == nil {
		l.closed = map[lattice.ConnID]time.Time{}
	}
	for k, at := range l.closed {
		if now.Sub(at) > l.poll+l.ttl {
			delete(l.closed, k)
		}
	}
	l.closed[c] = now
	return l.holder.Conn != nil && *l.holder.Conn == c
}

// suspectHolder marks the holder as maybe gone: the next rounds check
// within ttl/2 rather than at the next poll.
func (l *lease) suspectHolder() {
	l.mu.Lock()
	l.suspect, l.checking = true, false
	l.mu.Unlock()
}

func (l *lease) value() []byte {
	h := l.me
	h.RenewedAt = time.Now().UTC()
	if l.conn != nil {
		h.Conn = l.conn()
	}
	b, _ := json.Marshal(h)
	return b
}

func (l *lease) win(rev uint64, now time.Time) {
	l.rev = rev
	l.renewed.Store(now.UnixNano())
	if !l.held.Swap(true) && l.onChange != nil {
		l.onChange(true)
	}
}

func (l *lease) lose() {
	if l.held.Swap(false) && l.onChange != nil {
		l.onChange(false)
	}
}

// release gives the lease up at once, so that another host takes over
// without waiting for it to run out. It reports whether it held it.
func (l *lease) release(ctx context.Context) bool {
	if l.held.Swap(false) {
		return l.kv.Delete(ctx, app.KeyLease, jetstream.LastRevision(l.rev)) == nil
	}
	return false
}

// CurrentHolder returns the host holding a lattice's reconciler lease.
func CurrentHolder(ctx context.Context, s *app.Store) (*Holder, error) {
	e, err := s.KV().Get(ctx, app.KeyLease)
	if err != nil {
		return nil, err
	}
	var h Holder
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return nil, err
	}
	return &h, nil
}
