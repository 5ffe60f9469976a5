// Package metrics exposes a wisp host in the Prometheus text format: the
// invocations of its actors by outcome and their latency, its instances,
// the calls its actors make to providers, its NATS connection, its module
// pulls and compiles, and the application reconciler's passes.
//
//	m := metrics.New()
//	h, _ := host.New(ctx, nc, host.WithObserver(m))
//	m.WatchHost(h, nc)
//	http.Handle("/metrics", m.Handler())
//
// Every metric is named wisp_* with its unit in the name. Labels are
// bounded: actor aliases, versions (an actor's 3 latest on the host),
// operations, contracts and link names, outcomes
// from host.Outcome; never payloads, request ids or callers. docs/DESIGN.md
// lists them all.
//
// # Notes
//   - Instance counts and the NATS connection are read when Prometheus
//     scrapes, not kept up to date on the call path.
//   - Counting an invocation costs two sync.Map reads and a few atomic
//     adds (bench/: BenchmarkObserverCost). Every outcome of an operation
//     is exported from its first call, at 0 until it happens.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
)

// Metrics is a host's Prometheus registry and the host.Observer that feeds
// it. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	invocations  *prometheus.CounterVec
	invDuration  *prometheus.HistogramVec
	payloadIn    *prometheus.HistogramVec
	payloadOut   *prometheus.HistogramVec
	hostCalls    *prometheus.CounterVec
	provCalls    *prometheus.CounterVec
	provDuration *prometheus.HistogramVec
	pulls        *prometheus.CounterVec
	compiles     *prometheus.CounterVec
	compileTime  prometheus.Histogram
	passes       prometheus.Counter
	passTime     prometheus.Histogram
	actions      *prometheus.CounterVec

	ops sync.Map // actor \x00 version → *sync.Map of operation → *opMetrics

	versionsMu sync.Mutex
	versions   map[string][]string // actor → its versions with series, oldest first
}

// keptVersions is how many versions of one actor keep their invocation
// series: a rollout or a canary shows two; an older one's series go.
const keptVersions = 3

// sizeBuckets are payload sizes from 64 bytes to 4 MiB.
var sizeBuckets = prometheus.ExponentialBuckets(64, 4, 9)

// New makes a registry with wisp's metrics and the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_actor_invocations_total",
			Help: "Invocations of actors on this host, by actor call alias, version (claims version or sha256:<12 hex digits> of the module), operation and outcome (ok, error, timeout, busy, trap).",
		}, []string{"actor", "version", "operation", "outcome"}),
		invDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wisp_actor_invocation_duration_seconds",
			Help:    "Time from the host receiving an invocation to its answer, queueing for an instance included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"actor", "operation"}),
		payloadIn: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wisp_actor_request_size_bytes",
			Help:    "Payload sizes of invocations.",
			Buckets: sizeBuckets,
		}, []string{"actor"}),
		payloadOut: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wisp_actor_response_size_bytes",
			Help:    "Sizes of the answers of successful invocations.",
			Buckets: sizeBuckets,
		}, []string{"actor"}),
		hostCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_host_calls_total",
			Help: "Host calls made by actors, by kind (builtin, actor, provider) and outcome.",
		}, []string{"actor", "kind", "outcome"}),
		provCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_provider_calls_total",
			Help: "Calls from actors to capability providers over links, by contract, link name and outcome.",
		}, []string{"actor", "contract", "link", "outcome"}),
		provDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wisp_provider_call_duration_seconds",
			Help:    "Time of calls from actors to providers, as the calling host sees it.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"contract", "link"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_oci_pulls_total",
			Help: "Actor modules fetched by OCI reference, by result: downloaded, cached (served from the local cache) or error.",
		}, []string{"result"}),
		compiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_module_compiles_total",
			Help: "Modules compiled by the host's engine, by result (ok, error).",
		}, []string{"result"}),
		compileTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wisp_module_compile_duration_seconds",
			Help:    "Time to compile a module (a compiled-code cache hit is fast).",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wisp_reconciler_passes_total",
			Help: "Passes (observe, plan, act, report) of the application reconciler while it leads.",
		}),
		passTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wisp_reconciler_pass_duration_seconds",
			Help:    "Time of a reconciler pass.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wisp_reconciler_actions_total",
			Help: "Actions of the reconciler (start, scale, stop, link, unlink...) by result (ok, error).",
		}, []string{"action", "result"}),
	}
	m.reg.MustRegister(m.invocations, m.invDuration, m.payloadIn, m.payloadOut, m.hostCalls,
		m.provCalls, m.provDuration, m.pulls, m.compiles, m.compileTime, m.passes, m.passTime, m.actions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry the metrics live in, for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// outcomes are host.Outcome's values, in the order of opMetrics.count.
var outcomes = [...]string{"ok", "error", "timeout", "busy", "trap"}

// opMetrics are one actor operation's series, resolved once: counting a
// call is then two map reads and atomic adds, no label hashing.
type opMetrics struct {
	count    [len(outcomes)]prometheus.Counter
	duration prometheus.Observer
	in, out  prometheus.Observer
}

// series returns the series of the operation op of actor's version.
func (m *Metrics) series(actor, version, op string) *opMetrics {
	key := actor + "\x00" + version
	ops, ok := m.ops.Load(key)
	if !ok {
		ops = m.newVersion(actor, version, key)
	}
	if s, ok := ops.(*sync.Map).Load(op); ok {
		return s.(*opMetrics)
	}
	s := &opMetrics{duration: m.invDuration.WithLabelValues(actor, op),
		in: m.payloadIn.WithLabelValues(actor), out: m.payloadOut.WithLabelValues(actor)}
	for i, o := range outcomes {
		s.count[i] = m.invocations.WithLabelValues(actor, version, op, o)
	}
	got, _ := ops.(*sync.Map).LoadOrStore(op, s)
	return got.(*opMetrics)
}

// newVersion makes the operation map of a version of actor the metrics
// have not seen, and drops the invocation series of its oldest version
// when more than keptVersions have them: the version label stays bounded
// however many upgrades a host sees.
func (m *Metrics) newVersion(actor, version, key string) any {
	m.versionsMu.Lock()
	defer m.versionsMu.Unlock()
	if ops, ok := m.ops.Load(key); ok {
		return ops
	}
	if m.versions == nil {
		m.versions = map[string][]string{}
	}
	vs := append(m.versions[actor], version)
	if len(vs) > keptVersions {
		m.ops.Delete(actor + "\x00" + vs[0])
		m.invocations.DeletePartialMatch(prometheus.Labels{"actor": actor, "version": vs[0]})
		vs = vs[1:]
	}
	m.versions[actor] = vs
	ops := &sync.Map{}
	m.ops.Store(key, ops)
	return ops
}

// Invocation counts an invocation and times it (host.Observer).
func (m *Metrics) Invocation(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	start := time.Now()
	s := m.series(c.Actor, c.Version, c.Operation)
	s.in.Observe(float64(c.Size))
	return ctx, func(size int, err error) {
		s.duration.Observe(time.Since(start).Seconds())
		if err == nil {
			s.count[0].Inc()
			s.out.Observe(float64(size))
			return
		}
		outcome := host.Outcome(err)
		for i, o := range outcomes {
			if o == outcome {
				s.count[i].Inc()
			}
		}
	}
}

// HostCall counts an actor's host call; a call over a link to a provider
// also goes to wisp_provider_calls_total and is timed (host.Observer).
func (m *Metrics) HostCall(ctx context.Context, c *host.Call) (context.Context, host.EndFunc) {
	start := time.Now()
	kind := hostCallKind(c)
	return ctx, func(_ int, err error) {
		outcome := host.Outcome(err)
		m.hostCalls.WithLabelValues(c.Actor, kind, outcome).Inc()
		if kind == "provider" {
			m.provCalls.WithLabelValues(c.Actor, c.Namespace, c.LinkName, outcome).Inc()
			m.provDuration.WithLabelValues(c.Namespace, c.LinkName).Observe(time.Since(start).Seconds())
		}
	}
}

// hostCallKind tells builtins, actor-to-actor calls and provider calls
// apart, as the host routes them.
func hostCallKind(c *host.Call) string {
	switch {
	case c.Namespace == host.ContractLogging || c.Namespace == host.ContractNumberGen:
		return "builtin"
	case c.LinkName == "":
		return "actor"
	}
	return "provider"
}

// Pulled counts a module fetched by OCI reference: from the local cache
// or downloaded, or failed when err is not nil.
func (m *Metrics) Pulled(cached bool, err error) {
	switch {
	case err != nil:
		m.pulls.WithLabelValues("error").Inc()
	case cached:
		m.pulls.WithLabelValues("cached").Inc()
	default:
		m.pulls.WithLabelValues("downloaded").Inc()
	}
}

// Engine wraps e so that its compiles are counted and timed. Closing the
// wrapper closes e.
func (m *Metrics) Engine(e engine.Engine) engine.Engine { return timedEngine{Engine: e, m: m} }

type timedEngine struct {
	engine.Engine
	m *Metrics
}

func (t timedEngine) Compile(ctx context.Context, wasm []byte, limits engine.Limits) (engine.Module, error) {
	start := time.Now()
	mod, err := t.Engine.Compile(ctx, wasm, limits)
	t.m.compileTime.Observe(time.Since(start).Seconds())
	t.m.compiles.WithLabelValues(result(err)).Inc()
	return mod, err
}

// ReconcilePass records one reconciler pass that took d.
func (m *Metrics) ReconcilePass(d time.Duration) {
	m.passes.Inc()
	m.passTime.Observe(d.Seconds())
}

// ReconcileAction records one reconciler action (start, stop, link...).
func (m *Metrics) ReconcileAction(what string, err error) {
	m.actions.WithLabelValues(what, result(err)).Inc()
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// WatchHost adds the gauges read from h and nc at each scrape: the
// actors' instances (running, busy, replaced) and the NATS connection
// (connected, reconnects, bytes and messages in and out).
func (m *Metrics) WatchHost(h *host.Host, nc *nats.Conn) {
	m.reg.MustRegister(&hostCollector{h: h, nc: nc})
}

var (
	descInstances = prometheus.NewDesc("wisp_actor_instances",
		"Instances of each actor on this host, by state: running (live, busy included), busy (serving a call), replaced (discarded after a trap or timeout since the actor started).",
		[]string{"actor", "state"}, nil)
	descCalls = prometheus.NewDesc("wisp_actor_calls_served_total",
		"Calls from the lattice each running actor has served since it started.", []string{"actor"}, nil)
	descConnected = prometheus.NewDesc("wisp_nats_connected",
		"1 while the host's NATS connection is connected, 0 otherwise.", nil, nil)
	descStatus = prometheus.NewDesc("wisp_nats_connection_status",
		"1 for the NATS connection's current status (CONNECTED, RECONNECTING, ...).", []string{"status"}, nil)
	descReconnects = prometheus.NewDesc("wisp_nats_reconnects_total",
		"Times the host's NATS connection reconnected.", nil, nil)
	descBytes = prometheus.NewDesc("wisp_nats_bytes_total",
		"Bytes the host's NATS connection moved, by direction (in, out).", []string{"direction"}, nil)
	descMsgs = prometheus.NewDesc("wisp_nats_messages_total",
		"Messages the host's NATS connection moved, by direction (in, out).", []string{"direction"}, nil)
)

type hostCollector struct {
	h  *host.Host
	nc *nats.Conn
}

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstances, descCalls, descConnected, descStatus, descReconnects, descBytes, descMsgs} {
		ch <- d
	}
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.h.Inventory().Actors {
		for state, n := range map[string]int{"running": a.Instances, "busy": a.Busy, "replaced": a.Replaced} {
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(n), a.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(a.Calls), a.Name)
	}
	if c.nc == nil {
		return
	}
	connected := 0.0
	if c.nc.IsConnected() {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, 1, strings.ToUpper(c.nc.Status().String()))
	st := c.nc.Stats()
	ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(st.Reconnects))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.InBytes), "in")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.OutBytes), "out")
	ch <- prometheus.MustNewConstMetric(descMsgs, prometheus.CounterValue, float64(st.InMsgs), "in")
	ch <- prometheus.MustNewConstMetric(descMsgs, prometheus.CounterValue, float64(st.OutMsgs), "out")
}
