package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// startPrometheus runs Debian's prometheus scraping target every 500ms,
// with its own storage, and returns the base URL of its HTTP API.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is not installed (apt-get install prometheus; .ci/run installs it): %v", err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: wisp
    static_configs:
      - targets: [%q]
`, target), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProcess(t, "prometheus", exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--web.console.templates="+dir, "--web.console.libraries="+dir))
	return "http://" + listen
}

// promQuery asks Prometheus's HTTP API for an instant vector and returns
// its samples' values (as Prometheus prints them) by their label set.
func promQuery(base, query string) ([]string, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %s: %w", query, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", query, r.Error)
	}
	var vals []string
	for _, s := range r.Data.Result {
		v, _ := s.Value[1].(string)
		vals = append(vals, v)
	}
	return vals, nil
}

// TestPrometheusScrapesHostMetrics runs `wisp up --metrics-listen` and a
// real Prometheus scraping it, makes a known number of calls to the echo
// actor, and reads the exact count and the latency histogram back through
// Prometheus's HTTP API. The same host logs JSON and serves Go profiles.
func TestPrometheusScrapesHostMetrics(t *testing.T) {
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h := startHost(t, "--metrics-listen", metricsAddr, "--pprof-listen", pprofAddr, "--log-format", "json")
	prom := startPrometheus(t, metricsAddr)

	module := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, h.url, "build", "./actors/echo", "-o", module)
	mustRun(t, h.url, "start", "actor", module, "--count", "2")

	const calls = 25
	nc := natsAs(t, h.url, auth.AdminUser)
	for i := range calls {
		msg := &nats.Msg{Subject: lattice.RPCSubject(lattice.DefaultLattice, "echo"), Data: []byte(strconv.Itoa(i)),
			Header: nats.Header{lattice.HeaderOperation: []string{"Echo.Reply"}}}
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil || string(reply.Data) != strconv.Itoa(i) {
			t.Fatalf("call %d: %v, %v", i, reply, err)
		}
	}
	// And one the actor does not know: an error.
	if reply, err := nc.RequestMsg(&nats.Msg{Subject: lattice.RPCSubject(lattice.DefaultLattice, "echo"),
		Header: nats.Header{lattice.HeaderOperation: []string{"Echo.Nope"}}}, 10*time.Second); err != nil || lattice.ReplyError(reply) == nil {
		t.Fatalf("Echo.Nope: %v, %v: want an error answer", reply, err)
	}

	queries := map[string]string{
		`wisp_actor_invocations_total{actor="echo",operation="Echo.Reply",outcome="ok"}`:               strconv.Itoa(calls),
		`wisp_actor_invocations_total{actor="echo",operation="Echo.Nope",outcome="error"}`:             "1",
		`wisp_actor_invocation_duration_seconds_count{actor="echo",operation="Echo.Reply"}`:            strconv.Itoa(calls),
		`wisp_actor_invocation_duration_seconds_bucket{actor="echo",operation="Echo.Reply",le="+Inf"}`: strconv.Itoa(calls),
		`wisp_actor_instances{actor="echo",state="running"}`:                                           "2",
		`wisp_nats_connected`: "1",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for q, want := range queries {
		var got []string
		for {
			var err error
			got, err = promQuery(prom, q)
			if err == nil && len(got) == 1 && got[0] == want {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("Prometheus: %s = %v (%v), want %s", q, got, err, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The histogram answers a quantile: the p99 latency of the calls.
	p99, err := promQuery(prom, `histogram_quantile(0.99, sum by (le) (wisp_actor_invocation_duration_seconds_bucket{actor="echo",operation="Echo.Reply"}))`)
	if err != nil || len(p99) != 1 {
		t.Fatalf("p99: %v, %v", p99, err)
	}
	if v, err := strconv.ParseFloat(p99[0], 64); err != nil || v <= 0 || v > 10 {
		t.Fatalf("p99 latency %q: want a positive number of seconds", p99[0])
	}
	t.Logf("echo p99 latency as Prometheus computes it: %ss", p99[0])

	status, body, err := httpGet("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil || status != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("pprof goroutine profile: %d %v\n%.200s", status, err, body)
	}
	hostUp := false
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "host up" && rec["level"] == "INFO" {
			hostUp = true
		}
	}
	if !hostUp {
		t.Fatalf("--log-format json: no JSON line says host up:\n%s", h.logs.String())
	}
}

// TestSpyWatchesAnActorLive runs `wisp spy` with observer credentials
// against a host serving kvcounter behind the httpserver and keyvalue
// providers: each HTTP request shows as an invocation in (with its body
// under --payload) and a keyvalue host call out. The observer cannot call
// the actor.
func TestSpyWatchesAnActorLive(t *testing.T) {
	h := startHost(t)
	module := filepath.Join(t.TempDir(), "kvcounter.wasm")
	mustRun(t, h.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	mustRun(t, h.url, "start", "provider", "httpserver")
	mustRun(t, h.url, "start", "provider", "keyvalue")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, h.url, "link", "put", "kvcounter", "httpserver", "wasmcloud:httpserver", "address="+addr)
	mustRun(t, h.url, "link", "put", "kvcounter", "keyvalue", "wasmcloud:keyvalue", "BUCKET=spy_counts")
	creds := filepath.Join(t.TempDir(), "watcher.creds")
	mustRun(t, h.url, "creds", "create", "watcher", "--role", "observer", "-o", creds)
	if _, errOut, code := run(t, h.url, "call", "kvcounter", "HttpServer.HandleRequest", "x", "--nats-creds", creds); code == 0 {
		t.Fatalf("an observer called an actor: %s", errOut)
	}

	// The spy: 4 records are two requests, each in and out.
	spyOut := &syncBuffer{}
	cmd := exec.Command(wisp(t), "spy", "kvcounter", "--payload", "-o", "json", "--count", "4", "--nats-creds", creds, "--timeout", "30s")
	cmd.Env = append(testEnv(t), "WISP_NATS_URL="+h.url)
	cmd.Stdout, cmd.Stderr = spyOut, spyOut
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	// Requests until the spy has seen two whole ones: the hosts learn of
	// it within a moment.
	requests := 0
	testwait.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("wisp spy: %v\n%s", err, spyOut.String())
			}
			return nil
		default:
		}
		if status, _, err := httpGet("http://" + addr + "/spied"); err == nil && status == 200 {
			requests++
		}
		return fmt.Errorf("wisp spy saw too little after %d requests:\n%s", requests, spyOut.String())
	})
	var in, out int
	for _, line := range strings.Split(strings.TrimSpace(spyOut.String()), "\n") {
		var rec lattice.SpyRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("spy line %q: %v", line, err)
		}
		if rec.Actor != "kvcounter" || rec.Outcome != "ok" || rec.Host == "" || rec.DurationMS <= 0 {
			t.Errorf("record %+v", rec)
		}
		switch rec.Direction {
		case "in":
			in++
			if rec.Operation != "HttpServer.HandleRequest" || !strings.Contains(string(rec.Payload), "/spied") || rec.AnswerSize == 0 {
				t.Errorf("invocation record %+v", rec)
			}
		case "out":
			out++
			if rec.Operation != "KeyValue.Increment" || rec.Target != "wasmcloud:keyvalue/default" {
				t.Errorf("host call record %+v", rec)
			}
		}
	}
	if in != 2 || out != 2 {
		t.Fatalf("%d records in, %d out, want 2 and 2:\n%s", in, out, spyOut.String())
	}
}
