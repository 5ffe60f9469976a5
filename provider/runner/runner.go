// Package runner serves a capability provider on the lattice: it answers
// the provider's subject (a queue group, so every host running the provider
// shares the calls), hands links to it, and lets it call actors, in process
// when a host gives it a way to and over NATS otherwise.
//
// A host runs providers with a Runner each; `wisp provider run` runs one in
// a process of its own. Either way actors reach it at
// lattice.ProviderSubject(lattice, contract, link name).
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
)

// LocalInvoker calls an actor in the same process. ok is false when the
// actor does not run here, and the call then goes over NATS.
type LocalInvoker func(ctx context.Context, actor, operation string, payload []byte) (out []byte, ok bool, err error)

// Config describes a Runner.
type Config struct {
	// Conn is the lattice's NATS connection; the Runner uses it, it does
	// not close it.
	Conn *nats.Conn
	// Lattice is the lattice id (default "default").
	Lattice string
	// LinkName is the link name the provider serves (default "default").
	LinkName string
	// Local, if set, runs calls to actors on this host without NATS.
	Local LocalInvoker
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// New, if set, makes a fresh provider to replace one that panicked;
	// without it a panic only fails the call.
	New func() provider.Provider
	// OnRestart hears about each restart after a panic.
	OnRestart func(cause any)
}

// Runner serves one provider under one link name.
type Runner struct {
	cfg Config
	log *slog.Logger
	sub *nats.Subscription
	wg  sync.WaitGroup // calls being served

	// linkMu makes a provider's link changes one at a time: the
	// host's own put and its bucket watch may hand the same link at
	// once, and a provider opening a listener per link must not see
	// both before either is done.
	linkMu sync.Mutex

	mu       sync.Mutex
	p        provider.Provider
	links    map[string]provider.Link // the links handed to p
	done     bool
	restarts int
}

// Start starts p and subscribes it to its subject.
func Start(ctx context.Context, p provider.Provider, cfg Config) (*Runner, error) {
	if cfg.Lattice == "" {
		cfg.Lattice = lattice.DefaultLattice
	}
	if cfg.LinkName == "" {
		cfg.LinkName = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{p: p, cfg: cfg, log: cfg.Logger.With("provider", p.Contract(), "link_name", cfg.LinkName), links: map[string]provider.Link{}}
	if err := p.Start(ctx, r); err != nil {
		return nil, fmt.Errorf("start provider %s: %w", p.Contract(), err)
	}
	subject := lattice.ProviderSubject(cfg.Lattice, p.Contract(), cfg.LinkName)
	sub, err := cfg.Conn.QueueSubscribe(subject, subject, r.serve)
	if err != nil {
		p.Stop(ctx)
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	r.sub = sub
	return r, nil
}

// Provider returns the provider the Runner serves.
func (r *Runner) Provider() provider.Provider {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p
}

// Restarts counts the times the provider was replaced after a panic.
func (r *Runner) Restarts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts
}

// guard runs fn, turning a panic of the provider into an error and, when
// the Runner can make a fresh provider, replacing the one that panicked.
// PutLink and DelLink call it holding linkMu.
func (r *Runner) guard(what string, fn func(p provider.Provider) error) (err error) {
	p := r.Provider()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("provider %s panicked in %s: %v", p.Contract(), what, v)
			r.log.Error("provider panicked", "in", what, "panic", v)
			if what != "PutLink" && what != "DelLink" {
				r.linkMu.Lock()
				defer r.linkMu.Unlock()
			}
			r.restart(p, v)
		}
	}()
	return fn(p)
}

// restart replaces the provider old after it panicked, once: Stop (its own
// panics recovered), a fresh one, Start, and every link handed again. The
// caller holds linkMu.
func (r *Runner) restart(old provider.Provider, cause any) {
	if r.cfg.New == nil {
		return
	}
	r.mu.Lock()
	if r.done || r.p != old {
		r.mu.Unlock()
		return // stopping, or another call restarted it already
	}
	fresh := r.cfg.New()
	r.p = fresh
	r.restarts++
	links := make([]provider.Link, 0, len(r.links))
	for _, l := range r.links {
		links = append(links, l)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	func() {
		defer func() { recover() }()
		old.Stop(ctx)
	}()
	if err := fresh.Start(ctx, r); err != nil {
		r.log.Error("restart provider", "err", err)
		return
	}
	for _, l := range links {
		// No second restart from here: a link that panics again stays out.
		err := func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panicked again: %v", v)
				}
			}()
			return fresh.PutLink(ctx, l)
		}()
		if err != nil {
			r.log.Error("link refused after restart", "actor", l.Actor, "err", err)
		}
	}
	r.log.Warn("provider restarted after a panic", "links", len(links))
	if r.cfg.OnRestart != nil {
		r.cfg.OnRestart(cause)
	}
}

// LinkName is the link name the Runner serves.
func (r *Runner) LinkName() string { return r.cfg.LinkName }

// Serves reports whether l is for this provider: its contract and link name.
func (r *Runner) Serves(l provider.Link) bool {
	return l.Contract == r.Provider().Contract() && l.LinkName() == r.cfg.LinkName
}

// PutLink passes l to the provider if it serves it.
func (r *Runner) PutLink(ctx context.Context, l provider.Link) error {
	if !r.Serves(l) {
		return nil
	}
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	if err := r.guard("PutLink", func(p provider.Provider) error { return p.PutLink(ctx, l) }); err != nil {
		r.log.Debug("link refused", "actor", l.Actor, "err", err) // the caller says it, once
		return err
	}
	r.mu.Lock()
	r.links[l.Key()] = l
	r.mu.Unlock()
	r.log.Info("link set", "actor", l.Actor)
	return nil
}

// DelLink passes the removal of l to the provider if it serves it.
func (r *Runner) DelLink(ctx context.Context, l provider.Link) error {
	if !r.Serves(l) {
		return nil
	}
	r.linkMu.Lock()
	defer r.linkMu.Unlock()
	r.mu.Lock()
	delete(r.links, l.Key())
	r.mu.Unlock()
	return r.guard("DelLink", func(p provider.Provider) error { return p.DelLink(ctx, l) })
}

// Invoke runs an actor's call in process: the fast path of a host whose
// actor and provider live together.
func (r *Runner) Invoke(ctx context.Context, c provider.Call) ([]byte, error) {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return nil, lattice.WithCode(lattice.CodeUnavailable, errors.New("provider stopping"))
	}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()
	contract := r.Provider().Contract()
	ctx, span := trace.Start(ctx, contract+" "+c.Operation, oteltrace.SpanKindServer,
		trace.AttrLattice.String(r.cfg.Lattice), trace.AttrContract.String(contract),
		trace.AttrLinkName.String(c.LinkName), trace.AttrActorKey.String(c.Actor), trace.AttrOperation.String(c.Operation))
	var out []byte
	err := r.guard(c.Operation, func(p provider.Provider) error {
		var err error
		out, err = p.Handle(ctx, c)
		return err
	})
	trace.End(span, outcome(err), err)
	return out, err
}

// outcome classifies a provider call's result for its span.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, lattice.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, lattice.ErrBusy):
		return "busy"
	}
	return "error"
}

// serve answers one call that came over NATS.
func (r *Runner) serve(m *nats.Msg) {
	reply := nats.NewMsg(m.Reply)
	c := provider.Call{
		Actor:     m.Header.Get(lattice.HeaderSource),
		LinkName:  r.cfg.LinkName,
		Operation: m.Header.Get(lattice.HeaderOperation),
		Payload:   m.Data,
	}
	var out []byte
	var err error
	if c.Actor == "" || c.Operation == "" {
		err = lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("a provider call needs the %s and %s headers", lattice.HeaderSource, lattice.HeaderOperation))
	} else if c.Payload, err = chunked.ReadBody(context.Background(), r.cfg.Conn, m, chunked.MaxBody, chunked.Options{}); err != nil {
		// Each chunk has its own timeout: a transfer that stalls ends.
		err = lattice.WithCode(lattice.CodeBadRequest, fmt.Errorf("payload: %w", err))
	} else {
		out, err = r.Invoke(trace.Extract(context.Background(), m.Header), c)
	}
	if m.Reply == "" {
		return
	}
	if err != nil {
		code := lattice.CodeOf(err)
		if code == "" {
			code = lattice.CodeHandler // the provider's own failure
		}
		lattice.SetReplyError(reply, code, err)
	} else {
		reply.Data = out
	}
	err = chunked.Respond(context.Background(), r.cfg.Conn, m, reply, chunked.Options{})
	if errors.Is(err, chunked.ErrNotAccepted) {
		lattice.SetReplyError(reply, lattice.CodePayloadTooLarge, err)
		err = m.RespondMsg(reply)
	}
	if err != nil {
		r.log.Warn("reply to a provider call", "err", err)
	}
}

// Stop unsubscribes, waits for calls in flight, and stops the provider.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return nil
	}
	r.done = true
	r.mu.Unlock()
	err := r.sub.Drain()
	wait := make(chan struct{})
	go func() { r.wg.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("provider calls still running: %w", ctx.Err()))
	}
	return errors.Join(err, r.guard("Stop", func(p provider.Provider) error { return p.Stop(ctx) }))
}

// CallActor implements provider.Runtime. Each call is a delivery span (a
// message, an HTTP request or a CoAP request the provider hands the actor)
// that continues the trace in ctx, when spans are exported.
func (r *Runner) CallActor(ctx context.Context, actor, operation string, payload []byte) (out []byte, err error) {
	contract := r.Provider().Contract()
	ctx, span := trace.Start(ctx, contract+" deliver "+operation, oteltrace.SpanKindProducer,
		trace.AttrLattice.String(r.cfg.Lattice), trace.AttrContract.String(contract),
		trace.AttrLinkName.String(r.cfg.LinkName), trace.AttrActor.String(actor), trace.AttrOperation.String(operation))
	defer func() { trace.End(span, outcome(err), err) }()
	if r.cfg.Local != nil {
		out, ok, err := r.cfg.Local(ctx, actor, operation, payload)
		if ok {
			return out, err
		}
	}
	m := nats.NewMsg(lattice.RPCSubject(r.cfg.Lattice, actor))
	m.Header.Set(lattice.HeaderOperation, operation)
	m.Data = payload
	trace.Inject(ctx, m.Header)
	resp, err := chunked.Request(ctx, r.cfg.Conn, m, chunked.Options{})
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("call %s %s: %w", actor, operation, lattice.ErrActorNotRunning)
	case err != nil:
		return nil, fmt.Errorf("call %s %s: %w", actor, operation, err)
	}
	if err := lattice.ReplyError(resp); err != nil {
		return nil, fmt.Errorf("call %s %s: %w", actor, operation, err)
	}
	return resp.Data, nil
}

// Logger implements provider.Runtime.
func (r *Runner) Logger() *slog.Logger { return r.log }

// Conn implements provider.Runtime.
func (r *Runner) Conn() *nats.Conn { return r.cfg.Conn }

// Lattice implements provider.Runtime.
func (r *Runner) Lattice() string { return r.cfg.Lattice }
