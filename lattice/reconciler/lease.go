package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice/app"
)

// Holder is the value of the lease key: the host whose reconciler is
// active.
type Holder struct {
	HostID    string    `json:"host_id"`
	HostName  string    `json:"host_name"`
	RenewedAt time.Time `json:"renewed_at"`
}

// lease elects one active reconciler per lattice through a key of the
// application bucket. The holder renews it (compare-and-set on the key's
// revision) every ttl/4; a follower that sees the revision unchanged for
// ttl, by its own clock, takes it over with compare-and-set. No two
// hosts' clocks are ever compared.
type lease struct {
	kv   jetstream.KeyValue
	me   Holder
	ttl  time.Duration
	held atomic.Bool

	rev      uint64       // the key's revision as last seen
	seen     time.Time    // when rev was first seen (follower)
	renewed  atomic.Int64 // last successful renewal (holder), Unix ns
	onChange func(bool)
}

// step does one round: create, renew or take over the lease. It reports
// whether this host holds it.
func (l *lease) step(ctx context.Context) bool {
	now := time.Now()
	e, err := l.kv.Get(ctx, app.KeyLease)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if rev, err := l.kv.Create(ctx, app.KeyLease, l.value()); err == nil {
			l.win(rev, now)
		} else {
			l.lose()
		}
	case err != nil:
		// JetStream unreachable: a holder stops acting well before a
		// follower could take over (see holds).
		if !l.holds() {
			l.lose()
		}
	default:
		var h Holder
		json.Unmarshal(e.Value(), &h)
		if h.HostID == l.me.HostID {
			if rev, err := l.kv.Update(ctx, app.KeyLease, l.value(), e.Revision()); err == nil {
				l.win(rev, now)
			} else {
				l.lose()
			}
			return l.holds()
		}
		l.lose()
		if e.Revision() != l.rev {
			l.rev, l.seen = e.Revision(), now
			return false
		}
		if now.Sub(l.seen) >= l.ttl {
			if rev, err := l.kv.Update(ctx, app.KeyLease, l.value(), e.Revision()); err == nil {
				l.win(rev, now)
			}
		}
	}
	return l.holds()
}

// holds reports whether this host holds the lease and renewed it less
// than half a TTL ago: a follower takes over only after a whole TTL
// without renewals, so two holders never act at once.
func (l *lease) holds() bool {
	return l.held.Load() && time.Since(time.Unix(0, l.renewed.Load())) < l.ttl/2
}

func (l *lease) value() []byte {
	h := l.me
	h.RenewedAt = time.Now().UTC()
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
// without waiting for it to run out.
func (l *lease) release(ctx context.Context) {
	if l.held.Swap(false) {
		l.kv.Delete(ctx, app.KeyLease, jetstream.LastRevision(l.rev))
	}
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
