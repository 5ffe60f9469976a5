// Package host is one wisp host: it runs actors in instance pools on an
// engine, serves their calls from the lattice, answers the host control
// interface, and routes the actors' host calls.
//
//	nc, _ := nats.Connect(url)
//	h, _ := host.New(ctx, nc, host.WithLabels(map[string]string{"tier": "pi"}))
//	defer h.Stop(ctx)
//	h.StartActor(ctx, lattice.StartActorRequest{Ref: "/abs/echo.wasm", Count: 4})
//
// A request's path is a straight line: NATS subscription → Actor.Invoke →
// pool → engine instance → guest; a host call from the guest goes back out
// through Router (builtins, other actors, links).
package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
)

// Default per-actor limits a host applies when a start request sets none.
const (
	DefaultMaxPayload = 1 << 20 // 1 MiB
	// MaxPayloadCeiling is the largest payload limit a host takes: what a
	// chunked call carries (chunked.MaxBody).
	MaxPayloadCeiling = chunked.MaxBody
)

// Host runs actors and serves them on a lattice. Its methods are safe for
// concurrent use.
type Host struct {
	linksSaid atomic.Bool // "links restored" logged
	id        string
	nc        *nats.Conn
	opts      options
	eng       engine.Engine
	labels    map[string]string
	started   time.Time
	log       *slog.Logger

	mu       sync.Mutex
	actors   map[string]*Actor // by call alias; nil values: actors still starting
	keys     map[string]string // module key → call alias
	pending  int               // instances of the actors still starting
	stopping bool

	subs          []*nats.Subscription
	links         *links
	provs         providers
	members       *members    // the lattice's hosts, for auctions
	announce      atomic.Bool // host_started still to publish
	announceTimer *time.Timer
	// restoreHandlers puts back the connection handlers New replaced.
	restoreHandlers func()
	bgCancel        context.CancelFunc // stops the background goroutines
	bg              sync.WaitGroup     // heartbeats, the state loop
	done            chan struct{}      // closed when the host has stopped
	stopOnce        sync.Once
	stopErr         error
	stopReq         chan struct{} // closed when a stop command arrives
	reqOnce         sync.Once
	wg              sync.WaitGroup // control handlers in flight
}

type options struct {
	queueTimeout time.Duration
	lattice      string
	name         string
	labels       map[string]string
	engine       engine.Config
	limits       lattice.ActorLimits
	log          *slog.Logger

	ceilings Ceilings
	fileDirs []string
	router   Router
	ownEng   engine.Engine
	policy   Policy
	pull     PullFunc
	// observer watches calls (WithObserver); nil: none.
	observer Observer

	heartbeat time.Duration
	jsDomain  string
	noActors  bool
}

// Option configures a Host.
type Option func(*options)

// WithLattice sets the lattice id (default "default").
func WithLattice(id string) Option { return func(o *options) { o.lattice = id } }

// WithName sets the host's friendly name (default: one derived from the
// host id, such as "brave-otter-0412"; see FriendlyName).
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithLabels adds labels to the built-in ones.
func WithLabels(l map[string]string) Option {
	return func(o *options) { o.labels = mergeLabels(nil, o.labels, l) }
}

// WithEngine configures the engine the host creates.
func WithEngine(c engine.Config) Option {
	return func(o *options) { o.engine, o.ownEng = c, nil }
}

// WithEngineInstance makes the host use e instead of creating one; the
// host does not close it.
func WithEngineInstance(e engine.Engine) Option { return func(o *options) { o.ownEng = e } }

// WithDefaultLimits sets the limits of actors started without their own.
// They are the host's ceilings too: a start asking for more is refused.
func WithDefaultLimits(l lattice.ActorLimits) Option { return func(o *options) { o.limits = l } }

// WithQueueTimeout bounds how long a call from the lattice waits for an
// instance before it is refused as busy (default pool.DefaultQueueTimeout).
// A call whose body comes in chunks waits, too, while instances pull the
// bodies of the calls before it.
func WithQueueTimeout(d time.Duration) Option { return func(o *options) { o.queueTimeout = d } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRouter answers the host calls that builtins, actor-to-actor calls
// and the lattice's links do not.
func WithRouter(r Router) Option { return func(o *options) { o.router = r } }

// WithProvidersOnly, when only is true, makes a host that runs providers
// only: it does not bid in actor auctions and refuses to start actors
// (wisp provider run).
func WithProvidersOnly(only bool) Option { return func(o *options) { o.noActors = only } }

// PullFunc fetches the module an OCI reference names, checked against its
// digests; the host then verifies its claims as for a local file.
type PullFunc func(ctx context.Context, ref string) ([]byte, error)

// WithPull lets the host start actors from OCI references (see package
// oci). Without it only file paths start.
func WithPull(fn PullFunc) Option { return func(o *options) { o.pull = fn } }

// New creates a host on connection nc, which it uses but does not close,
// and starts serving the control interface.
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Host, error) {
	o := options{lattice: lattice.DefaultLattice, log: slog.Default(), heartbeat: DefaultHeartbeat}
	for _, opt := range opts {
		opt(&o)
	}
	if o.heartbeat <= 0 {
		o.heartbeat = DefaultHeartbeat
	}
	if err := lattice.ValidateName("lattice id", o.lattice); err != nil {
		return nil, err
	}
	if o.limits.MaxPayload == 0 {
		o.limits.MaxPayload = DefaultMaxPayload
	}
	if o.limits.MaxPayload < 0 || o.limits.MaxPayload > MaxPayloadCeiling {
		return nil, fmt.Errorf("max payload %d bytes: want 1 to %d (64 MiB; above the NATS server's max_payload calls travel in chunks)", o.limits.MaxPayload, MaxPayloadCeiling)
	}
	if o.limits.MaxMemoryPages == 0 {
		o.limits.MaxMemoryPages = engine.DefaultMaxMemoryPages
	}
	if o.limits.CallTimeoutMS == 0 {
		o.limits.CallTimeoutMS = engine.DefaultCallTimeout.Milliseconds()
	}
	o.ceilings = o.ceilings.withDefaults()
	dirs, err := resolveDirs(o.fileDirs)
	if err != nil {
		return nil, err
	}
	o.fileDirs = dirs
	kp, err := nkeys.CreateServer()
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	id, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if o.name == "" {
		o.name = FriendlyName(id)
	}
	eng := o.ownEng
	if eng == nil {
		if eng, err = engine.New(o.engine); err != nil {
			return nil, err
		}
	}
	h := &Host{
		id:      id,
		nc:      nc,
		opts:    o,
		eng:     eng,
		started: time.Now(),
		log:     o.log.With("host", id[:8]),
		actors:  map[string]*Actor{},
		keys:    map[string]string{},
		done:    make(chan struct{}),
		stopReq: make(chan struct{}),
		links:   newLinks(),
		provs:   providers{byKey: map[string]*hostedProvider{}},
		members: newMembers(id),
	}
	h.opts.router = &linkRouter{h: h, next: o.router}
	h.labels = mergeLabels(BuiltinLabels(eng.Name()), o.labels)
	if err := h.subscribe(); err != nil {
		h.closeEngine(ctx)
		return nil, err
	}
	h.watchConnection()
	bg, cancel := context.WithCancel(context.Background())
	h.bgCancel = cancel
	h.bg.Add(3)
	go func() { defer h.bg.Done(); h.runState(bg) }()
	go func() { defer h.bg.Done(); h.heartbeats(bg, o.heartbeat) }()
	go func() { defer h.bg.Done(); h.retryLinksEvery(bg, linkRetry) }()
	// host_started goes out from the state loop once the event stream
	// stores it, so that a lattice's history starts with its hosts; when
	// JetStream is not there within 15s it goes out anyway.
	h.announce.Store(true)
	h.announceTimer = time.AfterFunc(15*time.Second, h.announceStarted)
	h.log.Info("host started", "name", o.name, "lattice", o.lattice, "heartbeat", o.heartbeat)
	return h, nil
}

// watchConnection logs a dropped NATS connection and, when it comes back,
// re-registers the host: nats.go restores the subscriptions, and the host
// announces itself with a heartbeat and opens its JetStream state again
// (the server may have restarted). Handlers set on nc before New still run.
func (h *Host) watchConnection() {
	prevDisc, prevRecon := h.nc.Opts.DisconnectedErrCB, h.nc.Opts.ReconnectedCB
	h.restoreHandlers = func() {
		h.nc.SetDisconnectErrHandler(prevDisc)
		h.nc.SetReconnectHandler(prevRecon)
	}
	h.nc.SetDisconnectErrHandler(func(nc *nats.Conn, err error) {
		h.log.Warn("NATS connection lost; reconnecting", "err", err)
		if prevDisc != nil {
			prevDisc(nc, err)
		}
	})
	h.nc.SetReconnectHandler(func(nc *nats.Conn) {
		h.log.Info("NATS connection back: re-registering", "server", nc.ConnectedUrlRedacted())
		h.links.reset()
		h.publish(lattice.EventHostHeartbeat, h.hostEvent())
		if prevRecon != nil {
			prevRecon(nc)
		}
	})
}

// Name is the host's friendly name.
func (h *Host) Name() string { return h.opts.name }

// ID is the host's public server key (N…), its id on the lattice.
func (h *Host) ID() string { return h.id }

// Lattice is the lattice id the host serves.
func (h *Host) Lattice() string { return h.opts.lattice }

// Labels returns a copy of the host's labels.
func (h *Host) Labels() map[string]string { return maps.Clone(h.labels) }

// linkRetry is how often a host looks for refused links whose backoff
// (linkBackoff) has passed.
const linkRetry = time.Second

// StopRequested is closed when a stop command arrives over the lattice; the
// owner of the host should then call Stop.
func (h *Host) StopRequested() <-chan struct{} { return h.stopReq }

func (h *Host) subscribe() error {
	l := h.opts.lattice
	for _, s := range []struct {
		subject string
		fn      nats.MsgHandler
		queue   string
		members bool // for the lattice's hosts (members)
	}{
		{lattice.PingSubject(l), h.handlePing, "", false},
		{lattice.HostSubjectAll(l, h.id), h.handleControl, "", false},
		{lattice.AuctionActorSubject(l), h.handleAuction, "", false},
		{lattice.AuctionProviderSubject(l), h.handleProviderAuction, "", false},
		{lattice.DevicesSubject(l), h.handleDevices, "", false},
		{lattice.LinkSubject(l, "*"), h.handleLink, "wisp-links", false},
		{lattice.EventSubject(l, lattice.EventHostStarted), h.members.onEvent, "", true},
		{lattice.EventSubject(l, lattice.EventHostHeartbeat), h.members.onEvent, "", true},
		{lattice.EventSubject(l, lattice.EventHostStopped), h.members.onEvent, "", true},
		{lattice.DisconnectSubject(l), h.members.onDisconnect, "", true},
	} {
		if h.opts.noActors && (s.queue == "wisp-links" || s.members) {
			// Links are put by hosts that run actors: a providers-only
			// process may only read them (auth.RoleProvider). It bids in
			// no actor auction, so it need not know the lattice's hosts.
			continue
		}
		sub, err := h.nc.QueueSubscribe(s.subject, s.queue, s.fn)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", s.subject, err)
		}
		h.subs = append(h.subs, sub)
	}
	// Make sure the server has the subscriptions before anyone is told the
	// host is up.
	if err := h.nc.Flush(); err != nil {
		return fmt.Errorf("subscribe control interface: %w", err)
	}
	return nil
}

// Summary describes the host as a ping answers it.
func (h *Host) Summary() lattice.HostSummary {
	h.mu.Lock()
	actors, instances := len(h.actors), 0
	for _, a := range h.actors {
		if a == nil {
			actors--
			continue
		}
		instances += a.pool.Stats().Live
	}
	h.mu.Unlock()
	return lattice.HostSummary{
		ID:            h.id,
		Name:          h.opts.name,
		Lattice:       h.opts.lattice,
		Labels:        h.Labels(),
		Version:       lattice.Version,
		StartedAt:     h.started.UTC(),
		UptimeSeconds: int64(time.Since(h.started).Seconds()),
		Actors:        actors,
		Instances:     instances,
		HeartbeatMS:   h.opts.heartbeat.Milliseconds(),
		Conn:          connOf(h.nc),
		ProvidersOnly: h.opts.noActors,
	}
}

// connOf is nc's connection id, nil while it is not connected.
func connOf(nc *nats.Conn) *lattice.ConnID {
	if c := lattice.ConnOf(nc); c.Server != "" {
		return &c
	}
	return nil
}

// Inventory lists what runs on the host.
func (h *Host) Inventory() lattice.HostInventory {
	inv := lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: h.Summary(), Actors: []lattice.ActorDescription{}}
	h.mu.Lock()
	for _, a := range h.actors {
		if a != nil {
			inv.Actors = append(inv.Actors, a.Describe())
		}
	}
	h.mu.Unlock()
	sort.Slice(inv.Actors, func(i, j int) bool { return inv.Actors[i].Name < inv.Actors[j].Name })
	inv.Providers = h.providerInventory()
	return inv
}

func (h *Host) handlePing(m *nats.Msg) {
	if !noBody(m) {
		return
	}
	respondJSON(m, h.Summary())
}

// noBody accepts the body of a command that takes none: empty, or any
// valid JSON. Anything else gets an error answer, so that garbage never
// passes for a command (a stop above all).
func noBody(m *nats.Msg) bool {
	if len(bytes.TrimSpace(m.Data)) == 0 || json.Valid(m.Data) {
		return true
	}
	respondJSON(m, lattice.Ack{Error: "bad request body: this command takes none (or JSON)", Code: lattice.CodeBadRequest})
	return false
}

// handleControl serves wisp.ctl.L.host.<id>.<verb>. Commands run in their
// own goroutine: a start may compile for a while and must not hold up
// pings or other commands.
func (h *Host) handleControl(m *nats.Msg) {
	verb := m.Subject[len(lattice.HostSubject(h.opts.lattice, h.id, "")):]
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx := context.Background()
		switch verb {
		case lattice.VerbInventory:
			if noBody(m) {
				respondJSON(m, h.Inventory())
			}
		case lattice.VerbStartActor:
			// Acknowledged at once; the outcome is an event (a pull and a
			// compile can outlast any request timeout).
			var req lattice.StartActorRequest
			if !decode(m, &req) {
				return
			}
			if err := h.canStart(req); err != nil {
				respondJSON(m, ack(err))
				return
			}
			respondJSON(m, lattice.Ack{Accepted: true})
			h.startReported(ctx, req)
		case lattice.VerbScaleActor:
			var req lattice.ScaleActorRequest
			if !decode(m, &req) {
				return
			}
			if _, ok := h.Actor(req.Actor); !ok {
				respondJSON(m, ack(fmt.Errorf("scale %s: %w", req.Actor, ErrActorNotFound)))
				return
			}
			if req.Count < 1 {
				respondJSON(m, ack(lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("scale %s: count %d: want at least 1", req.Actor, req.Count))))
				return
			}
			if err := h.checkInstances(req.Actor, req.Count); err != nil {
				respondJSON(m, ack(fmt.Errorf("scale %s to %w", req.Actor, err)))
				return
			}
			respondJSON(m, lattice.Ack{Accepted: true})
			h.scaleReported(ctx, req)
		case lattice.VerbUpdateActor:
			var req lattice.UpdateActorRequest
			if !decode(m, &req) {
				return
			}
			if req.Ref == "" {
				respondJSON(m, ack(lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("update %s: no module reference", req.Actor))))
				return
			}
			if _, ok := h.Actor(req.Actor); !ok {
				respondJSON(m, ack(fmt.Errorf("update %s: %w", req.Actor, ErrActorNotFound)))
				return
			}
			respondJSON(m, lattice.Ack{Accepted: true})
			h.updateReported(ctx, req)
		case lattice.VerbStopActor:
			var req lattice.StopActorRequest
			if !decode(m, &req) {
				return
			}
			respondJSON(m, ack(h.StopActor(ctx, req.Actor)))
		case lattice.VerbStartProvider, lattice.VerbStopProvider:
			h.providerCommand(ctx, verb, m)
		case lattice.VerbStopHost:
			if !noBody(m) {
				return
			}
			respondJSON(m, lattice.Ack{Accepted: true})
			h.reqOnce.Do(func() { close(h.stopReq) })
		default:
			respondJSON(m, lattice.Ack{Error: fmt.Sprintf("unknown host command %q", verb), Code: lattice.CodeBadRequest})
		}
	}()
}

// canStart refuses at once the start commands that cannot succeed.
func (h *Host) canStart(req lattice.StartActorRequest) error {
	if req.Ref == "" {
		return lattice.WithCode(lattice.CodeBadRequest, errors.New("start actor: no module reference"))
	}
	if h.opts.noActors {
		return lattice.WithCode(lattice.CodeRefused, fmt.Errorf("start actor %s: host %s runs providers only", req.Ref, h.opts.name))
	}
	if err := h.checkLimits(req.Limits); err != nil {
		return fmt.Errorf("start actor %s: %w", req.Ref, err)
	}
	if err := h.checkInstances(req.Name, max(req.Count, 1)); err != nil {
		return fmt.Errorf("start actor %s with %w", req.Ref, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return fmt.Errorf("start actor %s: %w", req.Ref, ErrHostStopping)
	}
	return nil
}

func decode(m *nats.Msg, v any) bool {
	if err := json.Unmarshal(m.Data, v); err != nil {
		respondJSON(m, lattice.Ack{Error: fmt.Sprintf("bad request body: %v", err), Code: lattice.CodeBadRequest})
		return false
	}
	return true
}

// ack answers a command that failed with err, or succeeded.
func ack(err error) lattice.Ack {
	if err != nil {
		return lattice.Ack{Error: err.Error(), Code: codeOf(err)}
	}
	return lattice.Ack{Accepted: true}
}

func respondJSON(m *nats.Msg, v any) {
	if m.Reply == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(lattice.Ack{Error: err.Error(), Code: lattice.CodeInternal})
	}
	m.Respond(b)
}

// Actor returns the running actor with call alias or module key name.
func (h *Host) Actor(name string) (*Actor, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if alias, ok := h.keys[name]; ok {
		name = alias
	}
	a, ok := h.actors[name]
	return a, ok && a != nil
}

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrActorNotFound reports an actor that does not run on this host.
	ErrActorNotFound = errors.New("actor not running on this host")
	// ErrHostStopping reports a command that arrived while the host drains.
	ErrHostStopping = errors.New("host is stopping")
)

// StopActor stops the actor: it leaves the queue group, calls in flight
// finish, instances close.
func (h *Host) StopActor(ctx context.Context, name string) error {
	h.mu.Lock()
	if alias, ok := h.keys[name]; ok {
		name = alias
	}
	a, ok := h.actors[name]
	if ok && a == nil {
		h.mu.Unlock()
		return lattice.WithCode(lattice.CodeUnavailable, fmt.Errorf("stop %s: still starting, try again", name))
	}
	delete(h.actors, name)
	if ok {
		delete(h.keys, a.id.key)
	}
	h.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop %s: %w", name, ErrActorNotFound)
	}
	err := a.stop(ctx)
	freeMemory()
	h.publish(lattice.EventActorStopped, lattice.ActorEventData{HostID: h.id, Command: "stop", Name: a.name, Ref: a.ref})
	return err
}

// ScaleActor sets the number of instances of a running actor.
func (h *Host) ScaleActor(ctx context.Context, name string, count int) (*Actor, error) {
	a, ok := h.Actor(name)
	if !ok {
		return nil, fmt.Errorf("scale %s: %w", name, ErrActorNotFound)
	}
	if err := h.checkInstances(name, count); err != nil {
		return nil, fmt.Errorf("scale %s to %w", name, err)
	}
	before := a.pool.Stats().Size
	if err := a.pool.Scale(ctx, count); err != nil {
		return nil, fmt.Errorf("scale %s: %w", name, err)
	}
	a.startWorkers(count)
	if count < before {
		// The closed instances' memory is garbage now; give it back to
		// the system rather than keep it for instances that may never
		// come back.
		freeMemory()
	}
	return a, nil
}

// Stop drains the host: it stops answering the control interface, stops
// every actor (calls in flight finish, until ctx ends) and releases the
// engine. The NATS connection is left to its owner.
func (h *Host) Stop(ctx context.Context) error {
	h.stopOnce.Do(func() {
		for _, s := range h.subs {
			s.Unsubscribe()
		}
		h.restoreHandlers()
		h.mu.Lock()
		h.stopping = true
		actors := make([]*Actor, 0, len(h.actors))
		for name, a := range h.actors {
			if a != nil {
				actors = append(actors, a)
				delete(h.actors, name)
			}
		}
		h.mu.Unlock()
		var errs []error
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, a := range actors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.stop(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				h.publish(lattice.EventActorStopped, lattice.ActorEventData{HostID: h.id, Command: "stop", Name: a.name, Ref: a.ref})
			}()
		}
		wg.Wait()
		if err := h.stopProviders(ctx); err != nil {
			errs = append(errs, err)
		}
		h.wg.Wait()
		h.bgCancel()
		h.bg.Wait()
		if h.announceTimer != nil {
			h.announceTimer.Stop()
		}
		h.announceStarted()
		h.publish(lattice.EventHostStopped, h.hostEvent())
		if err := h.nc.FlushTimeout(2 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			h.log.Warn("flush the last events", "err", err)
		}
		h.closeEngine(ctx)
		h.stopErr = errors.Join(errs...)
		close(h.done)
	})
	return h.stopErr
}

// Done is closed when Stop has finished.
func (h *Host) Done() <-chan struct{} { return h.done }

func (h *Host) closeEngine(ctx context.Context) {
	if h.opts.ownEng == nil {
		h.eng.Close(ctx)
	}
}
