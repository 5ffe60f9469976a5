// Package spy lets `wisp spy ACTOR` watch an actor live: while a spy says
// it watches (a lattice.SpyInterest on wisp.ctl.L.spy.<actor>, renewed
// every two seconds), the host publishes a lattice.SpyRecord on
// wisp.spy.L.<actor> for each invocation of the actor and each host call
// it makes.
//
//	p, _ := spy.New(nc, "default")
//	h, _ := host.New(ctx, nc, host.WithObserver(p))
//	defer p.Close()
//
// # Notes
//   - Nobody spying costs one atomic load per call: the host publishes
//     nothing and looks nothing up.
//   - Interest lapses lattice.SpyInterestTTL after the last renewal, so a
//     spy that died stops the records by itself.
//   - Payloads are published only while a spy asked for them (--payload).
package spy

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/lattice"
)

// Publisher is the host.Observer that publishes spy records.
type Publisher struct {
	nc      *nats.Conn
	lattice string
	sub     *nats.Subscription

	active atomic.Int32 // actors with live interest; 0: the fast path
	mu     sync.Mutex
	spied  map[string]*interest // by call alias
}

type interest struct {
	until   time.Time
	payload bool
}

// New subscribes to spies' interest in lattice's actors.
func New(nc *nats.Conn, latticeID string) (*Publisher, error) {
	p := &Publisher{nc: nc, lattice: latticeID, spied: map[string]*interest{}}
	sub, err := nc.Subscribe(lattice.SpyInterestSubject(latticeID, "*"), p.renew)
	if err != nil {
		return nil, fmt.Errorf("spy: subscribe to interest: %w", err)
	}
	p.sub = sub
	return p, nil
}

// Close stops listening for spies.
func (p *Publisher) Close() error { return p.sub.Unsubscribe() }

func (p *Publisher) renew(m *nats.Msg) {
	actor := m.Subject[len(lattice.SpyInterestSubject(p.lattice, "")):]
	var in lattice.SpyInterest
	if len(m.Data) > 0 && json.Unmarshal(m.Data, &in) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.spied[actor]
	if i == nil || time.Now().After(i.until) {
		// New interest, or lapsed: payloads only if this renewal asks.
		i = &interest{}
		p.spied[actor] = i
	}
	i.until = time.Now().Add(lattice.SpyInterestTTL)
	i.payload = i.payload || in.Payload
	p.active.Store(int32(p.live()))
}

// live counts the actors whose interest has not lapsed, forgetting the
// others; p.mu is held.
func (p *Publisher) live() int {
	now := time.Now()
	for a, i := range p.spied {
		if now.After(i.until) {
			delete(p.spied, a)
		}
	}
	return len(p.spied)
}

// watching reports whether someone spies on actor, and wants payloads.
func (p *Publisher) watching(actor string) (bool, bool) {
	if p.active.Load() == 0 {
		return false, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.spied[actor]
	if i == nil || time.Now().After(i.until) {
		p.active.Store(int32(p.live()))
		return false, false
	}
	return true, i.payload
}

func nothing(int, error) {}

// Invocation publishes a record of an invocation of a spied actor.
func (p *Publisher) Invocation(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	return ctx, p.record(c, "in", c.Caller, "")
}

// HostCall publishes a record of a host call of a spied actor.
func (p *Publisher) HostCall(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	target := c.Namespace
	if c.LinkName != "" {
		target += "/" + c.LinkName
	}
	return ctx, p.record(c, "out", "", target)
}

func (p *Publisher) record(c *host.Call, dir, caller, target string) host.EndFunc {
	on, withPayload := p.watching(c.Actor)
	if !on {
		return nothing
	}
	rec := lattice.SpyRecord{Time: time.Now(), Host: c.HostName, Actor: c.Actor, Direction: dir, Operation: c.Operation,
		Caller: caller, Target: target, Size: c.Size}
	if withPayload {
		rec.Payload = append([]byte(nil), c.Payload...)
	}
	return func(size int, err error) {
		rec.DurationMS = float64(time.Since(rec.Time).Microseconds()) / 1000
		rec.AnswerSize = size
		rec.Outcome = host.Outcome(err)
		if err != nil {
			rec.Error = err.Error()
		}
		b, jerr := json.Marshal(rec)
		if jerr == nil {
			p.nc.Publish(lattice.SpySubject(p.lattice, c.Actor), b)
		}
	}
}
