// Package reconciler keeps a lattice's deployed applications true. One
// reconciler is active per lattice (a lease in the application bucket);
// every host runs one, and another takes over within seconds when the
// active one's host dies.
//
// The active reconciler works level-triggered, like a Kubernetes
// controller: each pass compares the deployed manifests with what the
// hosts run and issues the starts, scales, stops and links that make the
// actual state the desired one. What it knows of the lattice comes from
// what the hosts report, not from asking them: it watches the application
// bucket, follows the lattice's events (host_started, host_heartbeat,
// host_stopped, actor_*, provider_*) and the NATS server's advisories of
// closed connections, and reads a host's inventory only when the host
// said something changed. A pass therefore costs messages in proportion
// to the changes since the last one, not to the hosts. It pings the
// whole lattice once, when it becomes the active one; after that it asks
// a single host only to confirm that it is gone: its connection closed
// (kill -9), or it missed a few heartbeats.
//
// The reconcilers that are not active cost the lattice almost nothing:
// they read the lease now and then, and at once when the server says the
// holder's connection closed or the holder releases it.
//
// Everything the reconciler starts carries the annotations
// lattice.AnnotationManagedBy, AnnotationApp and AnnotationComponent; it
// never stops or scales what lacks them, so actors started by hand are left
// alone.
package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
)

// Defaults of Config.
const (
	DefaultInterval  = time.Second
	DefaultLeaseTTL  = 2 * time.Second
	DefaultLostAfter = 1500 * time.Millisecond
	// DefaultActionTimeout bounds one start, scale or stop; a pull and a
	// compile of a large module fit.
	DefaultActionTimeout = 60 * time.Second
	// passTimeout bounds a pass's own work: reading the store, pinging,
	// reading inventories and links, writing statuses. Actions are not
	// part of it: they run on after the pass, each with its deadline.
	passTimeout = 10 * time.Second
	maxBackoff  = 30 * time.Second
	// DefaultFollowerPoll is how often a reconciler that is not the
	// active one reads the lease, and looks for the application bucket
	// before it exists, when nothing says it should sooner.
	DefaultFollowerPoll = 60 * time.Second
	// silentBeats is how many heartbeats a host may miss before the
	// reconciler asks it whether it is still there.
	silentBeats = 3
	// syncQuiet ends the ping a new active reconciler sends the lattice
	// once no host has answered for that long.
	syncQuiet = 500 * time.Millisecond
)

// Config configures a Reconciler.
type Config struct {
	// Conn is the connection to the lattice's NATS server.
	Conn *nats.Conn
	// Lattice is the lattice id (default "default").
	Lattice string
	// JetStreamDomain is where the lattice's state lives, as for hosts.
	JetStreamDomain string
	// HostID and HostName identify the host running the reconciler in
	// its lease and in the statuses it writes.
	HostID, HostName string
	// Providers maps built-in provider names to their contracts
	// (provider.Contracts()).
	Providers manifest.Providers
	Logger    *slog.Logger
	// Links reads the lattice's links with their values in clear, as the
	// host running the reconciler holds them (host.Host.Links). Without
	// it the reconciler asks the lattice, whose answers hide secret
	// values, so a changed secret in a manifest would go unnoticed.
	Links func(context.Context) ([]lattice.Link, error)
	// Interval between passes while something is pending (default 1s;
	// a settled lattice has passes only when something changes);
	// LeaseTTL, how long a dead holder keeps the lease (default 2s);
	// LostAfter, how long the reconciler waits for a host to confirm it
	// is still there when its connection closed or it missed heartbeats
	// (default 1.5s).
	Interval, LeaseTTL, LostAfter time.Duration
	// FollowerPoll is how often a reconciler that is not active reads
	// the lease when no advisory says the holder is gone (default 60s).
	FollowerPoll time.Duration
	// ActionTimeout bounds each start, scale, stop or link (default 60s).
	// A host that accepted a command and did not report its outcome by
	// then has failed it; the component waits out a backoff and is tried
	// again.
	ActionTimeout time.Duration
	// Observer, when set, is told of each pass and each action (the
	// host's metrics: host/metrics.Metrics is one).
	Observer Observer
}

// Observer watches a reconciler's work. Its methods are called from the
// reconciler's goroutines and must not block.
type Observer interface {
	// ReconcilePass reports a pass made while leading and how long it took.
	ReconcilePass(d time.Duration)
	// ReconcileAction reports an action (start, scale, stop, link,
	// unlink...) and its error, nil on success.
	ReconcileAction(what string, err error)
}

// Reconciler makes a lattice's deployed applications true. Run drives it.
type Reconciler struct {
	cfg    Config
	client *lattice.Client
	sync   *lattice.Client // pings the lattice on taking over
	log    *slog.Logger
	lease  *lease
	kick   chan struct{}
	// leaseKick asks the lease loop for a round now.
	leaseKick chan struct{}

	// Fed by the subscriptions, read by the pass loop.
	evMu    sync.Mutex
	reports map[string]*report // by host id, since the last pass
	gone    []lattice.ConnID   // closed connections, since the last pass
	// absent: hosts an action found nobody on (no responders), since the
	// last pass: it confirms whether they are gone.
	absent map[string]bool

	// Owned by the pass loop.
	store     *app.Store
	hosts     map[string]*hostView // by host id
	needSync  bool                 // ping the lattice before the next pass
	records   map[string]app.Record
	statusSet map[string]bool // names with a stored status
	synced    bool            // records and statusSet hold the bucket
	settled   bool            // the last pass found nothing to do
	manifests map[string]*manifest.Application
	written   map[string]app.Status // last status written, by app
	// canaries holds the step of each canary rollout, by component and
	// image; refresh, the hosts whose inventory the next pass reads (they
	// run a canary whose calls it counts).
	canaries map[string]*canary
	refresh  map[string]bool

	// Actions run concurrently with the passes, one at a time per
	// component and host, so a host that never answers holds up only its
	// own component. Guarded by actMu.
	actMu    sync.Mutex
	inflight map[string]bool     // component@host of actions running
	backoff  map[string]*backoff // component@host of actions that failed
	failed   map[string]string   // why, by component, since the last pass
	actions  sync.WaitGroup
}

// report is what a host said since the last pass.
type report struct {
	summary *lattice.HostSummary // from a host_* event
	changed bool                 // an actor or provider event: read its inventory
	stopped bool                 // host_stopped
	heard   time.Time
}

type hostView struct {
	summary  lattice.HostSummary
	inv      *lattice.HostInventory
	lastSeen time.Time // its last event or answer
}

// silence is how long a host may stay silent before the reconciler asks
// whether it is still there: a few of its heartbeats.
func (hv *hostView) silence() time.Duration {
	beat := time.Duration(hv.summary.HeartbeatMS) * time.Millisecond
	if beat <= 0 {
		beat = 30 * time.Second
	}
	return silentBeats*beat + time.Second
}

type backoff struct {
	fails int
	until time.Time
	err   string
}

// New makes a reconciler; Run starts it.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Conn == nil {
		return nil, errors.New("reconciler: no NATS connection")
	}
	if cfg.Lattice == "" {
		cfg.Lattice = lattice.DefaultLattice
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = DefaultLostAfter
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	if cfg.FollowerPoll <= 0 {
		cfg.FollowerPoll = DefaultFollowerPoll
	}
	opts := []lattice.Option{lattice.WithLattice(cfg.Lattice), lattice.WithTimeout(cfg.Interval), lattice.WithQuietPeriod(150 * time.Millisecond)}
	if cfg.JetStreamDomain != "" {
		opts = append(opts, lattice.WithJetStreamDomain(cfg.JetStreamDomain))
	}
	c, err := lattice.NewClient(cfg.Conn, opts...)
	if err != nil {
		return nil, fmt.Errorf("reconciler: %w", err)
	}
	sc, err := lattice.NewClient(cfg.Conn, append(opts, lattice.WithTimeout(max(5*time.Second, cfg.Interval)), lattice.WithQuietPeriod(syncQuiet))...)
	if err != nil {
		return nil, fmt.Errorf("reconciler: %w", err)
	}
	r := &Reconciler{
		cfg:       cfg,
		client:    c,
		sync:      sc,
		log:       cfg.Logger.With("component", "reconciler"),
		kick:      make(chan struct{}, 1),
		leaseKick: make(chan struct{}, 1),
		hosts:     map[string]*hostView{},
		manifests: map[string]*manifest.Application{},
		canaries:  map[string]*canary{},
		refresh:   map[string]bool{},
		backoff:   map[string]*backoff{},
		inflight:  map[string]bool{},
		failed:    map[string]string{},
		written:   map[string]app.Status{},
		reports:   map[string]*report{},
	}
	r.lease = &lease{me: Holder{HostID: cfg.HostID, HostName: cfg.HostName}, ttl: cfg.LeaseTTL, poll: cfg.FollowerPoll,
		conn: func() *lattice.ConnID {
			if c := lattice.ConnOf(cfg.Conn); c.Server != "" {
				return &c
			}
			return nil
		},
		onChange: func(held bool) {
			if held {
				r.log.Info("this host's reconciler is now the lattice's active one")
			} else {
				r.log.Info("this host's reconciler is no longer the active one")
			}
			r.poke()
		}}
	return r, nil
}

// Leading reports whether this reconciler holds the lattice's lease.
func (r *Reconciler) Leading() bool { return r.lease.holds() }

// Run reconciles until ctx ends, then gives up the lease. It waits for
// JetStream when it is not there yet.
func (r *Reconciler) Run(ctx context.Context) error {
	// What every reconciler hears, active or not: closed connections
	// (the holder's may be among them) and a released lease. Both are
	// rare; the lattice's other events reach the active one only.
	L := r.cfg.Lattice
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}()
	for subject, fn := range map[string]nats.MsgHandler{
		lattice.DisconnectSubject(L):                      r.onDisconnect,
		leaseReleasedSubject(L):                           func(*nats.Msg) { r.lease.suspectHolder(); r.pokeLease() },
		lattice.EventSubject(L, lattice.EventHostStopped): r.onHostStopped,
	} {
		sub, err := r.cfg.Conn.Subscribe(subject, fn)
		if err != nil {
			return fmt.Errorf("reconciler: subscribe to %s: %w", subject, err)
		}
		subs = append(subs, sub)
	}
	store, err := r.openStore(ctx)
	if err != nil {
		return err
	}
	r.store = store
	r.lease.kv = store.KV()
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if r.lease.release(rctx) {
			r.cfg.Conn.Publish(leaseReleasedSubject(L), nil)
			r.cfg.Conn.FlushWithContext(rctx)
		}
		cancel()
	}()

	var wg sync.WaitGroup
	defer wg.Wait()
	defer r.actions.Wait() // they end with ctx
	lctx, stopLease := context.WithCancel(ctx)
	defer stopLease()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.runLease(lctx)
	}()

	// While leading: every event, and a watch of the applications and
	// their statuses.
	var events *nats.Subscription
	var watch jetstream.KeyWatcher
	var wctx context.Context
	stopWatch := func() {}
	follow := func() {
		if events != nil {
			events.Unsubscribe()
			events = nil
		}
		if watch != nil {
			stopWatch()
			watch = nil
		}
		r.synced, r.records, r.statusSet = false, nil, nil
		// Another may move a canary on meanwhile: if this one leads
		// again, it finds the step from what runs.
		r.canaries = map[string]*canary{}
	}
	defer follow()
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	for {
		var updates <-chan jetstream.KeyValueEntry
		if watch != nil {
			updates = watch.Updates()
		}
		ticked := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			ticked = true
		case <-r.kick:
		case e, ok := <-updates:
			if !ok {
				follow() // watch ended: open it again below
				break
			}
			if !r.apply(e) {
				continue // a status written: nothing to do
			}
		}
		if !r.lease.held.Load() {
			follow() // another holds the lease: forget what leading knew
			continue
		}
		if !r.Leading() {
			continue // a renewal is late: wait for it, keep what is known
		}
		if events == nil {
			if events, err = r.cfg.Conn.Subscribe(lattice.EventSubject(L, ">"), r.onEvent); err != nil {
				r.log.Warn("subscribe to events", "err", err)
				continue
			}
			r.needSync, r.hosts = true, map[string]*hostView{}
		}
		if watch == nil {
			var cancel context.CancelFunc
			wctx, cancel = context.WithCancel(ctx)
			if watch, err = store.KV().WatchFiltered(wctx, []string{keyApps, keyStatuses}); err != nil {
				cancel()
				r.log.Warn("watch applications", "err", err)
				continue
			}
			stopWatch = func() { cancel(); watch.Stop() }
			r.records, r.statusSet = map[string]app.Record{}, map[string]bool{}
		}
		if !r.synced || (ticked && r.quiet()) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, passTimeout)
		start := time.Now()
		r.pass(pctx, ctx)
		cancel()
		r.log.Debug("pass", "took", time.Since(start).Round(time.Millisecond), "hosts", len(r.hosts), "settled", r.settled)
		if r.cfg.Observer != nil {
			r.cfg.Observer.ReconcilePass(time.Since(start))
		}
	}
}

// Keys of the application bucket the active reconciler watches.
const (
	keyApps     = "app.>"
	keyStatuses = "status.>"
)

// leaseReleasedSubject is where a reconciler that gives the lease up says
// so, for the others to take it at once.
func leaseReleasedSubject(L string) string { return "wisp.ctl." + L + ".reconciler.released" }

// apply keeps the copy of the application bucket current; it reports
// whether a pass should follow.
func (r *Reconciler) apply(e jetstream.KeyValueEntry) bool {
	if e == nil {
		r.synced = true
		return true
	}
	deleted := e.Operation() != jetstream.KeyValuePut
	if name, ok := strings.CutPrefix(e.Key(), "status."); ok {
		if deleted {
			delete(r.statusSet, name)
		} else {
			r.statusSet[name] = true
		}
		return false
	}
	name := strings.TrimPrefix(e.Key(), "app.")
	var rec app.Record
	if deleted || json.Unmarshal(e.Value(), &rec) != nil {
		delete(r.records, name)
	} else {
		r.records[name] = rec
	}
	return r.synced
}

// quiet reports that a pass would find nothing to do: the last one
// settled, no action runs and none waits out a backoff, no host is to be
// read again, and the hosts said nothing since but heartbeats that change
// nothing. It takes those heartbeats in itself (the host was heard; its
// summary is current), so that a lattice at rest costs no pass: a pass
// reads the links, and a thousand hosts beat 33 times a second. A host
// silent for too long makes it false, so a pass asks after it.
func (r *Reconciler) quiet() bool {
	if !r.settled || r.needSync || len(r.refresh) > 0 {
		return false
	}
	r.evMu.Lock()
	pending := len(r.gone) > 0 || len(r.absent) > 0
	for id, rep := range r.reports {
		if pending {
			break
		}
		hv := r.hosts[id]
		if hv == nil || rep.stopped || rep.changed || (rep.summary != nil &&
			(rep.summary.Actors != hv.summary.Actors || rep.summary.Instances != hv.summary.Instances)) {
			pending = true
			break
		}
		hv.lastSeen = rep.heard
		if rep.summary != nil {
			hv.summary = *rep.summary
		}
		delete(r.reports, id)
	}
	r.evMu.Unlock()
	if pending {
		return false
	}
	now := time.Now()
	for _, hv := range r.hosts {
		if now.Sub(hv.lastSeen) > hv.silence() {
			return false
		}
	}
	r.actMu.Lock()
	defer r.actMu.Unlock()
	return len(r.inflight) == 0 && len(r.backoff) == 0 && len(r.failed) == 0
}

// openStore waits until the lattice's application bucket exists: the
// first `wisp app deploy` or `put` creates it. JetStream's advisory that
// the bucket's stream was created wakes it; it also looks every
// FollowerPoll, in case the advisory does not reach it.
func (r *Reconciler) openStore(ctx context.Context) (*app.Store, error) {
	created := make(chan struct{}, 1)
	prefix := "$JS.EVENT.ADVISORY.STREAM.CREATED."
	if r.cfg.JetStreamDomain != "" {
		prefix = "$JS." + r.cfg.JetStreamDomain + ".EVENT.ADVISORY.STREAM.CREATED."
	}
	sub, err := r.cfg.Conn.Subscribe(prefix+"KV_"+app.BucketName(r.cfg.Lattice), func(*nats.Msg) {
		select {
		case created <- struct{}{}:
		default:
		}
	})
	if err == nil {
		defer sub.Unsubscribe()
		r.cfg.Conn.Flush()
	}
	delay := r.cfg.FollowerPoll / 12 // the advisory is the quick way
	for {
		js, err := r.client.JetStream()
		if err == nil {
			octx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var s *app.Store
			s, err = app.OpenExisting(octx, js, r.cfg.Lattice)
			cancel()
			if err == nil {
				return s, nil
			}
		}
		r.log.Debug("no application store yet", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-created:
		case <-time.After(delay):
		}
		delay = min(delay*2, r.cfg.FollowerPoll)
	}
}

func (r *Reconciler) runLease(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.leaseKick:
		}
		sctx, cancel := context.WithTimeout(ctx, r.cfg.LeaseTTL/2)
		next := r.lease.step(sctx)
		cancel()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(max(next, 10*time.Millisecond))
	}
}

func (r *Reconciler) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Reconciler) pokeLease() {
	select {
	case r.leaseKick <- struct{}{}:
	default:
	}
}

// onDisconnect hears the server's advisory of a closed connection: the
// holder's makes a follower check the lease; any makes the active
// reconciler ask the host on it whether it is gone.
func (r *Reconciler) onDisconnect(m *nats.Msg) {
	var d lattice.Disconnect
	if json.Unmarshal(m.Data, &d) != nil {
		return
	}
	c := d.Conn()
	if r.lease.connClosed(c) {
		r.lease.suspectHolder()
		r.pokeLease()
	}
	// Held, not Leading: a renewal that is late under load must not
	// lose the news of hosts that went meanwhile.
	if r.lease.held.Load() {
		r.evMu.Lock()
		r.gone = append(r.gone, c)
		r.evMu.Unlock()
		r.poke()
	}
}

// onHostStopped hears host_stopped on every reconciler: the holder's host
// stopping makes a follower check the lease.
func (r *Reconciler) onHostStopped(m *nats.Msg) {
	if host, ok := eventHost(m); ok {
		r.lease.mu.Lock()
		holder := r.lease.holder.HostID == host
		r.lease.mu.Unlock()
		if holder {
			r.lease.suspectHolder()
			r.pokeLease()
		}
	}
}

func eventHost(m *nats.Msg) (string, bool) {
	var e struct {
		Source string `json:"source"`
	}
	if json.Unmarshal(m.Data, &e) != nil || e.Source == "" {
		return "", false
	}
	return e.Source[strings.LastIndexByte(e.Source, '/')+1:], true
}

// onEvent notes what a host reported while this reconciler is active: a
// host_* event carries its summary, any other that its inventory
// changed. Every event but a heartbeat whose counts did not move pokes
// the pass loop.
func (r *Reconciler) onEvent(m *nats.Msg) {
	typ := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	if typ == lattice.EventLinkSet || typ == lattice.EventLinkDeleted {
		return // links are read on every pass, from the host's copy
	}
	var e struct {
		Source string          `json:"source"`
		Data   json.RawMessage `json:"data"`
	}
	if json.Unmarshal(m.Data, &e) != nil || e.Source == "" {
		return
	}
	host := e.Source[strings.LastIndexByte(e.Source, '/')+1:]
	var sum *lattice.HostSummary
	switch typ {
	case lattice.EventHostStarted, lattice.EventHostHeartbeat, lattice.EventHostStopped:
		var d lattice.HostEventData
		if json.Unmarshal(e.Data, &d) == nil && d.Host.ID == host {
			sum = &d.Host
		}
	}
	r.evMu.Lock()
	rep := r.reports[host]
	if rep == nil {
		rep = &report{}
		r.reports[host] = rep
	}
	rep.heard = time.Now()
	if sum != nil {
		rep.summary = sum
	}
	switch typ {
	case lattice.EventHostStopped:
		rep.stopped = true
	case lattice.EventHostHeartbeat:
	default:
		rep.changed = true
	}
	r.evMu.Unlock()
	if typ != lattice.EventHostHeartbeat {
		r.poke() // heartbeats wait for the next tick
	}
}

// componentKey names a component of an app in maps.
func componentKey(appName, comp string) string { return appName + "/" + comp }

// observed is the lattice as one pass sees it.
type observed struct {
	hosts []*hostView // live hosts, by id
	// actors[app/component][host id] = instances of managed actors.
	actors map[string]map[string]int
	// refs[app/component][host id] is the module reference the managed
	// actor on that host was started from; calls and failed count the
	// calls its version has answered there, and of them the errors.
	refs          map[string]map[string]string
	calls, failed map[string]map[string]int
	p99           map[string]map[string]float64 // milliseconds
	// providers[app/component][host id] = 1 for managed providers.
	providers map[string]map[string]int
	// anyProvider[name NUL link name][host id] = 1 for every provider a
	// host runs, whoever started it: a component's provider that runs
	// already (by hand, or for another application) is shared.
	anyProvider map[string]map[string]int
	// linkErrors[contract NUL link name NUL actor id] says which provider
	// refused that link, and why (hosts retry; the status says so).
	linkErrors map[string]string
	// served says whether some process answers on the subject of an
	// external provider (contract and link name, see servedKey).
	served map[string]bool
	// aliasTaken[host id][alias] = owner ("" when started by hand).
	aliasTaken map[string]map[string]string
	// keys of the running actors by alias (module key), for links.
	keys map[string]string
	// names[app/component] is the call alias its actor answers to: the
	// component's name, or the alias a signed module's claims fix.
	names map[string]string
	links []lattice.Link
	// unread are the hosts whose inventory this pass meant to read and
	// that did not answer in time; the next pass reads them again.
	unread map[string]bool
}

// actorName is the alias the actor of component ck (named comp in the
// manifest) answers to.
func (o *observed) actorName(ck, comp string) string {
	if n, ok := o.names[ck]; ok {
		return n
	}
	return comp
}

// observe brings the reconciler's view of the lattice up to date with
// what hosts reported since the last pass, reading the inventories of the
// hosts that said something changed, and asking the hosts that may be
// gone (their connection closed, they stopped, they missed heartbeats)
// whether they are. On taking over it pings the lattice once.
func (r *Reconciler) observe(ctx context.Context) (*observed, error) {
	now := time.Now()
	read := map[string]bool{}    // hosts whose inventory to read
	confirm := map[string]bool{} // hosts to ask whether they are there
	if r.needSync {
		summaries, err := r.sync.Hosts(ctx)
		if err != nil && !errors.Is(err, lattice.ErrNoHosts) {
			return nil, err
		}
		for _, s := range summaries {
			r.hosts[s.ID] = &hostView{summary: s, lastSeen: now}
			read[s.ID] = true
		}
		r.needSync = false
		r.log.Info("lattice synced", "hosts", len(summaries))
	}
	r.evMu.Lock()
	reports, gone, absent := r.reports, r.gone, r.absent
	r.reports, r.gone, r.absent = map[string]*report{}, nil, nil
	r.evMu.Unlock()
	for id, rep := range reports {
		hv := r.hosts[id]
		if rep.stopped {
			if hv != nil {
				r.log.Info("host stopped: its share moves to the other hosts", "host", hv.summary.Name)
				delete(r.hosts, id)
			}
			continue
		}
		if hv == nil {
			hv = &hostView{}
			if rep.summary != nil {
				hv.summary = *rep.summary
			}
			r.hosts[id] = hv
			read[id] = true
		}
		hv.lastSeen = rep.heard
		if rep.summary != nil {
			s := *rep.summary
			if s.Actors != hv.summary.Actors || s.Instances != hv.summary.Instances {
				read[id] = true
			}
			hv.summary = s
		}
		if rep.changed {
			read[id] = true
		}
	}
	byConn := map[lattice.ConnID]string{}
	if len(gone) > 0 {
		for id, hv := range r.hosts {
			if hv.summary.Conn != nil {
				byConn[*hv.summary.Conn] = id
			}
		}
	}
	for _, c := range gone {
		if id, ok := byConn[c]; ok {
			confirm[id] = true
		}
	}
	for id := range absent {
		if r.hosts[id] != nil {
			confirm[id] = true
		}
	}
	for id, hv := range r.hosts {
		if now.Sub(hv.lastSeen) > hv.silence() {
			confirm[id] = true
		}
	}
	for id := range confirm {
		read[id] = true
	}
	for id := range r.refresh {
		if r.hosts[id] != nil {
			read[id] = true
		}
	}
	r.refresh = map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	unread := map[string]bool{}
	sem := make(chan struct{}, 64)
	// The views to read are taken before any reader starts: a reader that
	// finds its host lost deletes it from r.hosts.
	views := make(map[string]*hostView, len(read))
	for id := range read {
		if hv := r.hosts[id]; hv != nil { // nil: it stopped since it was marked
			views[id] = hv
		}
	}
	for id, hv := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			timeout := 2 * time.Second
			if confirm[id] {
				timeout = r.cfg.LostAfter
			}
			ictx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			inv, err := r.client.Inventory(ictx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				hv.inv, hv.summary, hv.lastSeen = inv, inv.Host, time.Now()
			case confirm[id] || errors.Is(err, lattice.ErrHostNotFound):
				// Nobody answers on its subject (no responders), or it
				// was asked to confirm and did not.
				r.log.Warn("host lost: its share moves to the other hosts", "host", hv.summary.Name,
					"silent_for", now.Sub(hv.lastSeen).Round(time.Millisecond), "err", err)
				delete(r.hosts, id)
			default:
				unread[id] = true
			}
		}()
	}
	wg.Wait()
	for id := range unread {
		r.refresh[id] = true
	}
	o := &observed{unread: unread, actors: map[string]map[string]int{}, refs: map[string]map[string]string{},
		calls: map[string]map[string]int{}, failed: map[string]map[string]int{}, p99: map[string]map[string]float64{}, providers: map[string]map[string]int{}, anyProvider: map[string]map[string]int{},
		linkErrors: map[string]string{},
		aliasTaken: map[string]map[string]string{}, keys: map[string]string{}, names: map[string]string{}}
	for _, hv := range r.hosts {
		if hv.inv == nil {
			continue
		}
		o.hosts = append(o.hosts, hv)
		taken := map[string]string{}
		o.aliasTaken[hv.summary.ID] = taken
		for _, a := range hv.inv.Actors {
			if a.Key != "" {
				o.keys[a.Name] = a.Key
			}
			ck, managed := managedKey(a.Annotations)
			taken[a.Name] = ck
			if !managed {
				continue
			}
			add(o.actors, ck, hv.summary.ID, a.Instances)
			if o.refs[ck] == nil {
				o.refs[ck] = map[string]string{}
			}
			o.refs[ck][hv.summary.ID] = a.Ref
			add(o.calls, ck, hv.summary.ID, int(a.Calls))
			add(o.failed, ck, hv.summary.ID, int(a.Failed))
			if o.p99[ck] == nil {
				o.p99[ck] = map[string]float64{}
			}
			o.p99[ck][hv.summary.ID] = a.P99MS
			o.names[ck] = a.Name
		}
		for _, p := range hv.inv.Providers {
			add(o.anyProvider, p.Name+"\x00"+p.LinkName, hv.summary.ID, 1)
			for actor, why := range p.LinkErrors {
				o.linkErrors[p.Contract+"\x00"+p.LinkName+"\x00"+actor] = fmt.Sprintf("provider %s on %s refused it: %s", p.Name, hv.summary.Name, why)
			}
			if ck, managed := managedKey(p.Annotations); managed {
				add(o.providers, ck, hv.summary.ID, 1)
			}
		}
	}
	sort.Slice(o.hosts, func(i, j int) bool { return o.hosts[i].summary.ID < o.hosts[j].summary.ID })
	if len(o.hosts) > 0 {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		if r.cfg.Links != nil {
			o.links, err = r.cfg.Links(lctx)
		} else {
			o.links, err = r.client.Links(lctx)
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("read links: %w", err)
		}
	}
	return o, nil
}

func add(m map[string]map[string]int, k, host string, n int) {
	if m[k] == nil {
		m[k] = map[string]int{}
	}
	m[k][host] += n
}

// managedKey returns "app/component" of what the reconciler manages.
func managedKey(ann map[string]string) (string, bool) {
	if ann[lattice.AnnotationManagedBy] != lattice.ManagedByApps {
		return "", false
	}
	return componentKey(ann[lattice.AnnotationApp], ann[lattice.AnnotationComponent]), true
}

func annotations(appName, comp string) map[string]string {
	return map[string]string{
		lattice.AnnotationManagedBy: lattice.ManagedByApps,
		lattice.AnnotationApp:       appName,
		lattice.AnnotationComponent: comp,
	}
}

// action is one command of a pass.
type action struct {
	comp string // app/component it serves, for errors and backoff
	host string // host id; "" for links
	what string // for logs: "start", "scale", "stop", "link", "unlink"
	do   func(ctx context.Context) error
}

// pass makes one round of observe, plan, act, report. The actions it
// issues outlive it, under actx (the reconciler's life) and their own
// deadlines; their failures are reported by the passes after them.
func (r *Reconciler) pass(ctx, actx context.Context) {
	records := make([]app.Record, 0, len(r.records))
	for _, rec := range r.records {
		records = append(records, rec)
	}
	sort.Slice(records, func(i, j int) bool { return records[i].Name < records[j].Name })
	statusNames := make([]string, 0, len(r.statusSet))
	for name := range r.statusSet {
		statusNames = append(statusNames, name)
	}
	sort.Strings(statusNames)
	r.settled = false
	if len(records) == 0 && len(statusNames) == 0 {
		r.settled = true
		return // nothing declared, nothing to clean up
	}
	o, err := r.observe(ctx)
	if err != nil {
		r.log.Warn("observe the lattice", "err", err)
		return
	}
	r.probeExternal(ctx, records, o)
	var acts []action
	statuses := map[string]*app.Status{}
	wanted := map[string]bool{} // app/component keys that should run
	for _, rec := range records {
		if rec.Deployed == "" {
			continue
		}
		st, a := r.planApp(&rec, o, wanted)
		statuses[rec.Name] = st
		acts = append(acts, a...)
	}
	acts = append(acts, r.orphans(o, wanted)...)
	for key := range r.canaries {
		if ck, _, _ := strings.Cut(key, "\x00"); !wanted[ck] {
			delete(r.canaries, key) // undeployed mid-canary
		}
	}
	// Links of applications that are no longer deployed.
	stored := map[string]bool{}
	for _, rec := range records {
		stored[rec.Name] = true
	}
	for _, name := range statusNames {
		if statuses[name] != nil {
			continue // deployed
		}
		if w, ok := r.written[name]; ok && stored[name] && w.Phase == app.PhaseUndeployed && len(w.Links) == 0 {
			continue // cleaned up already
		}
		old, err := r.store.Status(ctx, name)
		if err != nil {
			continue
		}
		// Only the links as the reconciler put them: one a person has
		// changed since is theirs.
		for _, l := range old.Links {
			if hasLink(o.links, l) {
				acts = append(acts, r.unlink(componentKey(name, ""), l))
			}
		}
		if !stored[name] {
			if !leftovers(name, old.Links, o) {
				if err := r.store.DeleteStatus(ctx, name); err == nil {
					delete(r.written, name)
				}
			}
		} else {
			statuses[name] = &app.Status{Name: name, Phase: app.PhaseUndeployed, Links: old.Links}
		}
	}
	// A host whose inventory could not be read is planned from what it
	// held before: an action there would repeat one it did already.
	acts = slices.DeleteFunc(acts, func(a action) bool { return o.unread[a.host] })
	r.launch(actx, acts)
	failed, busy := r.outcomes()
	for name, st := range statuses {
		if st != nil && st.Phase == app.PhaseUndeployed {
			ck := componentKey(name, "")
			if why, bad := failed[ck]; bad {
				st.Message = "cleaning up: " + why
			} else if why, wait := r.waiting(ck, ""); wait {
				st.Message = "cleaning up: " + why
			} else if !busy[ck] {
				st.Links = nil
			}
		}
	}
	r.report(ctx, statuses, o, failed)
	r.settled = len(acts) == 0 && len(failed) == 0 && len(busy) == 0 && len(o.unread) == 0
	for _, st := range statuses {
		switch {
		case st == nil:
		case st.Phase == app.PhaseDeployed, st.Phase == app.PhaseFailed:
		case st.Phase == app.PhaseUndeployed && len(st.Links) == 0:
		default:
			r.settled = false
		}
	}
}

// launch starts each action in its own goroutine, unless an action for
// the same component and host is still running: the pass does not wait
// for them, so a start that hangs (a wedged host, a slow pull) holds up
// nothing but itself. Each action has ActionTimeout; a failure sets the
// component's backoff on that host and is reported by the next pass.
func (r *Reconciler) launch(ctx context.Context, acts []action) {
	for _, a := range acts {
		key := a.comp + "@" + a.host
		host := r.hostName(a.host) // r.hosts belongs to the pass loop
		r.actMu.Lock()
		if r.inflight[key] {
			r.actMu.Unlock()
			continue
		}
		r.inflight[key] = true
		r.actMu.Unlock()
		r.actions.Add(1)
		go func() {
			defer r.actions.Done()
			actx, cancel := context.WithTimeout(ctx, r.cfg.ActionTimeout)
			err := a.do(actx)
			cancel()
			if err == nil && a.host != "" {
				r.changedOn(a.host) // its inventory is read before the next plan
			}
			if errors.Is(err, lattice.ErrHostNotFound) && a.host != "" {
				r.absentHost(a.host)
			}
			if r.cfg.Observer != nil {
				r.cfg.Observer.ReconcileAction(a.what, err)
			}
			r.actMu.Lock()
			delete(r.inflight, key)
			if err != nil {
				b := r.backoff[key]
				if b == nil {
					b = &backoff{}
					r.backoff[key] = b
				}
				b.fails++
				b.until = time.Now().Add(min(time.Second<<min(b.fails-1, 5), maxBackoff))
				b.err = err.Error()
				r.failed[a.comp] = fmt.Sprintf("%s on %s: %v", a.what, host, err)
			} else {
				delete(r.backoff, key)
			}
			r.actMu.Unlock()
			if err != nil {
				r.log.Warn("reconcile", "action", a.what, "component", a.comp, "host", host, "err", err)
			} else {
				r.log.Info("reconcile", "action", a.what, "component", a.comp, "host", host)
			}
			r.poke()
		}()
	}
}

// absentHost marks a host that nobody answered for in an action: the next
// pass asks it whether it is there, and moves its share if not, rather
// than wait for its heartbeats to stop.
func (r *Reconciler) absentHost(host string) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.absent == nil {
		r.absent = map[string]bool{}
	}
	r.absent[host] = true
}

// changedOn marks a host that answered an action: the next pass reads its
// inventory rather than plan from what it held before the action.
func (r *Reconciler) changedOn(host string) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	rep := r.reports[host]
	if rep == nil {
		rep = &report{}
		r.reports[host] = rep
	}
	rep.heard, rep.changed = time.Now(), true
}

// outcomes returns the failures of the actions that ended since the last
// pass, by component, and the components with an action still running.
func (r *Reconciler) outcomes() (failed map[string]string, busy map[string]bool) {
	r.actMu.Lock()
	defer r.actMu.Unlock()
	failed, r.failed = r.failed, map[string]string{}
	busy = map[string]bool{}
	for key := range r.inflight {
		busy[key[:strings.LastIndexByte(key, '@')]] = true
	}
	return failed, busy
}

func (r *Reconciler) hostName(id string) string {
	if hv, ok := r.hosts[id]; ok {
		return hv.summary.Name
	}
	if id == "" {
		return "the lattice"
	}
	return id
}

// waiting reports a component whose last command on host failed recently
// enough that the next one must wait, and why it failed.
func (r *Reconciler) waiting(comp, host string) (string, bool) {
	r.actMu.Lock()
	defer r.actMu.Unlock()
	b := r.backoff[comp+"@"+host]
	if b == nil || time.Now().After(b.until) {
		return "", false
	}
	return b.err, true
}

// orphans stops managed actors and providers that no deployed manifest
// asks for any more.
func (r *Reconciler) orphans(o *observed, wanted map[string]bool) []action {
	var acts []action
	for ck, byHost := range o.actors {
		if wanted[ck] {
			continue
		}
		_, comp, _ := strings.Cut(ck, "/")
		for host := range byHost {
			acts = append(acts, r.stopActor(ck, host, o.actorName(ck, comp)))
		}
	}
	for ck, byHost := range o.providers {
		if wanted[ck] {
			continue
		}
		for host := range byHost {
			if p, ok := r.providerOn(host, ck); ok {
				acts = append(acts, r.stopProvider(ck, host, p))
			}
		}
	}
	return acts
}

func (r *Reconciler) providerOn(host, ck string) (lattice.ProviderDescription, bool) {
	hv := r.hosts[host]
	if hv == nil || hv.inv == nil {
		return lattice.ProviderDescription{}, false
	}
	for _, p := range hv.inv.Providers {
		if k, ok := managedKey(p.Annotations); ok && k == ck {
			return p, true
		}
	}
	return lattice.ProviderDescription{}, false
}

func (r *Reconciler) stopActor(ck, host, alias string) action {
	return action{comp: ck, host: host, what: "stop", do: func(ctx context.Context) error {
		if err := r.client.StopActor(ctx, host, alias); !errors.Is(err, lattice.ErrNotFound) {
			return err
		}
		return nil // stopped already: the plan was older than the host's inventory
	}}
}

func (r *Reconciler) stopProvider(ck, host string, p lattice.ProviderDescription) action {
	return action{comp: ck, host: host, what: "stop provider", do: func(ctx context.Context) error {
		return r.client.StopProvider(ctx, host, lattice.StopProviderRequest{Name: p.Name, LinkName: p.LinkName})
	}}
}

func (r *Reconciler) unlink(ck string, l lattice.Link) action {
	return action{comp: ck, what: "unlink", do: func(ctx context.Context) error {
		_, err := r.client.DeleteLink(ctx, l.ActorID, l.ContractID, l.LinkName)
		if err != nil && strings.Contains(err.Error(), "no link") {
			return nil
		}
		return err
	}}
}

// manifest returns the parsed deployed version of rec, cached.
func (r *Reconciler) manifest(rec *app.Record) (*manifest.Application, error) {
	key := rec.Name + "@" + rec.Deployed
	if a, ok := r.manifests[key]; ok {
		return a, nil
	}
	a, err := rec.Manifest("")
	if err == nil {
		err = a.Validate(r.cfg.Providers)
	}
	if err != nil {
		return nil, err
	}
	r.manifests[key] = a
	return a, nil
}

// planApp compares one application's desired state with what runs and
// returns its status (before the actions run) and the actions.
func (r *Reconciler) planApp(rec *app.Record, o *observed, wanted map[string]bool) (*app.Status, []action) {
	st := &app.Status{Name: rec.Name, Version: rec.Deployed, Phase: app.PhaseReconciling, RolledBack: rec.RolledBack}
	a, err := r.manifest(rec)
	if err != nil {
		st.Phase, st.Message = app.PhaseFailed, err.Error()
		return st, nil
	}
	var acts []action
	for i := range a.Spec.Components {
		c := &a.Spec.Components[i]
		ck := componentKey(rec.Name, c.Name)
		wanted[ck] = true
		cs := app.ComponentStatus{Name: c.Name, Type: c.Type, Hosts: map[string]int{}}
		var more []action
		switch c.Type {
		case manifest.TypeActor:
			more = r.planActor(rec, c, o, &cs)
		case manifest.TypeCapability:
			more = r.planCapability(rec.Name, c, o, &cs)
		}
		acts = append(acts, more...)
		st.Components = append(st.Components, cs)
	}
	// Links, once their actor runs somewhere.
	for i := range a.Spec.Components {
		c := &a.Spec.Components[i]
		for _, ld := range c.Links() {
			target, _ := a.Component(ld.Target)
			l, ok := r.desiredLink(rec.Name, c, target, ld, o)
			if !ok {
				continue
			}
			st.Links = append(st.Links, l)
			if why, refused := o.linkErrors[l.ContractID+"\x00"+l.LinkName+"\x00"+l.ActorID]; refused && hasLink(o.links, l) {
				setError(st, c.Name, "link to "+ld.Target+": "+why)
			}
			if !hasLink(o.links, l) {
				ck := componentKey(rec.Name, c.Name)
				if why, wait := r.waiting(ck, ""); wait {
					setError(st, c.Name, "link to "+ld.Target+": "+why)
					continue
				}
				acts = append(acts, action{comp: ck, what: "link", do: func(ctx context.Context) error {
					_, err := r.client.PutLink(ctx, l)
					return err
				}})
			}
		}
	}
	return st, acts
}

func setError(st *app.Status, comp, msg string) {
	for i := range st.Components {
		if st.Components[i].Name == comp && st.Components[i].Error == "" {
			st.Components[i].Error = msg
		}
	}
}

// desiredLink is the link a linkdef asks for, when its actor runs.
func (r *Reconciler) desiredLink(appName string, actor, target *manifest.Component, ld manifest.LinkDef, o *observed) (lattice.Link, bool) {
	if len(o.actors[componentKey(appName, actor.Name)]) == 0 {
		return lattice.Link{}, false
	}
	prov, err := r.cfg.Providers.Resolve(target)
	if errors.Is(err, manifest.ErrExternal) {
		prov = target.Name // an external provider, known by its component
	} else if err != nil {
		return lattice.Link{}, false
	}
	values := map[string]string{}
	for k, v := range target.Properties.Config {
		values[k] = v
	}
	for k, v := range ld.Values {
		values[k] = v
	}
	name := o.actorName(componentKey(appName, actor.Name), actor.Name)
	id := name
	if key, ok := o.keys[name]; ok {
		id = key
	}
	return lattice.Link{ActorID: id, ActorName: name, ProviderID: prov, ContractID: target.Properties.Contract,
		LinkName: target.Properties.LinkNameOrDefault(), Values: values}, true
}

func hasLink(ls []lattice.Link, want lattice.Link) bool {
	for _, l := range ls {
		if l.ActorID == want.ActorID && l.ContractID == want.ContractID && l.LinkName == want.LinkName {
			return l.ProviderID == want.ProviderID && (len(l.Values) == 0 && len(want.Values) == 0 || reflect.DeepEqual(l.Values, want.Values))
		}
	}
	return false
}

// candidates are the hosts a component may go to, as placement sees them.
func candidates(o *observed, ck, alias string, forActors bool, running map[string]int) []manifest.Host {
	var out []manifest.Host
	for _, hv := range o.hosts {
		id := hv.summary.ID
		if forActors {
			if hv.summary.Labels[lattice.LabelRole] == lattice.RoleProvider {
				continue
			}
			// A host where the alias belongs to someone else cannot take it.
			if owner, taken := o.aliasTaken[id][alias]; taken && owner != ck {
				continue
			}
		}
		out = append(out, manifest.Host{ID: id, Labels: hv.summary.Labels, Running: running[id], Load: hv.summary.Instances})
	}
	return out
}

func (r *Reconciler) planActor(rec *app.Record, c *manifest.Component, o *observed, cs *app.ComponentStatus) []action {
	appName := rec.Name
	ck := componentKey(appName, c.Name)
	running := o.actors[ck]
	want, planErr := manifest.PlanActor(c, candidates(o, ck, c.Name, true, running))
	if planErr != nil {
		cs.Error = planErr.Error()
	}
	cs.Desired = want.Total()
	if spread, _ := c.Scaler(); spread != nil {
		cs.Desired = spread.Replicas // counts what found no host, too
	}
	for host, n := range running {
		cs.Running += n
		cs.Hosts[r.hostName(host)] = n
	}
	var acts []action
	stale := r.staleHosts(ck, c, o)
	for host, n := range want {
		have := running[host]
		if have == n || stale[host] {
			continue // a host with the old version updates below
		}
		if why, wait := r.waiting(ck, host); wait {
			if cs.Error == "" {
				cs.Error = fmt.Sprintf("on %s: %s", r.hostName(host), why)
			}
			continue
		}
		if have == 0 {
			req := lattice.StartActorRequest{Ref: c.Properties.Image, Name: c.Name, Count: n, Annotations: annotations(appName, c.Name)}
			acts = append(acts, action{comp: ck, host: host, what: fmt.Sprintf("start %d", n), do: func(ctx context.Context) error {
				_, err := r.client.StartActor(ctx, host, req)
				if lattice.CodeOf(err) == lattice.CodeRefused && strings.Contains(err.Error(), lattice.AlreadyRunning) {
					return nil // started already: the next pass reads it and scales
				}
				return err
			}})
			continue
		}
		name := o.actorName(ck, c.Name)
		acts = append(acts, action{comp: ck, host: host, what: fmt.Sprintf("scale %d→%d", have, n), do: func(ctx context.Context) error {
			_, err := r.client.ScaleActor(ctx, host, name, n)
			return err
		}})
	}
	// Start before stop: the hosts the plan leaves keep their instances
	// until every host it keeps or adds runs its share, so moving the
	// actor (a spread change, a new version elsewhere) never leaves it
	// without an instance that answers. A host whose start failed does
	// not hold them: its backoff may last.
	short := false
	for host, n := range want {
		if _, failed := r.waiting(ck, host); running[host] < n && !failed {
			short = true
		}
	}
	for host := range running {
		if want[host] == 0 && !short {
			acts = append(acts, r.stopActor(ck, host, o.actorName(ck, c.Name)))
		}
	}
	return append(acts, r.rollOut(rec, c, o, want, stale, cs)...)
}

// staleHosts are the hosts that run component c's actor from another
// module reference than its image: a new version of the manifest changed
// it.
func (r *Reconciler) staleHosts(ck string, c *manifest.Component, o *observed) map[string]bool {
	stale := map[string]bool{}
	for host, ref := range o.refs[ck] {
		if ref != c.Properties.Image {
			stale[host] = true
		}
	}
	return stale
}

// rollOut swaps the actor's module on the stale hosts that keep
// instances, a batch at a time (manifest.Component.RolloutBatch): each host
// starts the new version beside the old one before the old one drains
// (lattice.UpdateActorRequest), so the rollout loses no capacity and no
// call. Hosts with an update in flight count against the batch; the next
// pass takes the next hosts.
func (r *Reconciler) rollOut(rec *app.Record, c *manifest.Component, o *observed, want manifest.Placement, stale map[string]bool, cs *app.ComponentStatus) []action {
	appName := rec.Name
	ck := componentKey(appName, c.Name)
	if len(stale) == 0 {
		delete(r.canaries, ck+"\x00"+c.Properties.Image)
		return nil
	}
	hosts := make([]string, 0, len(stale))
	old := 0
	for host := range stale {
		hosts = append(hosts, host)
		old += o.actors[ck][host]
	}
	sort.Strings(hosts)
	cs.Rollout = fmt.Sprintf("rolling out %s: %d of %d instances still run the previous version", c.Properties.Image, old, cs.Running)
	batch, inFlight := c.RolloutBatch(), 0
	for _, host := range hosts {
		if r.busyOn(ck, host) {
			inFlight += max(want[host], 1)
		}
	}
	limit := len(hosts) // hosts this pass may update
	if policy := c.RolloutPolicy(); policy.Canary && rec.RolledBack == "" {
		// A rollback goes back at the batch's pace, with no steps. A
		// paused canary still goes back when the new version fails.
		var back bool
		if limit, back = r.canaryStep(rec, c, o, want, stale, policy, cs); back {
			return nil
		}
	}
	if rec.Paused {
		cs.Rollout += " (paused)"
		return nil
	}
	name := o.actorName(ck, c.Name)
	var acts []action
	for _, host := range hosts {
		n := want[host]
		if n == 0 || r.busyOn(ck, host) {
			continue // stopped above, or updating
		}
		if limit <= 0 {
			break
		}
		limit--
		if why, wait := r.waiting(ck, host); wait {
			if cs.Error == "" {
				cs.Error = fmt.Sprintf("update on %s: %s", r.hostName(host), why)
			}
			continue
		}
		if inFlight > 0 && inFlight+n > batch {
			break
		}
		inFlight += n
		req := lattice.UpdateActorRequest{Actor: name, Ref: c.Properties.Image, Count: n, Annotations: annotations(appName, c.Name)}
		acts = append(acts, action{comp: ck, host: host, what: fmt.Sprintf("update %d to %s", n, c.Properties.Image), do: func(ctx context.Context) error {
			_, err := r.client.UpdateActor(ctx, host, req)
			return err
		}})
	}
	return acts
}

// canary is how far a canary rollout of one component's image has come.
type canary struct {
	step    int       // index into the policy's steps
	reached time.Time // when the step's hosts all ran the new version; zero: not yet
}

// canaryStep runs a canary rollout of component c: each step gives the new
// version its share of the component's hosts (a NATS queue group spreads
// calls evenly over its subscribers, one per host, so a host's share of
// the calls is its share of the hosts), rounded up to whole hosts. A step
// lasts the policy's pause once all its hosts run the new version, then
// the next begins. All along, when the new version's instances have
// served MinCalls calls and more than MaxErrorRate of them failed, or the
// 99th percentile of their latency on one of its hosts passed MaxP99, the
// application returns to its previous version (back is true). limit is
// how many more hosts this pass may update.
func (r *Reconciler) canaryStep(rec *app.Record, c *manifest.Component, o *observed, want manifest.Placement, stale map[string]bool, p manifest.RolloutPolicy, cs *app.ComponentStatus) (limit int, back bool) {
	ck := componentKey(rec.Name, c.Name)
	key := ck + "\x00" + c.Properties.Image
	st := r.canaries[key]
	total, fresh, updating := 0, 0, 0
	served, failed, p99 := 0, 0, 0.0
	for host := range o.actors[ck] {
		if want[host] == 0 {
			continue
		}
		total++
		if stale[host] && r.busyOn(ck, host) {
			updating++
		}
		if !stale[host] {
			fresh++
			served += o.calls[ck][host]
			failed += o.failed[ck][host]
			p99 = max(p99, o.p99[ck][host]) // the slowest host's
			r.refresh[host] = true
		}
	}
	if st == nil {
		// A reconciler that takes over finds the step from what runs.
		st = &canary{}
		for st.step < len(p.Steps)-1 && fresh > stepHosts(p.Steps[st.step], total) {
			st.step++
		}
		r.canaries[key] = st
	}
	pct := p.Steps[st.step]
	rate := 0.0
	if served > 0 {
		rate = float64(failed) / float64(served)
	}
	var why string
	switch {
	case served < p.MinCalls:
	case p.MaxErrorRate > 0 && rate > p.MaxErrorRate:
		why = fmt.Sprintf("%s error rate %.0f%% > %s at step %d%%", rec.Deployed, rate*100, p.MaxErrorRateText, pct)
	case p.MaxP99 > 0 && p99 > float64(p.MaxP99)/float64(time.Millisecond):
		why = fmt.Sprintf("%s p99 latency %gms > %s at step %d%%", rec.Deployed, p99, p.MaxP99, pct)
	}
	if why != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		prev, err := r.store.RollBack(ctx, rec.Name, rec.Deployed, why)
		cancel()
		if err != nil {
			cs.Error = fmt.Sprintf("roll back (%s): %v", why, err)
			return 0, true
		}
		r.records[rec.Name] = *prev // the next pass plans the previous version
		r.log.Warn("rollout rolled back", "app", rec.Name, "component", c.Name, "why", why)
		delete(r.canaries, key)
		cs.Rollout = "rolling back: " + why
		return 0, true
	}
	target := stepHosts(pct, total)
	cs.Rollout = fmt.Sprintf("canary of %s at step %d%%: %d of %d hosts run it; %d calls, %d failed, p99 %gms", c.Properties.Image, pct, fresh, total, served, failed, p99)
	if fresh < target {
		st.reached = time.Time{}
		return max(target-fresh-updating, 0), false // hosts updating count
	}
	if st.reached.IsZero() {
		st.reached = time.Now()
	}
	if left := p.Pause - time.Since(st.reached); left > 0 || st.step == len(p.Steps)-1 || rec.Paused {
		if left > 0 {
			cs.Rollout += fmt.Sprintf("; next step in %s", left.Round(time.Second))
		}
		return 0, false
	}
	st.step++
	st.reached = time.Time{}
	return max(stepHosts(p.Steps[st.step], total)-fresh-updating, 0), false
}

// stepHosts is how many of total hosts a canary step of pct percent
// takes: rounded up, at least one.
func stepHosts(pct, total int) int {
	return max((pct*total+99)/100, 1)
}

// busyOn reports whether an action for component ck runs on host.
func (r *Reconciler) busyOn(ck, host string) bool {
	r.actMu.Lock()
	defer r.actMu.Unlock()
	return r.inflight[ck+"@"+host]
}

func (r *Reconciler) planCapability(appName string, c *manifest.Component, o *observed, cs *app.ComponentStatus) []action {
	ck := componentKey(appName, c.Name)
	name, err := r.cfg.Providers.Resolve(c)
	if errors.Is(err, manifest.ErrExternal) {
		cs.Provider = "external"
		if !o.served[servedKey(c)] {
			cs.Waiting = fmt.Sprintf("waiting for a provider of %s (link %s)", c.Properties.Contract, c.Properties.LinkNameOrDefault())
		}
		return nil
	}
	if err != nil {
		cs.Error = err.Error()
		return nil
	}
	cs.Provider = name
	running := o.providers[ck]
	want, planErr := manifest.PlanCapability(c, candidates(o, ck, "", false, running))
	if planErr != nil {
		cs.Error = planErr.Error()
	}
	cs.Desired = want.Total()
	for host := range running {
		cs.Running++
		cs.Hosts[r.hostName(host)] = 1
	}
	var acts []action
	shared := o.anyProvider[name+"\x00"+c.Properties.LinkNameOrDefault()]
	for host := range want {
		if running[host] > 0 {
			continue
		}
		if shared[host] > 0 {
			// Started by hand or by another application: shared, as
			// wadm shares providers, rather than started twice.
			cs.Running++
			cs.Hosts[r.hostName(host)] = 1
			continue
		}
		if why, wait := r.waiting(ck, host); wait {
			if cs.Error == "" {
				cs.Error = fmt.Sprintf("on %s: %s", r.hostName(host), why)
			}
			continue
		}
		req := lattice.StartProviderRequest{Name: name, LinkName: c.Properties.LinkNameOrDefault(), Annotations: annotations(appName, c.Name)}
		acts = append(acts, action{comp: ck, host: host, what: "start provider " + name, do: func(ctx context.Context) error {
			_, err := r.client.StartProvider(ctx, host, req)
			if lattice.CodeOf(err) == lattice.CodeRefused && strings.Contains(err.Error(), lattice.AlreadyRunning) {
				return nil // started already: the next pass reads it
			}
			return err
		}})
	}
	for host := range running {
		if want[host] == 0 {
			if p, ok := r.providerOn(host, ck); ok {
				acts = append(acts, r.stopProvider(ck, host, p))
			}
		}
	}
	return acts
}

// report writes each application's status: failed when a component
// could not be placed or started, reconciling while actions were issued
// or counts differ, deployed when all matches.
func (r *Reconciler) report(ctx context.Context, statuses map[string]*app.Status, o *observed, failed map[string]string) {
	for name, st := range statuses {
		st.Reconciler = r.cfg.HostName
		if st.Phase == app.PhaseReconciling {
			var problems, waiting []string
			settled := true
			for i := range st.Components {
				cs := &st.Components[i]
				if why, ok := failed[componentKey(name, cs.Name)]; ok && cs.Error == "" {
					cs.Error = why
				}
				if cs.Error != "" {
					problems = append(problems, fmt.Sprintf("component %s: %s", cs.Name, cs.Error))
				}
				if cs.Running != cs.Desired {
					settled = false
				}
				if cs.Waiting != "" {
					settled = false
					waiting = append(waiting, cs.Waiting)
				}
				if cs.Rollout != "" {
					settled = false
					waiting = append(waiting, fmt.Sprintf("component %s: %s", cs.Name, cs.Rollout))
				}
			}
			for _, l := range st.Links {
				if !hasLink(o.links, l) {
					settled = false
				}
			}
			switch {
			case len(problems) > 0:
				st.Phase, st.Message = app.PhaseFailed, strings.Join(problems, "; ")
			case settled:
				st.Phase = app.PhaseDeployed
			case len(waiting) > 0:
				st.Message = strings.Join(waiting, "; ")
			default:
				st.Message = "placing components"
			}
		}
		if old, ok := r.written[name]; ok && sameStatus(old, *st) {
			continue
		}
		st.UpdatedAt = time.Now().UTC()
		if err := r.store.SetStatus(ctx, *st); err != nil {
			r.log.Warn("write status", "app", name, "err", err)
			continue
		}
		r.written[name] = *st
	}
}

// leftovers reports whether anything the reconciler started for an
// application still runs: actors, providers, or links as it put them.
func leftovers(name string, links []lattice.Link, o *observed) bool {
	for _, m := range []map[string]map[string]int{o.actors, o.providers} {
		for ck := range m {
			if strings.HasPrefix(ck, name+"/") {
				return true
			}
		}
	}
	for _, l := range links {
		if hasLink(o.links, l) {
			return true
		}
	}
	return false
}

func sameStatus(a, b app.Status) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// servedKey names the provider subject of capability c in observed.served.
func servedKey(c *manifest.Component) string {
	return c.Properties.Contract + "\x00" + c.Properties.LinkNameOrDefault()
}

// probeExternal asks, once per pass, whether any process serves each
// external provider the deployed applications need: a request on its
// subject that NATS answers at once with "no responders" when nobody
// subscribes. Any answer, an error included, means a provider is there.
func (r *Reconciler) probeExternal(ctx context.Context, records []app.Record, o *observed) {
	o.served = map[string]bool{}
	for i := range records {
		if records[i].Deployed == "" {
			continue
		}
		a, err := r.manifest(&records[i])
		if err != nil {
			continue
		}
		for j := range a.Spec.Components {
			c := &a.Spec.Components[j]
			key := servedKey(c)
			if c.Type != manifest.TypeCapability || !r.cfg.Providers.External(c) {
				continue
			}
			if _, done := o.served[key]; done {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			msg := nats.NewMsg(lattice.ProviderSubject(r.cfg.Lattice, c.Properties.Contract, c.Properties.LinkNameOrDefault()))
			msg.Header.Set(lattice.HeaderOperation, "wisp.Probe")
			_, err := r.cfg.Conn.RequestMsgWithContext(pctx, msg)
			cancel()
			o.served[key] = err == nil || !errors.Is(err, nats.ErrNoResponders)
		}
	}
}
