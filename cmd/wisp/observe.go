//go:build !wispcli

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/metrics"
	"github.com/wisp-dev/wisp/host/spy"
	"github.com/wisp-dev/wisp/internal/tracing"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/reconciler"
	"github.com/wisp-dev/wisp/lattice/trace"
)

// observability is what `wisp up` serves to see inside the host: metrics
// on --metrics-listen, spans to --otlp-endpoint and profiles on
// --pprof-listen. With no flag it serves nothing and observes nothing.
type observability struct {
	log     *slog.Logger
	metrics *metrics.Metrics // nil without --metrics-listen
	// metricsURL is where the metrics are served, the host's
	// lattice.LabelMetrics label, so `wisp ui` finds them.
	metricsURL string
	tracing    bool // spans are exported
	shutdown   func(context.Context) error
	servers    []*http.Server
	engine     engine.Engine  // the engine New made for the host, closed by close
	spy        *spy.Publisher // answers `wisp spy`
}

// startObservability opens the listeners the flags ask for before the host
// starts, so that a port in use fails `wisp up` at once.
func (f *upFlags) startObservability(ctx context.Context, g *globals, log *slog.Logger) (*observability, error) {
	o := &observability{log: log}
	tcfg := tracing.Config{Endpoint: f.otlpEndpoint, ServiceName: "wisp",
		Attributes: []attribute.KeyValue{trace.AttrLattice.String(g.lattice), trace.AttrHostName.String(f.name)}}
	if tcfg.Enabled() {
		shutdown, err := tracing.Setup(ctx, tcfg)
		if err != nil {
			return nil, fmt.Errorf("--otlp-endpoint: %w", err)
		}
		o.tracing, o.shutdown = true, shutdown
		log.Info("spans exported over OTLP/HTTP", "endpoint", f.otlpEndpoint)
	}
	if f.metricsListen != "" {
		o.metrics = metrics.New()
		addr, err := o.serve("metrics", f.metricsListen, "/metrics", o.metrics.Handler())
		if err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		o.metricsURL = "http://" + reachable(addr) + "/metrics"
	}
	if f.pprofListen != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		if _, err := o.serve("pprof", f.pprofListen, "/debug/pprof/", mux); err != nil {
			o.close(context.Background())
			return nil, fmt.Errorf("--pprof-listen: %w", err)
		}
	}
	return o, nil
}

// serve listens on addr and serves h there in the background; it returns
// the address it listens on.
func (o *observability) serve(what, addr, path string, h http.Handler) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	o.servers = append(o.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Error(what+" server stopped", "err", err)
		}
	}()
	o.log.Info(what+" served", "url", "http://"+ln.Addr().String()+path)
	return ln.Addr(), nil
}

// reachable is addr as another machine may dial it: an unspecified
// address (":9464", "0.0.0.0:9464") names this machine's host name.
func reachable(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return addr.String()
	}
	name, err := os.Hostname()
	if err != nil {
		name = "localhost"
	}
	return net.JoinHostPort(name, strconv.Itoa(ta.Port))
}

// hostOptions are the host's observers: metrics, spans and the spy
// records `wisp spy` asks for on nc. They come after host.WithEngine,
// whose engine they make and wrap to time its compiles when metrics are
// on.
func (o *observability) hostOptions(ecfg engine.Config, nc *nats.Conn, latticeID string) ([]host.Option, error) {
	spies, err := spy.New(nc, latticeID)
	if err != nil {
		return nil, err
	}
	o.spy = spies
	var tracer, metered host.Observer
	if o.tracing {
		tracer = tracing.Observer{}
	}
	if o.metrics != nil {
		metered = o.metrics
	}
	// Metrics first: their clock then includes the span's own cost.
	opts := []host.Option{host.WithObserver(host.Observers(metered, tracer, spies))}
	if o.metricsURL != "" {
		opts = append(opts, host.WithLabels(map[string]string{lattice.LabelMetrics: o.metricsURL}))
	}
	if o.metrics == nil {
		return opts, nil
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		return nil, err
	}
	o.engine = eng
	return append(opts, host.WithEngineInstance(o.metrics.Engine(eng))), nil
}

// watch adds the gauges read from the running host and its connection.
func (o *observability) watch(h *host.Host, nc *nats.Conn) {
	if o.metrics != nil {
		o.metrics.WatchHost(h, nc)
	}
}

// reconcilerObserver is what the reconciler reports to, nil without
// metrics.
func (o *observability) reconcilerObserver() reconciler.Observer {
	if o.metrics == nil {
		return nil
	}
	return o.metrics
}

// pulled counts an OCI pull.
func (o *observability) pulled(cached bool, err error) {
	if o.metrics != nil {
		o.metrics.Pulled(cached, err)
	}
}

// close stops the servers and releases the engine; the host has stopped.
func (o *observability) close(ctx context.Context) {
	if o.spy != nil {
		o.spy.Close()
	}
	for _, s := range o.servers {
		s.Shutdown(ctx)
	}
	if o.engine != nil {
		o.engine.Close(ctx)
	}
	if o.shutdown != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := o.shutdown(sctx); err != nil {
			o.log.Warn("flush the last spans", "err", err)
		}
	}
}
