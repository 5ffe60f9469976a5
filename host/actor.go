package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/pool"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// ErrPayloadTooLarge reports a payload or response above the actor's limit.
var ErrPayloadTooLarge = errors.New("payload too large")

// Actor is one actor running on a host: a compiled module, a pool of its
// instances and its subscription on the lattice.
type Actor struct {
	name    string
	id      identity
	ref     string
	hash    string
	ver     string // for observers (versionOf)
	limits  lattice.ActorLimits
	ann     map[string]string // annotations: who manages the actor
	started time.Time
	host    *Host
	mod     engine.Module
	pool    *pool.Pool
	subs    []*nats.Subscription
	log     *slog.Logger
	wg      sync.WaitGroup // calls from the lattice in flight
	queue   callQueue      // calls from the lattice waiting for a worker
	calls   atomic.Uint64  // calls from the lattice served
	failed  atomic.Uint64  // of which answered with an error
	latency latencies      // of the calls from the lattice
	// swapping is set while UpdateActor replaces this version.
	swapping atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
}

// Name is the actor's call alias.
func (a *Actor) Name() string { return a.name }

// Describe reports the actor's state.
func (a *Actor) Describe() lattice.ActorDescription {
	st := a.pool.Stats()
	d := lattice.ActorDescription{
		Name:        a.name,
		Key:         a.id.key,
		Caps:        a.id.caps(),
		Ref:         a.ref,
		Hash:        a.hash,
		Instances:   st.Live,
		Asleep:      st.Asleep,
		Busy:        st.Busy,
		Replaced:    st.Replaced,
		Limits:      a.limits,
		StartedAt:   a.started.UTC(),
		Annotations: maps.Clone(a.ann),
		LastError:   st.LastError,
		Calls:       a.calls.Load(),
		Failed:      a.failed.Load(),
		P99MS:       a.latency.p99(),
	}
	if c := a.id.claims; c != nil {
		d.Issuer = c.Issuer
		if c.Wascap != nil {
			d.ClaimsName, d.Version = c.Wascap.Name, c.Wascap.Ver
			if c.Wascap.Rev != nil {
				d.Revision = *c.Wascap.Rev
			}
		}
		if t, ok := c.ExpiresAt(); ok {
			d.Expires = &t
		}
	}
	return d
}

// StartActor loads, compiles and instantiates an actor, then subscribes it
// to the lattice. It returns once the actor can serve calls.
func (h *Host) StartActor(ctx context.Context, req lattice.StartActorRequest) (*Actor, error) {
	if req.Ref == "" {
		return nil, errors.New("start actor: no module reference")
	}
	if err := h.checkLimits(req.Limits); err != nil {
		return nil, fmt.Errorf("start actor %s: %w", req.Ref, err)
	}
	if err := h.checkInstances(req.Name, max(req.Count, 1)); err != nil {
		return nil, fmt.Errorf("start actor %s with %w", req.Ref, err)
	}
	wasm, release, err := h.load(ctx, req.Ref)
	if err != nil {
		return nil, fmt.Errorf("start actor: %w", err)
	}
	defer release()
	// An application's component name names an unsigned module; a signed
	// one keeps the call alias its claims give it.
	id, err := h.admit(wasm, req.Ref, req.Name, req.Annotations[lattice.AnnotationManagedBy] == lattice.ManagedByApps)
	if err != nil {
		return nil, fmt.Errorf("start actor %s: %w", req.Ref, err)
	}
	return h.startModule(ctx, id, req.Ref, wasm, req.Count, req.Limits, req.Annotations)
}

// load reads the module ref names: an absolute file path (optionally
// file://) under a directory the host allows, or an OCI reference pulled
// through the host's registry client. The bytes are the caller's until it
// calls release, and no longer: a file's may be unmapped then (see
// readModuleFile), so nothing made from them may keep them.
func (h *Host) load(ctx context.Context, ref string) (wasm []byte, release func(), err error) {
	path, isFile := strings.CutPrefix(ref, "file://")
	if isFile || filepath.IsAbs(path) {
		return h.readModuleFile(path)
	}
	if h.opts.pull == nil {
		return nil, nil, fmt.Errorf("%s is neither an absolute file path nor pullable: this host has no registry client", ref)
	}
	wasm, err = h.opts.pull(ctx, ref)
	return wasm, func() {}, err
}

// startModule runs wasm as the actor id.
func (h *Host) startModule(ctx context.Context, id identity, ref string, wasm []byte, count int, lim lattice.ActorLimits, ann map[string]string) (*Actor, error) {
	if count < 1 {
		count = 1
	}
	name := id.name
	lim = h.limitsWithDefaults(lim)
	h.mu.Lock()
	_, exists := h.actors[name]
	if id.key != "" {
		if _, taken := h.keys[id.key]; taken {
			exists = true
		}
	}
	stopping := h.stopping
	var admitErr error
	if !exists && !stopping {
		// Checked again with the name reserved: other starts may have
		// begun since the request was admitted.
		if admitErr = h.checkInstancesLocked(name, count); admitErr == nil {
			h.actors[name] = nil // reserve the name while starting
			if id.key != "" {
				h.keys[id.key] = name
			}
			h.pending += count
		}
	}
	h.mu.Unlock()
	switch {
	case stopping:
		return nil, fmt.Errorf("start actor %s: %w", name, ErrHostStopping)
	case exists:
		return nil, lattice.WithCode(lattice.CodeRefused, fmt.Errorf("start actor %s: %s (scale it, or stop it first)", name, lattice.AlreadyRunning))
	case admitErr != nil:
		return nil, fmt.Errorf("start actor %s with %w", name, admitErr)
	}
	a, err := h.newActor(ctx, id, ref, wasm, count, lim, ann, true)
	h.mu.Lock()
	h.pending -= count
	stopping = h.stopping
	if err != nil || stopping {
		delete(h.actors, name)
		delete(h.keys, id.key)
	} else {
		h.actors[name] = a
	}
	h.mu.Unlock()
	if err == nil && stopping {
		a.stop(ctx)
		err = ErrHostStopping
	}
	if err != nil {
		return nil, fmt.Errorf("start actor %s: %w", name, err)
	}
	if id.claims == nil {
		h.log.Warn("unsigned actor started (allowed by --allow-unsigned)", "actor", name, "instances", count, "ref", ref)
	} else {
		h.log.Info("actor started", "actor", name, "key", id.key, "issuer", id.claims.Issuer, "instances", count, "ref", ref)
	}
	return a, nil
}

func (h *Host) limitsWithDefaults(l lattice.ActorLimits) lattice.ActorLimits {
	d := h.opts.limits
	if l.MaxMemoryPages == 0 {
		l.MaxMemoryPages = d.MaxMemoryPages
	}
	if l.MaxPayload == 0 {
		l.MaxPayload = d.MaxPayload
	}
	if l.CallTimeoutMS == 0 {
		l.CallTimeoutMS = d.CallTimeoutMS
	}
	return l
}

// newActor compiles and instantiates wasm as actor id and subscribes it.
// With checkAlias it first makes sure no other module answers to the
// alias on the lattice (UpdateActor replaces the one that does).
func (h *Host) newActor(ctx context.Context, id identity, ref string, wasm []byte, count int, lim lattice.ActorLimits, ann map[string]string, checkAlias bool) (*Actor, error) {
	name := id.name
	hash := hex.EncodeToString(id.sum[:])
	module := id.key
	if module == "" {
		module = "sha256:" + hash
	}
	owner := aliasOwner(ann)
	if checkAlias {
		if err := h.checkAlias(ctx, name, module, owner); err != nil {
			return nil, err
		}
	}
	mod, err := h.eng.Compile(ctx, wasm, engine.Limits{MaxMemoryPages: lim.MaxMemoryPages, CallTimeout: lim.CallTimeout()})
	if err != nil {
		return nil, err
	}
	a := &Actor{
		name:    name,
		id:      id,
		ref:     ref,
		hash:    hash,
		ver:     versionOf(id, hash),
		limits:  lim,
		ann:     maps.Clone(ann),
		started: time.Now(),
		host:    h,
		mod:     mod,
		log:     h.log.With("actor", name),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.queue.signal = make(chan struct{}, 1)
	icfg := engine.InstanceConfig{
		Name:       name,
		HostCall:   h.hostCallFor(a),
		ConsoleLog: func(msg string) { a.log.Info(msg, "source", "console") },
		Stdout:     &lineLogger{log: a.log, level: slog.LevelInfo, stream: "stdout"},
		Stderr:     &lineLogger{log: a.log, level: slog.LevelWarn, stream: "stderr"},
	}
	a.pool, err = pool.New(ctx, mod, pool.Config{
		Size:         count,
		Instance:     icfg,
		OnReplace:    func(err error) { a.log.Warn("instance replaced", "cause", err) },
		IdleTimeout:  time.Duration(lim.IdleTimeoutMS) * time.Millisecond,
		QueueTimeout: h.opts.queueTimeout,
	})
	if err != nil {
		mod.Close(ctx)
		return nil, err
	}
	// The actor answers to its call alias and to its module key.
	names := []string{name}
	if id.key != "" && id.key != name {
		names = append(names, id.key)
	}
	for _, n := range names {
		subject := lattice.RPCSubject(h.opts.lattice, n)
		sub, err := h.nc.QueueSubscribe(subject, subject, a.handle)
		if err != nil {
			a.unsubscribe()
			a.pool.Close(ctx)
			mod.Close(ctx)
			return nil, fmt.Errorf("subscribe %s: %w", subject, err)
		}
		// The queue may hold many calls while instances are busy.
		sub.SetPendingLimits(-1, -1)
		a.subs = append(a.subs, sub)
	}
	// One host of those running the alias answers a check (a queue
	// group): a thousand hosts starting an actor would otherwise each
	// get a thousand answers.
	aliasSubject := lattice.AliasSubject(h.opts.lattice, name)
	aliasSub, err := h.nc.QueueSubscribe(aliasSubject, aliasSubject, func(m *nats.Msg) {
		reply := &nats.Msg{Subject: m.Reply, Data: []byte(module)}
		if owner != "" {
			reply.Header = nats.Header{lattice.AliasOwnerHeader: []string{owner}}
		}
		m.RespondMsg(reply)
	})
	if err == nil {
		a.subs = append(a.subs, aliasSub)
		err = a.subscribeIdentity(names)
	}
	if err == nil {
		a.startWorkers(count)
		err = h.nc.Flush()
	}
	if err != nil {
		a.unsubscribe()
		a.pool.Close(ctx)
		a.cancel()
		mod.Close(ctx)
		return nil, fmt.Errorf("subscribe %s: %w", name, err)
	}
	return a, nil
}

// aliasOwner is "app/component" for an actor an application manages, ""
// otherwise.
func aliasOwner(ann map[string]string) string {
	if ann[lattice.AnnotationManagedBy] != lattice.ManagedByApps || ann[lattice.AnnotationApp] == "" {
		return ""
	}
	return ann[lattice.AnnotationApp] + "/" + ann[lattice.AnnotationComponent]
}

// checkAlias refuses to start module under alias when another module
// already answers to that alias somewhere on the lattice, unless both
// are versions of one application component (owner, not empty): during
// a rollout the new version starts on hosts that ran none while the old
// one still answers elsewhere.
func (h *Host) checkAlias(ctx context.Context, alias, module, owner string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	reply, err := h.nc.RequestWithContext(ctx, lattice.AliasSubject(h.opts.lattice, alias), nil)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil
	case err != nil:
		return fmt.Errorf("check alias %s on the lattice: %w", alias, err)
	case string(reply.Data) != module && (owner == "" || reply.Header.Get(lattice.AliasOwnerHeader) != owner):
		return fmt.Errorf("alias %q is already used on lattice %q by another module (%s): stop it first, or give this one another call alias", alias, h.opts.lattice, reply.Data)
	}
	return nil
}

// Invoke runs operation on one of the actor's instances.
func (a *Actor) Invoke(ctx context.Context, operation string, payload []byte) ([]byte, error) {
	return a.invoke(ctx, operation, payload, nil)
}

// invoke runs an invocation, with the headers of the NATS message it came
// in (nil in process), under the host's observer.
func (a *Actor) invoke(ctx context.Context, operation string, payload []byte, hdr nats.Header) ([]byte, error) {
	return a.invokeOr(ctx, operation, payload, hdr, nil, nil)
}

// invokeOr is invoke, or, when refused is set, the observed refusal of the
// call with that error (a call the lattice queue turned away as busy). The
// response is appended to dst.
func (a *Actor) invokeOr(ctx context.Context, operation string, payload []byte, hdr nats.Header, refused error, dst []byte) ([]byte, error) {
	ctx = trace.Extract(ctx, hdr)
	ctx, end := a.observeInvocation(ctx, operation, payload, hdr)
	run := a.run
	if refused != nil {
		run = func(context.Context, string, []byte, []byte) ([]byte, error) { return nil, refused }
	}
	if end == nil {
		return run(ctx, operation, payload, dst)
	}
	out, err := run(ctx, operation, payload, dst)
	end(len(out), err)
	return out, err
}

// run runs operation on an instance within the actor's payload limits and
// appends the response to dst.
func (a *Actor) run(ctx context.Context, operation string, payload, dst []byte) ([]byte, error) {
	if len(payload) > a.limits.MaxPayload {
		return nil, fmt.Errorf("%s: %w: %d bytes, the actor's limit is %d", operation, ErrPayloadTooLarge, len(payload), a.limits.MaxPayload)
	}
	out, err := a.pool.InvokeAppend(ctx, operation, payload, dst)
	if err != nil {
		return nil, err
	}
	if len(out) > a.limits.MaxPayload {
		return nil, fmt.Errorf("%s: %w: the response has %d bytes, the actor's limit is %d", operation, ErrPayloadTooLarge, len(out), a.limits.MaxPayload)
	}
	return out, nil
}

// serve runs one call from the lattice, received at at, and answers it;
// refused, when set, turns the call away with that error instead (see
// callQueue).
func (a *Actor) serve(m *nats.Msg, refused error, at time.Time) {
	defer a.wg.Done()
	defer func() { a.latency.observe(time.Since(at)) }()
	a.calls.Add(1)
	op := m.Header.Get(lattice.HeaderOperation)
	// The response is copied out of the guest into a buffer that goes back
	// to replyBufs once the reply is sent (NATS copies what it publishes).
	buf := replyBufs.Get().(*[]byte)
	var out []byte
	var err error
	if op == "" {
		err = lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("missing %s header: name the operation to run", lattice.HeaderOperation))
	} else if refused != nil || !chunked.IsChunked(m) {
		out, err = a.invokeOr(a.ctx, op, m.Data, m.Header, refused, (*buf)[:0])
	} else {
		var body []byte
		if body, err = a.readBody(m); err == nil {
			out, err = a.invokeOr(a.ctx, op, body, m.Header, nil, (*buf)[:0])
		} else {
			a.log.Info("call's payload did not arrive", "operation", op, "err", err)
		}
	}
	if err != nil {
		a.failed.Add(1)
	}
	if m.Reply == "" {
		if err != nil {
			a.log.Warn("call without reply subject failed", "operation", op, "err", err)
		}
		return
	}
	reply := &nats.Msg{Subject: m.Reply, Data: out}
	if err != nil {
		lattice.SetReplyError(reply, codeOf(err), err)
	}
	if len(out) <= chunked.Limit(a.host.nc) {
		// Most replies go whole: no deadline (and its timer) to make.
		err = m.RespondMsg(reply)
		if cap(out) > 0 && cap(out) <= maxReplyBuf {
			*buf = out
		}
		replyBufs.Put(buf)
	} else {
		ctx, cancel := context.WithTimeout(a.ctx, a.limits.CallTimeout())
		err = chunked.Respond(ctx, a.host.nc, m, reply, chunked.Options{})
		cancel()
	}
	if errors.Is(err, chunked.ErrNotAccepted) {
		lattice.SetReplyError(reply, lattice.CodePayloadTooLarge, fmt.Errorf("%s: %w", op, err))
		err = m.RespondMsg(reply)
	}
	if err != nil {
		a.log.Warn("reply failed", "operation", op, "err", err)
	}
}

// replyBufs holds buffers for responses on their way from a guest to NATS,
// as *[]byte. One above maxReplyBuf is left to the garbage collector.
var replyBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxReplyBuf = 1 << 20

// readBody pulls the chunks of call m from its caller (see package
// chunked), refusing a body above the actor's payload limit before it
// pulls anything.
func (a *Actor) readBody(m *nats.Msg) ([]byte, error) {
	ctx, cancel := context.WithTimeout(a.ctx, a.limits.CallTimeout())
	defer cancel()
	body, err := chunked.ReadBody(ctx, a.host.nc, m, a.limits.MaxPayload, chunked.Options{})
	switch {
	case errors.Is(err, chunked.ErrTooLarge):
		return nil, lattice.WithCode(lattice.CodePayloadTooLarge, fmt.Errorf("%w: the actor's limit is %d bytes", err, a.limits.MaxPayload))
	case errors.Is(err, chunked.ErrProtocol):
		return nil, lattice.WithCode(lattice.CodeBadRequest, err)
	case err != nil:
		return nil, lattice.WithCode(lattice.CodeUnavailable, fmt.Errorf("payload: %w", err))
	}
	return body, nil
}

// stop leaves the queue group, lets calls already received finish, and
// closes the instances.
func (a *Actor) stop(ctx context.Context) error {
	var errs []error
	for _, sub := range a.subs {
		closed := sub.StatusChanged(nats.SubscriptionClosed)
		if err := sub.Drain(); err != nil {
			// On a closed connection nothing is left to drain, and the
			// subscription never reports closed: do not wait for it.
			if !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, fmt.Errorf("drain %s: %w", a.name, err))
			}
			continue
		}
		select {
		case <-closed:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("drain %s: %w", a.name, ctx.Err()))
		}
	}
	a.wg.Wait()
	if err := a.pool.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	a.cancel()
	if err := a.mod.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	a.host.log.Info("actor stopped", "actor", a.name)
	return errors.Join(errs...)
}

func (a *Actor) unsubscribe() {
	for _, sub := range a.subs {
		sub.Unsubscribe()
	}
}

// lineLogger turns a guest's WASI output into log lines.
type lineLogger struct {
	mu     sync.Mutex
	log    *slog.Logger
	level  slog.Level
	stream string
	buf    bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err == io.EOF {
			l.buf.WriteString(line) // keep the partial line
			break
		}
		l.log.Log(context.Background(), l.level, strings.TrimRight(line, "\r\n"), "source", l.stream)
	}
	if l.buf.Len() > 64<<10 { // a guest writing without newlines
		l.log.Log(context.Background(), l.level, l.buf.String(), "source", l.stream)
		l.buf.Reset()
	}
	return len(p), nil
}
