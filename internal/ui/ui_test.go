package ui

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
)

func TestQuantileInterpolatesInsideTheBucket(t *testing.T) {
	inf := math.Inf(1)
	old := map[float64]float64{0.001: 10, 0.01: 10, 0.1: 10, inf: 10}
	// 100 new calls: 90 under 1 ms, 10 between 1 and 10 ms.
	cur := map[float64]float64{0.001: 100, 0.01: 110, 0.1: 110, inf: 110}
	p, ok := quantile(0.99, cur, old)
	if !ok {
		t.Fatal("no quantile of 100 calls")
	}
	// Rank 99 falls 9/10 of the way into (1 ms, 10 ms].
	if want := 0.001 + 0.009*0.9; math.Abs(p-want) > 1e-9 {
		t.Fatalf("p99 = %v, want %v", p, want)
	}
	if _, ok := quantile(0.99, old, old); ok {
		t.Fatal("a quantile of no calls")
	}
}

// metricsText is what a host's /metrics says of echo.
func metricsText(ok, errs int) string {
	return fmt.Sprintf(`# TYPE wisp_actor_invocations_total counter
wisp_actor_invocations_total{actor="echo",operation="Echo.Reply",outcome="ok"} %d
wisp_actor_invocations_total{actor="echo",operation="Echo.Nope",outcome="error"} %d
# TYPE wisp_actor_invocation_duration_seconds histogram
wisp_actor_invocation_duration_seconds_bucket{actor="echo",operation="Echo.Reply",le="0.001"} %d
wisp_actor_invocation_duration_seconds_bucket{actor="echo",operation="Echo.Reply",le="+Inf"} %d
wisp_actor_invocation_duration_seconds_sum{actor="echo",operation="Echo.Reply"} 0.01
wisp_actor_invocation_duration_seconds_count{actor="echo",operation="Echo.Reply"} %d
`, ok, errs, ok, ok, ok)
}

func TestScraperRatesFromTwoScrapes(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := int(n.Add(1))
		fmt.Fprint(w, metricsText(100*k, 10*k))
	}))
	defer srv.Close()
	s := newScraper()
	hosts := []lattice.HostSummary{{ID: "N1", Labels: map[string]string{lattice.LabelMetrics: srv.URL + "/metrics"}}, {ID: "N2"}}
	if r, errs := s.rates(context.Background(), hosts); len(r) != 0 || len(errs) != 0 {
		t.Fatalf("one scrape gave rates %v, errors %v", r, errs)
	}
	// Backdate the first scrape by a second, so the second counts.
	s.hist["N1"][0].at = s.hist["N1"][0].at.Add(-minScrape - time.Second)
	r, errs := s.rates(context.Background(), hosts)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	echo, ok := r["N1"]["echo"]
	if !ok || echo.CallsPerSec <= 0 || echo.ErrorsPerSec <= 0 || echo.P99Seconds == nil {
		t.Fatalf("rates of echo = %+v (all: %v)", echo, r)
	}
	if *echo.P99Seconds > 0.001 {
		t.Fatalf("p99 %vs, want at most the 1 ms bucket every call fell in", *echo.P99Seconds)
	}
	if got := echo.ErrorsPerSec / echo.CallsPerSec; math.Abs(got-10.0/110) > 1e-9 {
		t.Fatalf("error share %v, want 10/110", got)
	}
	if _, ok := r["N2"]; ok {
		t.Fatal("rates for a host that serves no metrics")
	}
}

func testServer(t *testing.T) *Server {
	t.Helper()
	s := &Server{token: "secret", log: slog.New(slog.DiscardHandler), subs: map[chan sseMsg]struct{}{}, problems: map[string]problem{},
		kick: make(chan struct{}, 1), inflight: map[*inflightAction]struct{}{}}
	return s
}

func TestActionsRefuseCrossSiteRequests(t *testing.T) {
	s := testServer(t)
	called := 0
	h := s.action("stop_actor", func(ctx context.Context, req actionRequest) (string, error) {
		called++
		return "done " + req.Actor, nil
	})
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"no token", map[string]string{"Content-Type": "application/json"}, 403},
		{"wrong token", map[string]string{"Content-Type": "application/json", "X-Wisp-Token": "guess"}, 403},
		{"other origin", map[string]string{"Content-Type": "application/json", "X-Wisp-Token": "secret", "Origin": "http://evil.example"}, 403},
		{"cross-site fetch", map[string]string{"Content-Type": "application/json", "X-Wisp-Token": "secret", "Sec-Fetch-Site": "cross-site"}, 403},
		{"form", map[string]string{"Content-Type": "text/plain", "X-Wisp-Token": "secret"}, 403},
		{"the page", map[string]string{"Content-Type": "application/json", "X-Wisp-Token": "secret", "Origin": "http://127.0.0.1:3030", "Sec-Fetch-Site": "same-origin"}, 200},
	} {
		r := httptest.NewRequest("POST", "http://127.0.0.1:3030/api/stop", strings.NewReader(`{"actor":"echo"}`))
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, w.Code, w.Body, tc.status)
		}
	}
	if called != 1 {
		t.Fatalf("the action ran %d times, want once (for the page)", called)
	}
}

func TestLoopbackServerRefusesOtherHostNames(t *testing.T) {
	s := testServer(t)
	s.index = []byte("page")
	h := s.Handler(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3030})
	for host, want := range map[string]int{"127.0.0.1:3030": 200, "localhost:3030": 200, "attacker.example:3030": 421, "127.0.0.1:4040": 421} {
		r := httptest.NewRequest("GET", "http://"+host+"/", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %s: status %d, want %d", host, w.Code, want)
		}
		if w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("Host %s: the answer may be framed: %v", host, w.Header())
		}
	}
}

func TestLinkStatesSayWhatProvidersMadeOfThem(t *testing.T) {
	links := []lattice.Link{
		{ActorID: "MA", ContractID: "wasmcloud:keyvalue", LinkName: "default"},
		{ActorID: "MB", ContractID: "wasmcloud:keyvalue", LinkName: "default"},
		{ActorID: "MC", ContractID: "wasmcloud:httpserver", LinkName: "default"},
	}
	provs := []Provider{{HostID: "NHOSTONE1", ProviderDescription: lattice.ProviderDescription{Contract: "wasmcloud:keyvalue", LinkName: "default",
		LinkErrors: map[string]string{"MB": "bucket refused"}}}}
	got := linkStates(links, provs)
	want := []string{"applied", "failed: bucket refused (host NHOSTONE)", "no provider"}
	for i := range want {
		if got[i].State != want[i] {
			t.Errorf("link %s: %q, want %q", links[i].ActorID, got[i].State, want[i])
		}
	}
}

func TestSpreadsSplitReplicasByWeight(t *testing.T) {
	const text = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    version: v1
spec:
  components:
    - name: echo
      type: actor
      properties:
        image: file:///x/echo.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: 5
            spread:
              - name: east
                requirements:
                  zone: east
                weight: 80
              - name: west
                requirements:
                  zone: west
                weight: 20
    - name: keyvalue
      type: capability
      properties:
        image: wisp:keyvalue
        contract: wasmcloud:keyvalue
      traits:
        - type: daemonscaler
          properties:
            replicas: 1
`
	r := &app.Record{Name: "shop", Deployed: "v1", Versions: []app.Version{{Version: "v1", Manifest: text}}}
	got := spreads(r, "v1")
	echo := got["echo"]
	if len(echo) != 2 || echo[0].Name != "east" || echo[0].Want != 4 || echo[1].Want != 1 || echo[1].Requirements["zone"] != "west" {
		t.Fatalf("echo's shares = %+v, want east 4 and west 1", echo)
	}
	if kv := got["keyvalue"]; len(kv) != 1 || !kv[0].Daemon || kv[0].Want != 1 {
		t.Fatalf("keyvalue's shares = %+v, want one per host", kv)
	}
}
