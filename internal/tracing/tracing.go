// Package tracing exports a wisp host's spans over OTLP/HTTP: it installs
// an OpenTelemetry SDK tracer provider for `wisp up --otlp-endpoint` (or
// OTEL_EXPORTER_OTLP_ENDPOINT) and turns the host's calls into spans
// through the host.Observer hook.
//
//	shutdown, err := tracing.Setup(ctx, tracing.Config{Endpoint: "http://127.0.0.1:4318"})
//	defer shutdown(context.Background())
//	h, _ := host.New(ctx, nc, host.WithObserver(tracing.Observer{}))
//
// The spans of one call through the lattice form one trace:
//
//	HTTP GET                          (httpserver provider, server)
//	└─ kvcounter HttpServer.HandleRequest  (invocation, server)
//	   └─ wasmcloud:keyvalue KeyValue.Increment  (host call, client)
//	      └─ wasmcloud:keyvalue KeyValue.Increment  (provider, server)
//
// Trace context crosses NATS in the traceparent and tracestate headers
// (package lattice/trace), so hops on other hosts and plain NATS clients
// join the same trace.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP receiver, such as http://127.0.0.1:4318;
	// without a path, /v1/traces is added. Empty: the
	// OTEL_EXPORTER_OTLP_ENDPOINT variable, and without it no export.
	Endpoint string
	// ServiceName names the process in its resource (default "wisp").
	ServiceName string
	// Attributes are added to the resource (host id and name, lattice).
	Attributes []attribute.KeyValue
	// BatchTimeout is how long spans wait before they are sent (default
	// 1s).
	BatchTimeout time.Duration
}

// endpoint is the endpoint Setup exports to with c: c.Endpoint,
// else OTEL_EXPORTER_OTLP_ENDPOINT; "" means no export.
func (c Config) endpoint() string {
	if c.Endpoint != "" {
		return c.Endpoint
	}
	if e := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); e != "" {
		return e
	}
	if e := os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); e != "" {
		return e
	}
	return ""
}

// Enabled reports whether c names an endpoint, by itself or through the
// environment.
func (c Config) Enabled() bool { return c.endpoint() != "" }

// Setup installs the global tracer provider exporting to c's endpoint and
// turns spans on (trace.Enable). The returned function flushes the spans
// still queued and shuts the exporter down. With no endpoint Setup does
// nothing and returns a no-op shutdown.
func Setup(ctx context.Context, c Config) (shutdown func(context.Context) error, err error) {
	ep := c.endpoint()
	if ep == "" {
		return func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want http(s)://host:port[/path]", ep)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	name := c.ServiceName
	if name == "" {
		name = "wisp"
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(append([]attribute.KeyValue{
		attribute.String("service.name", name)}, c.Attributes...)...))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	batch := c.BatchTimeout
	if batch <= 0 {
		batch = time.Second
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(batch)))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	trace.Enable()
	return func(ctx context.Context) error {
		trace.Disable()
		return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
	}, nil
}

// Observer makes spans of a host's calls (host.Observer): one per
// invocation, a child of the caller's span when the call carried trace
// context, and one per host call, parent of what the call reaches.
type Observer struct{}

// Invocation starts the span of an invocation.
func (Observer) Invocation(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	kind := oteltrace.SpanKindInternal
	if c.Header != nil {
		kind = oteltrace.SpanKindServer // it came over NATS
	}
	ctx, span := trace.Start(ctx, c.Actor+" "+c.Operation, kind,
		trace.AttrLattice.String(c.Lattice), trace.AttrHostID.String(c.HostID), trace.AttrHostName.String(c.HostName),
		trace.AttrActor.String(c.Actor), trace.AttrActorKey.String(c.Key), trace.AttrOperation.String(c.Operation),
		trace.AttrCaller.String(c.Caller), trace.AttrSize.Int(c.Size))
	return ctx, func(_ int, err error) { trace.End(span, host.Outcome(err), err) }
}

// HostCall starts the span of a host call.
func (Observer) HostCall(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	ctx, span := trace.Start(ctx, c.Namespace+" "+c.Operation, oteltrace.SpanKindClient,
		trace.AttrLattice.String(c.Lattice), trace.AttrHostID.String(c.HostID), trace.AttrHostName.String(c.HostName),
		trace.AttrActor.String(c.Actor), trace.AttrActorKey.String(c.Key), trace.AttrOperation.String(c.Operation),
		trace.AttrContract.String(c.Namespace), trace.AttrLinkName.String(c.LinkName), trace.AttrSize.Int(c.Size))
	return ctx, func(_ int, err error) { trace.End(span, host.Outcome(err), err) }
}
