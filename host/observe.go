package host

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/lattice"
)

// Observer watches the calls a host serves and the host calls its actors
// make: metrics (package host/metrics) and traces (package
// internal/tracing) are observers. A host has at most one; Observers
// combines several.
//
// Both methods run on the call's path, in the goroutine serving it: they
// must be quick and must not block. Each returns the context the call goes
// on with (a tracer puts its span there) and a function the host calls
// exactly once when the call is over, with the size of the answer and the
// error, nil on success.
//
//	h, _ := host.New(ctx, nc, host.WithObserver(metrics.New()))
//
// # Notes
//   - An invocation is any call that runs an actor: from the lattice, from
//     another actor on the same host, or through Actor.Invoke.
//   - A host call is one the guest makes through __host_call: builtins,
//     actor-to-actor calls (Namespace is the target actor, LinkName ""),
//     and calls over links to providers.
type Observer interface {
	Invocation(ctx context.Context, c *Call) (context.Context, EndFunc)
	HostCall(ctx context.Context, c *Call) (context.Context, EndFunc)
}

// EndFunc ends an observed call with the size of its answer and its error.
type EndFunc func(size int, err error)

// Call describes an observed call. An observer may keep none of it past
// the call: the host reuses nothing, but Header belongs to the message.
type Call struct {
	Lattice  string
	HostID   string
	HostName string
	// Actor is the call alias of the actor invoked (an invocation) or of
	// the calling actor (a host call); Key its module key, "" when
	// unsigned.
	Actor string
	Key   string
	// Version is the invoked actor's version (an invocation): its claims'
	// version, or "sha256:" and the first 12 hex digits of its module
	// when the claims give none.
	Version string
	// Operation is the operation called, such as "Echo.Reply".
	Operation string
	// Namespace is a host call's contract id or target actor; LinkName its
	// link name ("" for an actor-to-actor call).
	Namespace string
	LinkName  string
	// Caller is who made an invocation: the Wisp-Source header of a call
	// from the lattice, or "" when unknown.
	Caller string
	// Size is the size of the payload in bytes; Payload the payload
	// itself, which an observer must not change nor keep.
	Size    int
	Payload []byte
	// Header holds the NATS headers of an invocation from the lattice
	// (nil for one in process). Trace context arrives there.
	Header nats.Header
}

// Outcome classifies a call's result for metrics and traces: "ok", or the
// failure's kind ("busy", "timeout", "trap"), or "error" for every other
// failure (a handler's own error, a refusal, a missing link...). The set is
// small and fixed so that metric labels stay bounded.
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	switch codeOf(err) {
	case lattice.CodeBusy:
		return "busy"
	case lattice.CodeTimeout:
		return "timeout"
	case lattice.CodeTrap:
		return "trap"
	}
	return "error"
}

// WithObserver makes the host report its calls to o (see Observer).
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

// Observers combines observers into one that calls each in turn; nil ones
// are left out, and none at all gives nil.
func Observers(os ...Observer) Observer {
	var m multiObserver
	for _, o := range os {
		if o != nil {
			m = append(m, o)
		}
	}
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return m
}

type multiObserver []Observer

func (m multiObserver) Invocation(ctx context.Context, c *Call) (context.Context, EndFunc) {
	ends := make([]EndFunc, len(m))
	for i, o := range m {
		ctx, ends[i] = o.Invocation(ctx, c)
	}
	return ctx, endAll(ends)
}

func (m multiObserver) HostCall(ctx context.Context, c *Call) (context.Context, EndFunc) {
	ends := make([]EndFunc, len(m))
	for i, o := range m {
		ctx, ends[i] = o.HostCall(ctx, c)
	}
	return ctx, endAll(ends)
}

// endAll ends the calls in the reverse order of their start, as nested
// spans end.
func endAll(ends []EndFunc) EndFunc {
	return func(size int, err error) {
		for i := len(ends) - 1; i >= 0; i-- {
			ends[i](size, err)
		}
	}
}

// observeInvocation starts observing an invocation of a; with no observer
// it costs a nil check.
func (a *Actor) observeInvocation(ctx context.Context, op string, payload []byte, hdr nats.Header) (context.Context, EndFunc) {
	o := a.host.opts.observer
	if o == nil {
		return ctx, nil
	}
	c := &Call{Lattice: a.host.opts.lattice, HostID: a.host.id, HostName: a.host.opts.name,
		Actor: a.name, Key: a.id.key, Version: a.ver, Operation: op, Size: len(payload), Payload: payload, Header: hdr}
	if hdr != nil {
		c.Caller = hdr.Get(lattice.HeaderSource)
	}
	return o.Invocation(ctx, c)
}

// observeHostCall wraps fn, actor a's host calls, with the host's
// observer; with none it returns fn itself.
func (h *Host) observeHostCall(a *Actor, fn engine.HostCallFunc) engine.HostCallFunc {
	o := h.opts.observer
	if o == nil {
		return fn
	}
	return func(ctx context.Context, call engine.HostCall) ([]byte, error) {
		ctx, end := o.HostCall(ctx, &Call{Lattice: h.opts.lattice, HostID: h.id, HostName: h.opts.name,
			Actor: a.name, Key: a.id.key, Operation: call.Operation, Namespace: call.Namespace,
			LinkName: call.Binding, Size: len(call.Payload), Payload: call.Payload})
		out, err := fn(ctx, call)
		end(len(out), err)
		return out, err
	}
}

// versionOf is an actor's version for observers: its claims' version (at
// most 64 bytes of it), or its module's short digest (hash in hex).
func versionOf(id identity, hash string) string {
	if c := id.claims; c != nil && c.Wascap != nil && c.Wascap.Ver != "" {
		v := c.Wascap.Ver
		if len(v) > 64 {
			v = v[:64]
		}
		return v
	}
	return "sha256:" + hash[:12]
}
