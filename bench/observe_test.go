package bench

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/metrics"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/internal/tracing"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// discard is a span exporter that drops what it is given: the spans are
// made, batched and handed over as with OTLP, without the network.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// withSpans records spans through the SDK into discard for the length of
// the benchmark.
func withSpans(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}, sdktrace.WithBatchTimeout(time.Second)))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	trace.Enable()
	b.Cleanup(func() {
		trace.Disable()
		tp.Shutdown(context.Background())
		otel.SetTracerProvider(prev)
	})
}

// BenchmarkInvokeObserved is BenchmarkInvoke's wisp-actor (one 1 KiB echo
// call in-host) with no observer, with the Prometheus metrics, with spans
// recorded by the OpenTelemetry SDK, and with both.
func BenchmarkInvokeObserved(b *testing.B) {
	wasm := testwasm.GoActor(b, "actors/echo")
	for _, c := range []struct {
		name    string
		metrics bool
		spans   bool
	}{{"plain", false, false}, {"metrics", true, false}, {"spans", false, true}, {"metrics+spans", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			var obs []host.Observer
			if c.metrics {
				obs = append(obs, metrics.New())
			}
			if c.spans {
				withSpans(b)
				obs = append(obs, tracing.Observer{})
			}
			env := newEnv(b, host.WithObserver(host.Observers(obs...)))
			calls(b, env.start(b, "echo", wasm, 1).Invoke, "Echo.Reply", payload1K)
		})
	}
}

// BenchmarkRequestReplyTraced is one 1 KiB call to the echo actor over
// NATS, as BenchmarkRequestReply/wisp-actor/1-caller, without and with a
// W3C traceparent header on the request, with no tracer installed (the
// host only passes the context on) and with metrics on.
func BenchmarkRequestReplyTraced(b *testing.B) {
	for _, c := range []struct {
		name        string
		traceparent bool
		metrics     bool
	}{{"no-headers", false, false}, {"traceparent", true, false}, {"metrics", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			var opts []host.Option
			if c.metrics {
				opts = append(opts, host.WithObserver(metrics.New()))
			}
			env := newEnv(b, opts...)
			env.start(b, "echo", testwasm.GoActor(b, "actors/echo"), 4)
			caller, err := nats.Connect(env.srv.ClientURL())
			if err != nil {
				b.Fatal(err)
			}
			defer caller.Close()
			hdr := nats.Header{"Wisp-Operation": []string{"Echo.Reply"}}
			if c.traceparent {
				hdr.Set(trace.HeaderTraceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := &nats.Msg{Subject: "wisp.rpc.default.echo", Data: payload1K, Header: hdr}
				if _, err := caller.RequestMsg(m, 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObserverCost is what observing one call adds, without the
// call: the metrics observer, the span observer with the SDK recording,
// and passing a traceparent from an incoming message to an outgoing one
// with no tracer installed. Less noisy on a shared machine than the
// difference of two whole-call benchmarks.
func BenchmarkObserverCost(b *testing.B) {
	call := &host.Call{Lattice: "default", HostID: "N", Actor: "echo", Operation: "Echo.Reply", Size: 1024}
	ctx := context.Background()
	b.Run("metrics", func(b *testing.B) {
		m := metrics.New()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, end := m.Invocation(ctx, call)
			end(1024, nil)
		}
	})
	b.Run("spans", func(b *testing.B) {
		withSpans(b)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_, end := tracing.Observer{}.Invocation(ctx, call)
			end(1024, nil)
		}
	})
	b.Run("traceparent-pass-through", func(b *testing.B) {
		in := nats.Header{trace.HeaderTraceparent: {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			out := nats.Header{"Wisp-Operation": {"X.Y"}}
			trace.Inject(trace.Extract(ctx, in), out)
		}
	})
	b.Run("no-trace-context", func(b *testing.B) {
		in := nats.Header{"Wisp-Operation": {"X.Y"}}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			out := nats.Header{"Wisp-Operation": {"X.Y"}}
			trace.Inject(trace.Extract(ctx, in), out)
		}
	})
}
