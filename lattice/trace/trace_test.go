package trace_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice/trace"
)

// TestHeadersPassThroughWithoutATracer: a host with no exporter takes the
// trace context of a call and puts it, unchanged, on the calls it makes.
func TestHeadersPassThroughWithoutATracer(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	in := nats.Header{trace.HeaderTraceparent: {tp}, trace.HeaderTracestate: {"vendor=x"}}
	ctx := trace.Extract(context.Background(), in)
	ctx, span := trace.Start(ctx, "not recorded", 0)
	if span.IsRecording() {
		t.Fatal("a span records with no tracer installed")
	}
	out := nats.Header{}
	trace.Inject(ctx, out)
	if got := out.Get(trace.HeaderTraceparent); got != tp {
		t.Fatalf("traceparent passed on = %q, want %q", got, tp)
	}
	if got := out.Get(trace.HeaderTracestate); got != "vendor=x" {
		t.Fatalf("tracestate passed on = %q", got)
	}
}

// TestNoTraceContextNoHeaders: a call without trace context adds no
// headers to the calls it makes, and a malformed traceparent is dropped.
func TestNoTraceContextNoHeaders(t *testing.T) {
	for _, in := range []nats.Header{nil, {}, {trace.HeaderTraceparent: {"00-garbage-01"}}} {
		out := nats.Header{}
		trace.Inject(trace.Extract(context.Background(), in), out)
		if len(out) != 0 {
			t.Errorf("from %v: headers %v, want none", in, out)
		}
	}
}
