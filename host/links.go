package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
)

// ErrLinksUnavailable reports a link command on a host whose link bucket is
// not reachable (JetStream off, or its cluster without a quorum).
var ErrLinksUnavailable = errors.New("link store unavailable")

// links is the host's view of the lattice's link bucket: the bucket
// itself, once reachable, and a copy of every link that a watch keeps
// current, so that routing a host call never waits on JetStream.
type links struct {
	mu    sync.RWMutex
	kv    jetstream.KeyValue
	byKey map[string]lattice.Link
	kick  chan struct{} // asks the state loop to set everything up again
	// lastErr is why the state loop last failed to open the lattice's
	// state, nil once it has.
	lastErr error
}

func newLinks() *links {
	return &links{byKey: map[string]lattice.Link{}, kick: make(chan struct{}, 1)}
}

func (l *links) bucket() (jetstream.KeyValue, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.kv == nil {
		if l.lastErr != nil {
			// Say what JetStream said: a full store is not "not reachable".
			return nil, fmt.Errorf("%w: the lattice's JetStream state is not open: %v", ErrLinksUnavailable, l.lastErr)
		}
		return nil, fmt.Errorf("%w: JetStream is not reachable yet (is it enabled on the lattice's NATS servers?)", ErrLinksUnavailable)
	}
	return l.kv, nil
}

func (l *links) lookup(actorID, contract, linkName string) (lattice.Link, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	k, ok := l.byKey[lattice.LinkKey(actorID, contract, linkName)]
	return k, ok
}

// find returns the stored link for actor given as module key or as the
// call alias it had when linked.
func (l *links) find(actor, contract, linkName string) (lattice.Link, bool) {
	if k, ok := l.lookup(actor, contract, linkName); ok {
		return k, true
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, k := range l.byKey {
		if k.ActorName == actor && k.ContractID == contract && k.LinkName == linkName {
			return k, true
		}
	}
	return lattice.Link{}, false
}

func (l *links) set(k lattice.Link) {
	l.mu.Lock()
	l.byKey[k.Key()] = k
	l.mu.Unlock()
}

func (l *links) remove(key string) (lattice.Link, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.byKey[key]
	delete(l.byKey, key)
	return old, ok
}

// all returns a copy of every link.
func (l *links) all() []lattice.Link {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]lattice.Link, 0, len(l.byKey))
	for _, k := range l.byKey {
		out = append(out, k)
	}
	return out
}

// reset asks the state loop to open JetStream state again, after a
// reconnect.
func (l *links) reset() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// runState sets up the lattice's JetStream state (event stream, link
// bucket) and watches the link bucket until ctx ends, starting over when
// JetStream fails or the connection comes back after a drop.
func (h *Host) runState(ctx context.Context) {
	backoff := 250 * time.Millisecond
	warned := false
	for {
		err := h.watchState(ctx)
		if ctx.Err() != nil {
			return
		}
		h.links.mu.Lock()
		h.links.lastErr = err
		h.links.mu.Unlock()
		if err != nil && !warned {
			h.log.Warn("lattice state (links, event stream) not available yet; retrying", "err", err)
			warned = true
		} else if err != nil {
			h.log.Debug("lattice state", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-h.links.kick:
		}
		backoff = min(backoff*2, 5*time.Second)
		if err == nil {
			backoff = 250 * time.Millisecond
		}
	}
}

// watchState opens the state and follows the link bucket. It returns nil
// when asked to start over, an error when JetStream failed.
func (h *Host) watchState(ctx context.Context) error {
	js, err := h.jetStream()
	if err != nil {
		return err
	}
	setup, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := lattice.EnsureEventStream(setup, js, h.opts.lattice); err != nil {
		return err
	}
	kv, err := lattice.EnsureLinkBucket(setup, js, h.opts.lattice)
	if err != nil {
		return err
	}
	h.announceStartedStored(ctx, js)
	if !h.opts.noActors && !h.members.isSynced() {
		// Until it has read which hosts are up, the host tells auctions it
		// does not know (members.count), and they wait their settle period.
		if err := h.members.replay(setup, js, h.opts.lattice); err != nil {
			h.log.Debug("lattice hosts", "err", err)
		}
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	expiry, beat := linkWatchExpiry, linkWatchHeartbeat
	if h.opts.jsDomain != "" {
		// An edge site's host reaches the hub's JetStream through its
		// leaf server, and its own connection stays up when the uplink
		// drops: only the heartbeat says the hub lost the consumer.
		expiry, beat = 30*time.Second, 5*time.Second
	}
	updates, err := watchBucket(wctx, js, kv, lattice.LinkBucketName(h.opts.lattice), expiry, beat)
	if err != nil {
		return fmt.Errorf("watch links: %w", err)
	}
	fresh := map[string]lattice.Link{}
	synced := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.links.kick:
			return nil
		case e, ok := <-updates:
			if !ok {
				return errors.New("link watch ended")
			}
			if e == nil { // every stored link delivered: swap in the copy
				h.links.mu.Lock()
				old := h.links.byKey
				h.links.kv, h.links.byKey = kv, fresh
				h.links.mu.Unlock()
				for key, l := range old {
					if _, kept := fresh[key]; !kept {
						h.linkChanged(l, true)
					}
				}
				for _, l := range fresh {
					h.linkChanged(l, false)
				}
				synced = true
				if h.linksSaid.CompareAndSwap(false, true) {
					// Once per host: a stale link from an earlier run is
					// then no surprise (wisp up --fresh starts empty).
					h.log.Info("links restored from the lattice's link bucket", "count", len(fresh), "bucket", lattice.LinkBucketName(h.opts.lattice))
				} else {
					h.log.Debug("links loaded", "count", len(fresh))
				}
				continue
			}
			var k lattice.Link
			if e.put && json.Unmarshal(e.value, &k) == nil {
				if synced {
					h.links.set(k)
					h.linkChanged(k, false)
				} else {
					fresh[e.key] = k
				}
				continue
			}
			if synced {
				if old, ok := h.links.remove(e.key); ok {
					h.linkChanged(old, true)
				}
			} else {
				delete(fresh, e.key)
			}
		}
	}
}

// kvUpdate is one change of a key-value bucket as watchBucket hands it.
type kvUpdate struct {
	key   string
	put   bool // false: deleted or purged
	value []byte
}

// Heartbeats of the link watch. A key-value watch (nats.go's KeyValue.Watch)
// is a push consumer that the server sends an idle heartbeat every 5 s: a
// fifth of a message a second per host, the most a lattice at rest would
// carry. The link watch pulls instead, with the longest heartbeat the
// server allows (30 s) and a pull that lasts 5 minutes; a broken consumer
// is noticed within two heartbeats, and a reconnect starts the watch over
// at once (watchConnection). A host of an edge site (a JetStream domain
// reached through a leaf node) keeps the 5 s heartbeat: its connection
// does not drop with the uplink, so the heartbeat is how it learns that
// the hub lost its consumer.
const (
	linkWatchExpiry    = 5 * time.Minute
	linkWatchHeartbeat = 30 * time.Second
)

// watchBucket follows bucket (kv) with an ordered pull consumer: first the
// last value of every key, then nil, then each change as it is stored,
// until ctx ends.
func watchBucket(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, bucket string, expiry, heartbeat time.Duration) (<-chan *kvUpdate, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	prefix := "$KV." + bucket + "."
	cons, err := js.OrderedConsumer(ctx, "KV_"+bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, err
	}
	ch := make(chan *kvUpdate, 64)
	send := func(u *kvUpdate) {
		select {
		case ch <- u:
		case <-ctx.Done():
		}
	}
	synced := st.Values() == 0
	if synced {
		ch <- nil
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		op := m.Headers().Get("KV-Operation")
		send(&kvUpdate{key: strings.TrimPrefix(m.Subject(), prefix), put: op == "", value: m.Data()})
		if md, err := m.Metadata(); !synced && err == nil && md.NumPending == 0 {
			synced = true
			send(nil)
		}
	}, jetstream.PullExpiry(expiry), jetstream.PullHeartbeat(heartbeat),
		jetstream.ConsumeErrHandler(func(jetstream.ConsumeContext, error) {}))
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
	}()
	return ch, nil
}

// handleLink serves wisp.ctl.L.link.<verb>; hosts share it in a queue
// group, so one host answers each command.
func (h *Host) handleLink(m *nats.Msg) {
	verb := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch verb {
		case lattice.VerbLinkPut:
			var l lattice.Link
			if !decode(m, &l) {
				return
			}
			stored, err := h.PutLink(ctx, l)
			respondJSON(m, lattice.LinkReply{Ack: ack(err), Link: redacted(stored)})
		case lattice.VerbLinkDel:
			var req lattice.DeleteLinkRequest
			if !decode(m, &req) {
				return
			}
			gone, err := h.DeleteLink(ctx, req.Actor, req.ContractID, req.LinkName)
			respondJSON(m, lattice.LinkReply{Ack: ack(err), Link: redacted(gone)})
		case lattice.VerbLinkGet:
			if !noBody(m) {
				return
			}
			ls, err := h.Links(ctx)
			for i := range ls {
				ls[i] = ls[i].Redacted()
			}
			respondJSON(m, lattice.LinksReply{Ack: ack(err), Links: ls})
		default:
			respondJSON(m, lattice.Ack{Error: fmt.Sprintf("unknown link command %q", verb), Code: lattice.CodeBadRequest})
		}
	}()
}

// PutLink checks l and stores it in the lattice's link bucket: the actor
// (module key or call alias) must run on some host of the lattice and,
// when signed, claim the contract. Every host's watch picks it up.
func (h *Host) PutLink(ctx context.Context, l lattice.Link) (*lattice.Link, error) {
	if l.LinkName == "" {
		l.LinkName = lattice.DefaultLinkName
	}
	if err := l.Validate(); err != nil {
		return nil, lattice.WithCode(lattice.CodeBadRequest, err)
	}
	id, err := h.resolveActor(ctx, l.ActorID)
	if err != nil {
		return nil, err
	}
	if !id.Unsigned && !slices.Contains(id.Caps, l.ContractID) {
		return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("link refused: actor %s does not claim contract %s (its claims list %s): sign it with --cap %s",
			id.Name, l.ContractID, capsText(id.Caps), l.ContractID))
	}
	kv, err := h.links.bucket()
	if err != nil {
		return nil, err
	}
	l.ActorName = id.Name
	l.ActorID = id.Name
	if id.Key != "" {
		l.ActorID = id.Key
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	if _, err := kv.Put(ctx, l.Key(), b); err != nil {
		return nil, fmt.Errorf("store link: %w", err)
	}
	h.links.set(l)
	h.linkChanged(l, false) // this host's providers; the watch's echo of the put is idempotent
	h.log.Info("link set", "actor", l.ActorName, "contract", l.ContractID, "link_name", l.LinkName, "provider", l.ProviderID)
	h.publish(lattice.EventLinkSet, lattice.LinkEventData{HostID: h.id, Link: l.Redacted()})
	return &l, nil
}

func capsText(caps []string) string {
	if len(caps) == 0 {
		return "no contracts"
	}
	return strings.Join(caps, ", ")
}

// resolveActor asks the lattice who actor (call alias or module key) is.
func (h *Host) resolveActor(ctx context.Context, actor string) (*lattice.ActorIdentity, error) {
	if a, ok := h.Actor(actor); ok {
		id := a.identity()
		return &id, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	reply, err := h.nc.RequestWithContext(ctx, lattice.ActorSubject(h.opts.lattice, actor), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("link refused: actor %q is not running on lattice %q: %w (start it, then link it)", actor, h.opts.lattice, lattice.ErrActorNotRunning))
	}
	if err != nil {
		return nil, fmt.Errorf("look up actor %s: %w", actor, err)
	}
	var id lattice.ActorIdentity
	if err := json.Unmarshal(reply.Data, &id); err != nil {
		return nil, fmt.Errorf("look up actor %s: bad answer: %w", actor, err)
	}
	return &id, nil
}

// DeleteLink removes the link of actor (module key, or the call alias it
// had when linked) for contract under linkName.
func (h *Host) DeleteLink(ctx context.Context, actor, contract, linkName string) (*lattice.Link, error) {
	if linkName == "" {
		linkName = lattice.DefaultLinkName
	}
	kv, err := h.links.bucket()
	if err != nil {
		return nil, err
	}
	// The bucket decides, not this host's copy, which may not have seen
	// another host's delete yet: the link is read there and deleted only
	// at the revision read, so of two deletes one says "no link".
	key := lattice.LinkKey(actor, contract, linkName)
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// Linked by module key and deleted by alias (or the other way):
		// the copy knows the key it is stored under.
		if known, ok := h.links.find(actor, contract, linkName); ok {
			key = known.Key()
			e, err = kv.Get(ctx, key)
		}
	}
	noLink := fmt.Errorf("%w of actor %s for %s with link name %q", ErrNoLink, actor, contract, linkName)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, noLink
	}
	if err != nil {
		return nil, fmt.Errorf("read link: %w", err)
	}
	var l lattice.Link
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return nil, fmt.Errorf("read link %s: %w", key, err)
	}
	if err := kv.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if _, gerr := kv.Get(ctx, key); errors.Is(gerr, jetstream.ErrKeyNotFound) {
				return nil, noLink // another delete won
			}
			return nil, fmt.Errorf("delete link: it was replaced meanwhile, nothing deleted (delete it again): %w", err)
		}
		return nil, fmt.Errorf("delete link: %w", err)
	}
	// The watch finds the copy already without it, so this host's
	// providers hear of the removal here.
	if old, ok := h.links.remove(key); ok {
		h.linkChanged(old, true)
	}
	h.log.Info("link deleted", "actor", l.ActorName, "contract", l.ContractID, "link_name", l.LinkName)
	h.publish(lattice.EventLinkDeleted, lattice.LinkEventData{HostID: h.id, Link: l.Redacted()})
	return &l, nil
}

// Links lists the links in the lattice's bucket.
func (h *Host) Links(ctx context.Context) ([]lattice.Link, error) {
	kv, err := h.links.bucket()
	if err != nil {
		return nil, err
	}
	out := []lattice.Link{}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	defer keys.Stop()
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read link %s: %w", k, err)
		}
		var l lattice.Link
		if json.Unmarshal(e.Value(), &l) == nil {
			out = append(out, l)
		}
	}
	lattice.SortLinks(out)
	return out, nil
}

// identity is the actor's answer on lattice.ActorSubject.
func (a *Actor) identity() lattice.ActorIdentity {
	return lattice.ActorIdentity{Name: a.name, Key: a.id.key, Caps: a.id.caps(), Unsigned: a.id.claims == nil}
}

// subscribeIdentity answers on ActorSubject under each of the actor's
// names, so that any host can check a link to it.
func (a *Actor) subscribeIdentity(names []string) error {
	b, err := json.Marshal(a.identity())
	if err != nil {
		return err
	}
	for _, n := range names {
		subject := lattice.ActorSubject(a.host.opts.lattice, n)
		sub, err := a.host.nc.QueueSubscribe(subject, subject, func(m *nats.Msg) { m.Respond(b) }) // one host answers
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", n, err)
		}
		a.subs = append(a.subs, sub)
	}
	return nil
}

// linkRouter sends the host calls of actors with a link to the linked
// provider's subject, and passes the rest to next (if any).
type linkRouter struct {
	h    *Host
	next Router
}

// Route implements Router.
func (r *linkRouter) Route(ctx context.Context, actor string, call engine.HostCall) ([]byte, error) {
	id := actor
	if a, ok := r.h.Actor(actor); ok && a.id.key != "" {
		id = a.id.key
	}
	l, ok := r.h.links.lookup(id, call.Namespace, call.Binding)
	if !ok {
		if r.next != nil {
			return r.next.Route(ctx, actor, call)
		}
		if _, err := r.h.links.bucket(); err != nil {
			// Perhaps there is one: the host has not read the links yet.
			return nil, fmt.Errorf("%w for %s on %s (link name %q) yet: the host has not loaded the lattice's links: %w", ErrNoLink, call.Operation, call.Namespace, call.Binding, err)
		}
		return nil, fmt.Errorf("%w for %s on %s (link name %q): put one with `wisp link put %s PROVIDER %s`", ErrNoLink, call.Operation, call.Namespace, call.Binding, actor, call.Namespace)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.h.opts.limits.CallTimeout())
		defer cancel()
	}
	// A provider on this host answers in process.
	if run := r.h.localProvider(l.ContractID, l.LinkName); run != nil {
		return run.Invoke(ctx, provider.Call{Actor: l.ActorID, LinkName: l.LinkName, Operation: call.Operation, Payload: call.Payload})
	}
	msg := &nats.Msg{
		Subject: lattice.ProviderSubject(r.h.opts.lattice, l.ContractID, l.LinkName),
		Data:    call.Payload,
		Header: nats.Header{
			lattice.HeaderOperation: []string{call.Operation},
			lattice.HeaderSource:    []string{l.ActorID},
		},
	}
	trace.Inject(ctx, msg.Header)
	reply, err := chunked.Request(ctx, r.h.nc, msg, chunked.Options{})
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, lattice.WithCode(lattice.CodeNotFound, fmt.Errorf("%s over link %q: provider %s is not running (no one serves %s)", call.Namespace, l.LinkName, l.ProviderID, msg.Subject))
	}
	if err != nil {
		return nil, fmt.Errorf("%s over link %q to provider %s: %w", call.Namespace, l.LinkName, l.ProviderID, err)
	}
	if err := lattice.ReplyError(reply); err != nil {
		return nil, err
	}
	return reply.Data, nil
}

// WithJetStreamDomain makes the host keep the lattice's state (links, the
// event stream) in the JetStream of domain d: the hub's, when the host's
// server is a leaf node without JetStream of its own.
func WithJetStreamDomain(d string) Option { return func(o *options) { o.jsDomain = d } }

func (h *Host) jetStream() (jetstream.JetStream, error) {
	if h.opts.jsDomain != "" {
		return jetstream.NewWithDomain(h.nc, h.opts.jsDomain)
	}
	return jetstream.New(h.nc)
}

// redacted is a link as answers show it (nil stays nil).
func redacted(l *lattice.Link) *lattice.Link {
	if l == nil {
		return nil
	}
	r := l.Redacted()
	return &r
}
