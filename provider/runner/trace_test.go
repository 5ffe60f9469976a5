package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/runner"
)

// relay is a provider that, on each call, calls the actor "peer" and
// answers the trace id its context held.
type relay struct{ rt provider.Runtime }

func (r *relay) Contract() string                                   { return "test:relay" }
func (r *relay) Start(_ context.Context, rt provider.Runtime) error { r.rt = rt; return nil }
func (r *relay) PutLink(context.Context, provider.Link) error       { return nil }
func (r *relay) DelLink(context.Context, provider.Link) error       { return nil }
func (r *relay) Stop(context.Context) error                         { return nil }
func (r *relay) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	if _, err := r.rt.CallActor(ctx, "peer", "Peer.Hello", nil); err != nil {
		return nil, err
	}
	return []byte(oteltrace.SpanContextFromContext(ctx).TraceID().String()), nil
}

// TestTraceContextCrossesAProviderWithoutATracer: a provider call over
// NATS with a traceparent hands the provider a context of that trace, and
// the provider's own call to an actor carries the same traceparent on,
// with no exporter installed anywhere.
func TestTraceContextCrossesAProviderWithoutATracer(t *testing.T) {
	e := newEnv(t)
	r, err := runner.Start(context.Background(), &relay{}, runner.Config{Conn: e.NC, Lattice: lattice.DefaultLattice, Logger: providertest.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	// "peer" is a plain NATS responder that answers the traceparent it got.
	sub, err := e.NC.Subscribe(lattice.RPCSubject(lattice.DefaultLattice, "peer"), func(m *nats.Msg) {
		m.Respond([]byte(m.Header.Get(trace.HeaderTraceparent)))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	seen := make(chan string, 1)
	spy, err := e.NC.Subscribe(lattice.RPCSubject(lattice.DefaultLattice, "peer"), func(m *nats.Msg) {
		seen <- m.Header.Get(trace.HeaderTraceparent)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Unsubscribe()

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	m := nats.NewMsg(lattice.ProviderSubject(lattice.DefaultLattice, "test:relay", lattice.DefaultLinkName))
	m.Header.Set(lattice.HeaderOperation, "Relay.Go")
	m.Header.Set(lattice.HeaderSource, "caller")
	m.Header.Set(trace.HeaderTraceparent, tp)
	resp, err := e.NC.RequestMsg(m, 5*time.Second)
	if err != nil || lattice.ReplyError(resp) != nil {
		t.Fatalf("provider call: %v, %v", resp, err)
	}
	if got := string(resp.Data); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("the provider's context is of trace %q, want the caller's", got)
	}
	select {
	case got := <-seen:
		if got != tp {
			t.Fatalf("the provider's call to an actor carried traceparent %q, want %q", got, tp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the provider's call to the actor never came")
	}
}
