// Package trace carries W3C trace context (the traceparent and tracestate
// headers) across the lattice's NATS hops and starts OpenTelemetry spans
// when, and only when, a tracer has been installed.
//
// Every hop that receives a call takes the trace context from the NATS
// message (Extract) and every hop that makes one puts it on the message
// (Inject), so that a plain NATS client sending a traceparent header sees
// its trace go on through hosts, actors and providers:
//
//	ctx = trace.Extract(ctx, msg.Header)      // a call arrives
//	out := nats.NewMsg(subject)
//	trace.Inject(ctx, out.Header)             // a call leaves
//
// Spans come from the global OpenTelemetry tracer provider, which
// internal/tracing installs for `wisp up --otlp-endpoint`; it then calls
// Enable. Until then Start returns ctx unchanged and a no-op span: a host
// with no exporter only passes the headers through.
//
// # Notes
//   - The headers are W3C Trace Context, level 1: lower-case traceparent
//     and tracestate, as OpenTelemetry SDKs and `nats req -H` send them.
//   - Trace context is never taken from a message without a traceparent:
//     the look-up is one map read.
package trace

import (
	"context"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The W3C Trace Context headers.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Attribute keys of wisp's spans.
const (
	AttrLattice   = attribute.Key("wisp.lattice")
	AttrHostID    = attribute.Key("wisp.host.id")
	AttrHostName  = attribute.Key("wisp.host.name")
	AttrActor     = attribute.Key("wisp.actor")
	AttrActorKey  = attribute.Key("wisp.actor.key")
	AttrOperation = attribute.Key("wisp.operation")
	AttrContract  = attribute.Key("wisp.contract")
	AttrLinkName  = attribute.Key("wisp.link_name")
	AttrCaller    = attribute.Key("wisp.caller")
	AttrOutcome   = attribute.Key("wisp.outcome")
	AttrSize      = attribute.Key("wisp.payload.size")
)

// InstrumentationName names wisp's tracer.
const InstrumentationName = "github.com/wisp-dev/wisp"

var (
	enabled     atomic.Bool
	propagator                 = propagation.TraceContext{}
	noopSpan    oteltrace.Span = noop.Span{}
	tracerValue atomic.Value   // oteltrace.Tracer, set by Enable
)

// Enable makes Start record spans with the global tracer provider; call it
// once the provider is installed (otel.SetTracerProvider).
func Enable() {
	tracerValue.Store(otel.Tracer(InstrumentationName))
	enabled.Store(true)
}

// Disable stops recording spans; headers still pass through.
func Disable() { enabled.Store(false) }

// Enabled reports whether spans are recorded.
func Enabled() bool { return enabled.Load() }

// Extract returns ctx with the trace context of hdr, or ctx itself when
// hdr carries none.
func Extract(ctx context.Context, hdr nats.Header) context.Context {
	if len(hdr[HeaderTraceparent]) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, Carrier(hdr))
}

// Inject puts ctx's trace context, if it has one, on hdr, which must not
// be nil.
func Inject(ctx context.Context, hdr nats.Header) {
	if !oteltrace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, Carrier(hdr))
}

// ExtractFrom is Extract for the headers of another protocol (MQTT 5 user
// properties, say), read through c.
func ExtractFrom(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	if c.Get(HeaderTraceparent) == "" {
		return ctx
	}
	return propagator.Extract(ctx, c)
}

// InjectInto is Inject for the headers of another protocol, written
// through c.
func InjectInto(ctx context.Context, c propagation.TextMapCarrier) {
	if !oteltrace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagator.Inject(ctx, c)
}

// Carrier adapts NATS headers to OpenTelemetry's propagators. NATS header
// keys are case-sensitive; the W3C headers are lower-case.
type Carrier nats.Header

// Get returns the first value of key.
func (c Carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (c Carrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header keys.
func (c Carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Start starts a span named name as a child of ctx's span when spans are
// enabled; otherwise it returns ctx and a span that records nothing.
func Start(ctx context.Context, name string, kind oteltrace.SpanKind, attrs ...attribute.KeyValue) (context.Context, oteltrace.Span) {
	if !enabled.Load() {
		return ctx, noopSpan
	}
	return tracerValue.Load().(oteltrace.Tracer).Start(ctx, name, oteltrace.WithSpanKind(kind), oteltrace.WithAttributes(attrs...))
}

// End ends span with the call's outcome ("ok", "error", "timeout", "busy",
// "trap") and its error, nil on success.
func End(span oteltrace.Span, outcome string, err error) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrOutcome.String(outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
