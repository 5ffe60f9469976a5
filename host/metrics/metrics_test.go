package metrics_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/metrics"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// scrape reads the metrics the way Prometheus does: over HTTP, in the text
// format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// find returns the metric of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// TestMetricsCountInvocationsByOutcome runs a real host on a secured
// server with the metrics observer, makes calls that succeed, fail in the
// guest, time out, trap and call a provider over a missing link, and reads
// each count back from /metrics.
func TestMetricsCountInvocationsByOutcome(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	nc := l.ConnectInProcess(t, auth.HostUser)
	m := metrics.New()
	eng, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(ctx, nc, host.WithObserver(m), host.WithEngineInstance(m.Engine(eng)),
		host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(ctx); eng.Close(ctx) })
	m.WatchHost(h, nc)
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	p := filepath.Join(t.TempDir(), "probe.wasm")
	if err := os.WriteFile(p, testwasm.GoActor(t, "internal/testactors/probe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: p, Name: "probe", Count: 2,
		// Hoard must run out of memory before the timeout stops it, also
		// under the race detector on a loaded machine (CI saw 2 s pass).
		Limits: lattice.ActorLimits{CallTimeoutMS: 6000, MaxMemoryPages: 128}}); err != nil {
		t.Fatal(err)
	}
	c, err := lattice.Connect(l.Server.ClientURL(), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	calls := []struct {
		op      string
		n       int
		outcome string
	}{
		{"Probe.Dice", 7, "ok"},
		{"Probe.Fail", 3, "error"},
		{"Probe.Spin", 1, "timeout"},
		{"Probe.Hoard", 1, "trap"},
		{"Probe.Link", 2, "error"},
	}
	for _, cl := range calls {
		for range cl.n {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.Call(cctx, "probe", cl.op, []byte("key"))
			cancel()
			if (err == nil) != (cl.outcome == "ok") {
				t.Fatalf("%s: %v, want outcome %s", cl.op, err, cl.outcome)
			}
		}
	}

	fams := scrape(t, srv.URL)
	for _, cl := range calls {
		got := find(fams, "wisp_actor_invocations_total", map[string]string{"actor": "probe", "operation": cl.op, "outcome": cl.outcome})
		if got == nil || got.GetCounter().GetValue() != float64(cl.n) {
			t.Errorf("wisp_actor_invocations_total{operation=%q,outcome=%q} = %v, want %d", cl.op, cl.outcome, got, cl.n)
		}
	}
	hist := find(fams, "wisp_actor_invocation_duration_seconds", map[string]string{"actor": "probe", "operation": "Probe.Dice"})
	if hist == nil || hist.GetHistogram().GetSampleCount() != 7 || hist.GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("duration histogram of Probe.Dice = %v, want 7 samples", hist)
	}
	// Probe.Dice asks the numbergen builtin, Probe.Link the keyvalue
	// contract over the link "default", which does not exist.
	if got := find(fams, "wisp_host_calls_total", map[string]string{"actor": "probe", "kind": "builtin", "outcome": "ok"}); got == nil || got.GetCounter().GetValue() != 7 {
		t.Errorf("builtin host calls = %v, want 7", got)
	}
	if got := find(fams, "wisp_provider_calls_total", map[string]string{"actor": "probe", "contract": "wasmcloud:keyvalue", "link": "default", "outcome": "error"}); got == nil || got.GetCounter().GetValue() != 2 {
		t.Errorf("provider calls = %v, want 2 errors", got)
	}
	// The timeout and the trap replaced an instance each.
	if got := find(fams, "wisp_actor_instances", map[string]string{"actor": "probe", "state": "replaced"}); got == nil || got.GetGauge().GetValue() != 2 {
		t.Errorf("replaced instances = %v, want 2", got)
	}
	if got := find(fams, "wisp_actor_instances", map[string]string{"actor": "probe", "state": "running"}); got == nil || got.GetGauge().GetValue() != 2 {
		t.Errorf("running instances = %v, want 2", got)
	}
	if got := find(fams, "wisp_module_compiles_total", map[string]string{"result": "ok"}); got == nil || got.GetCounter().GetValue() != 1 {
		t.Errorf("compiles = %v, want 1", got)
	}
	if got := find(fams, "wisp_nats_connected", nil); got == nil || got.GetGauge().GetValue() != 1 {
		t.Errorf("wisp_nats_connected = %v, want 1", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("no %s: the Go and process collectors are missing", name)
		}
	}
	// Labels stay bounded: no payload or request id ever becomes one.
	for _, f := range fams {
		for _, mt := range f.Metric {
			for _, lb := range mt.Label {
				if lb.GetValue() == "key" {
					t.Errorf("%s has a payload as a label: %v", f.GetName(), mt)
				}
			}
		}
	}
}

// TestInvocationsCountByVersion: an unsigned actor answers 5 calls, is
// updated to another module and answers 7: each version has its own
// series, labelled with its module's short digest. Three updates more
// keep the series of the last three versions only.
func TestInvocationsCountByVersion(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	nc := l.ConnectInProcess(t, auth.HostUser)
	m := metrics.New()
	h, err := host.New(ctx, nc, host.WithObserver(m),
		host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(ctx) })
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	c, err := lattice.Connect(l.Server.ClientURL(), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	dir := t.TempDir()
	digests := map[string]string{}
	module := func(v string) string {
		wasm := testwasm.Versioned(t, v, 0)
		sum := sha256.Sum256(wasm)
		digests[v] = "sha256:" + hex.EncodeToString(sum[:])[:12]
		p := filepath.Join(dir, "svc-"+v+".wasm")
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	call := func(n int, want string) {
		t.Helper()
		for range n {
			out, err := c.Call(ctx, "svc", "Version", nil)
			if err != nil || string(out) != want {
				t.Fatalf("call: %q %v, want %s", out, err, want)
			}
		}
	}
	if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: module("v1"), Name: "svc", Count: 1}); err != nil {
		t.Fatal(err)
	}
	call(5, "v1")
	update := func(v string) {
		t.Helper()
		if _, err := h.UpdateActor(ctx, lattice.UpdateActorRequest{Actor: "svc", Ref: module(v)}); err != nil {
			t.Fatal(err)
		}
	}
	update("v2")
	call(7, "v2")
	count := func(fams map[string]*dto.MetricFamily, v string) float64 {
		got := find(fams, "wisp_actor_invocations_total", map[string]string{"actor": "svc", "version": digests[v], "operation": "Version", "outcome": "ok"})
		if got == nil {
			return -1
		}
		return got.GetCounter().GetValue()
	}
	fams := scrape(t, srv.URL)
	if v1, v2 := count(fams, "v1"), count(fams, "v2"); v1 != 5 || v2 != 7 {
		t.Errorf("invocations of v1 (%s) = %v, of v2 (%s) = %v; want 5 and 7", digests["v1"], v1, digests["v2"], v2)
	}
	for _, v := range []string{"v3", "v4", "v5"} {
		update(v)
		call(1, v)
	}
	fams = scrape(t, srv.URL)
	for v, want := range map[string]float64{"v1": -1, "v2": -1, "v3": 1, "v4": 1, "v5": 1} {
		if got := count(fams, v); got != want {
			t.Errorf("invocations of %s = %v, want %v (-1: no series)", v, got, want)
		}
	}
}
