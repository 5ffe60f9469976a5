package host

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
)

// members is what a host knows of its lattice's hosts: which are up. It
// hears their host_started, host_heartbeat and host_stopped events and
// the server's disconnect advisories, and at start it reads the ones the
// event stream kept. It only tells an auctioneer when every host has
// answered (lattice.AuctionBid.LatticeHosts), so it errs towards too many:
// a host counts as up until it stopped, its connection closed or it
// missed its heartbeats for lattice.HeartbeatTTL. Too many makes an
// auction wait its settle period, as it did before hosts counted; too
// few could end one before a host bid.
type members struct {
	self string
	mu   sync.Mutex
	// synced: the event stream's history was read; until then the count
	// is unknown.
	synced bool
	hosts  map[string]*member // by host id; the host itself is not in it
	pruned time.Time          // when hosts last lost those gone or silent
}

// member is one other host as last heard.
type member struct {
	last time.Time     // time of its latest event, on its own clock
	seen time.Time     // when that event was heard (replayed: stored)
	ttl  time.Duration // how long it stays up without a word
	conn lattice.ConnID
	gone bool
}

func newMembers(self string) *members {
	return &members{self: self, hosts: map[string]*member{}}
}

// heard takes a host_* event e, heard (or stored, when replayed) at seen.
// Of two events of one host, the later on that host's clock wins.
func (ms *members) heard(e lattice.Event, seen time.Time) {
	typ := e.ShortType()
	if typ != lattice.EventHostStarted && typ != lattice.EventHostHeartbeat && typ != lattice.EventHostStopped {
		return
	}
	var d lattice.HostEventData
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	id := d.Host.ID
	if id == "" {
		id = e.Source[strings.LastIndexByte(e.Source, '/')+1:]
	}
	if id == "" || id == ms.self {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if d.Host.ProvidersOnly {
		delete(ms.hosts, id) // bids in no actor auction: not counted
		return
	}
	m := ms.hosts[id]
	if m == nil {
		m = &member{}
		ms.hosts[id] = m
	} else if !e.Time.After(m.last) {
		return // older, or heard already
	}
	m.last, m.seen = e.Time, seen
	m.ttl = lattice.HeartbeatTTL(time.Duration(d.Host.HeartbeatMS) * time.Millisecond)
	if d.Host.Conn != nil {
		m.conn = *d.Host.Conn
	}
	m.gone = typ == lattice.EventHostStopped
	if seen.Sub(ms.pruned) > time.Minute {
		// A host that holds no auction still forgets the hosts that went.
		ms.prune(seen)
	}
}

// prune forgets the hosts silent for their TTL; the caller holds mu.
func (ms *members) prune(now time.Time) {
	for id, m := range ms.hosts {
		if now.Sub(m.seen) > m.ttl {
			delete(ms.hosts, id)
		}
	}
	ms.pruned = now
}

// closed takes the server's word that connection c closed: the host on
// it is gone until it is heard again.
func (ms *members) closed(c lattice.ConnID, now time.Time) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, m := range ms.hosts {
		if m.conn == c {
			m.gone, m.seen = true, now
		}
	}
}

// count returns how many hosts of the lattice are up, this one included,
// or 0 while the event stream's history is not read. It forgets hosts
// gone or silent for their TTL.
func (ms *members) count(now time.Time) int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if !ms.synced {
		return 0
	}
	ms.prune(now)
	n := 1
	for _, m := range ms.hosts {
		if !m.gone {
			n++
		}
	}
	return n
}

// markSynced says the event stream's history was read.
func (ms *members) markSynced() {
	ms.mu.Lock()
	ms.synced = true
	ms.mu.Unlock()
}

// isSynced reports whether the event stream's history was read.
func (ms *members) isSynced() bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.synced
}

// onEvent hears a live host_* event.
func (ms *members) onEvent(m *nats.Msg) {
	var e lattice.Event
	if json.Unmarshal(m.Data, &e) == nil && e.Validate() == nil {
		ms.heard(e, time.Now())
	}
}

// onDisconnect hears the server's advisory of a closed connection.
func (ms *members) onDisconnect(m *nats.Msg) {
	var d lattice.Disconnect
	if json.Unmarshal(m.Data, &d) == nil {
		ms.closed(d.Conn(), time.Now())
	}
}

// replayBatch is how many stored events a host reads at a time.
const replayBatch = 1000

// replay reads the host_* events the lattice's event stream kept, then
// marks the view synced. The live subscriptions are already in place, so
// nothing said meanwhile is missed; an event heard twice changes nothing.
func (ms *members) replay(ctx context.Context, js jetstream.JetStream, L string) error {
	cons, err := js.OrderedConsumer(ctx, lattice.EventStreamName(L), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{
			lattice.EventSubject(L, lattice.EventHostStarted),
			lattice.EventSubject(L, lattice.EventHostHeartbeat),
			lattice.EventSubject(L, lattice.EventHostStopped),
		},
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("read the lattice's hosts: %w", err)
	}
	for {
		// A batch answers with what is stored now, at once: one that comes
		// back empty means nothing more is (the stream kept no host event
		// at all, which is rare: this host's host_started goes in before).
		batch, err := cons.FetchNoWait(replayBatch)
		if err != nil {
			return fmt.Errorf("read the lattice's hosts: %w", err)
		}
		n, done := 0, false
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			var e lattice.Event
			if json.Unmarshal(m.Data(), &e) == nil && e.Validate() == nil {
				ms.heard(e, meta.Timestamp)
			}
			done = meta.NumPending == 0
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("read the lattice's hosts: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if done || n == 0 {
			ms.markSynced()
			return nil
		}
	}
}
