package tests

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/provider/httpserver"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes the protobuf
// export requests a host posts to /v1/traces and keeps their spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	errs  []error
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var ex coltrace.ExportTraceServiceRequest
	if err == nil && req.URL.Path != "/v1/traces" {
		err = fmt.Errorf("export to %s, want /v1/traces", req.URL.Path)
	}
	if err == nil && req.Header.Get("Content-Type") != "application/x-protobuf" {
		err = fmt.Errorf("content type %q", req.Header.Get("Content-Type"))
	}
	if err == nil {
		err = proto.Unmarshal(body, &ex)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errs = append(r.errs, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, rs := range ex.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			r.spans = append(r.spans, ss.Spans...)
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Write(b)
}

// trace returns the spans of trace id, once one named last has arrived.
func (r *otlpReceiver) trace(t *testing.T, id []byte, last string) []*tracepb.Span {
	t.Helper()
	var got []*tracepb.Span
	testwait.Eventually(t, 20*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.errs) > 0 {
			t.Fatalf("bad OTLP export: %v", r.errs)
		}
		got = got[:0]
		for _, s := range r.spans {
			if bytes.Equal(s.TraceId, id) && s.Name == last {
				return nil
			}
			if bytes.Equal(s.TraceId, id) {
				got = append(got, s)
			}
		}
		return fmt.Errorf("no span %q in trace %x yet; %d spans of it", last, id, len(got))
	})
	// The parent spans end after their children: give the batch that
	// holds them a moment.
	time.Sleep(1500 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	got = got[:0]
	for _, s := range r.spans {
		if bytes.Equal(s.TraceId, id) {
			got = append(got, s)
		}
	}
	return got
}

// checkChain checks that spans form one tree under the caller's span
// (parent): every span's parent is the caller's or another span of the
// trace (no orphans), and that the spans named in chain are there, each
// the child of the one before.
func checkChain(t *testing.T, spans []*tracepb.Span, parent []byte, chain []string) {
	t.Helper()
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	for _, s := range spans {
		if !bytes.Equal(s.ParentSpanId, parent) && byID[string(s.ParentSpanId)] == nil {
			t.Errorf("orphan span %q: parent %x is in no span of the trace", s.Name, s.ParentSpanId)
		}
	}
	prev := parent
	for _, name := range chain {
		var found *tracepb.Span
		for _, s := range spans {
			if s.Name == name && bytes.Equal(s.ParentSpanId, prev) {
				found = s
			}
		}
		if found == nil {
			var have []string
			for _, s := range spans {
				have = append(have, fmt.Sprintf("%s (span %x, parent %x)", s.Name, s.SpanId, s.ParentSpanId))
			}
			t.Fatalf("no span %q with parent %x; the trace has:\n%v", name, prev, have)
		}
		prev = found.SpanId
	}
}

func attr(s *tracepb.Span, key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.GetStringValue()
		}
	}
	return ""
}

// TestTraceCrossesEveryHop runs a host exporting spans to an OTLP/HTTP
// receiver in the test, with kvcounter behind the httpserver and keyvalue
// providers. An HTTP request carrying a W3C traceparent, and a plain NATS
// request carrying one, each give one trace continuing the caller's:
// HTTP request → actor invocation → host call → provider, parents right,
// no orphan spans.
func TestTraceCrossesEveryHop(t *testing.T) {
	recv := &otlpReceiver{}
	otlp := httptest.NewServer(recv)
	t.Cleanup(otlp.Close)
	h := startHost(t, "--otlp-endpoint", otlp.URL)

	module := filepath.Join(t.TempDir(), "kvcounter.wasm")
	mustRun(t, h.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	mustRun(t, h.url, "start", "provider", "httpserver")
	mustRun(t, h.url, "start", "provider", "keyvalue")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, h.url, "link", "put", "kvcounter", "httpserver", "wasmcloud:httpserver", "address="+addr)
	mustRun(t, h.url, "link", "put", "kvcounter", "keyvalue", "wasmcloud:keyvalue", "BUCKET=trace_counts")
	testwait.Eventually(t, 20*time.Second, func() error {
		if status, b, err := httpGet("http://" + addr + "/warmup"); err != nil || status != 200 {
			return fmt.Errorf("kvcounter over HTTP: %d %q %v", status, b, err)
		}
		return nil
	})

	chain := []string{"kvcounter HttpServer.HandleRequest", "wasmcloud:keyvalue KeyValue.Increment", "wasmcloud:keyvalue KeyValue.Increment"}

	// An HTTP client with a trace of its own.
	traceID, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	clientSpan, _ := hex.DecodeString("00f067aa0ba902b7")
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/traced", nil)
	req.Header.Set("traceparent", fmt.Sprintf("00-%x-%x-01", traceID, clientSpan))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("traced request: %s", resp.Status)
	}
	spans := recv.trace(t, traceID, "HTTP GET")
	checkChain(t, spans, clientSpan, append([]string{"HTTP GET", "wasmcloud:httpserver deliver HttpServer.HandleRequest"}, chain...))
	if len(spans) != 5 {
		t.Errorf("the HTTP trace has %d spans, want 5 (HTTP, delivery, invocation, host call, provider)", len(spans))
	}
	for _, s := range spans {
		if s.Name == "kvcounter HttpServer.HandleRequest" {
			if attr(s, "wisp.actor") != "kvcounter" || attr(s, "wisp.outcome") != "ok" || attr(s, "wisp.lattice") != "default" || attr(s, "wisp.host.id") == "" {
				t.Errorf("invocation span attributes: %v", s.Attributes)
			}
		}
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT && attr(s, "wisp.link_name") != "default" {
			t.Errorf("host call span attributes: %v", s.Attributes)
		}
	}

	// A plain NATS client sending a traceparent sees its trace go on.
	traceID2, _ := hex.DecodeString("0af7651916cd43dd8448eb211c80319c")
	natsSpan, _ := hex.DecodeString("b7ad6b7169203331")
	payload, err := msgpack.Marshal(&httpserver.Request{Method: "GET", Path: "/nats"})
	if err != nil {
		t.Fatal(err)
	}
	nc := natsAs(t, h.url, auth.AdminUser)
	msg := &nats.Msg{Subject: lattice.RPCSubject(lattice.DefaultLattice, "kvcounter"), Data: payload, Header: nats.Header{
		lattice.HeaderOperation: []string{httpserver.Operation},
		"traceparent":           []string{fmt.Sprintf("00-%x-%x-01", traceID2, natsSpan)},
	}}
	reply, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil || lattice.ReplyError(reply) != nil {
		t.Fatalf("NATS call: %v, %v", reply, err)
	}
	spans = recv.trace(t, traceID2, chain[0])
	checkChain(t, spans, natsSpan, chain)
	if len(spans) != 3 {
		t.Errorf("the NATS trace has %d spans, want 3", len(spans))
	}
	for _, s := range spans {
		if s.Name == chain[0] && s.Kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("the invocation from NATS is a %v span, want a server span", s.Kind)
		}
	}
}

// TestTraceCrossesHostsActorToActor: a plain NATS call carrying a
// traceparent to the probe actor on one host process, which calls echo on
// another host process, gives one trace in the receiver both hosts export
// to: probe's invocation, its actor-to-actor host call, and echo's
// invocation on the other host, each the child of the one before.
func TestTraceCrossesHostsActorToActor(t *testing.T) {
	recv := &otlpReceiver{}
	otlp := httptest.NewServer(recv)
	t.Cleanup(otlp.Close)
	a := startHost(t, "--name", "a", "--otlp-endpoint", otlp.URL)
	spawn(t, a.url, "--name", "b", "--nats-url", a.url, "--cache-dir", t.TempDir(), "--otlp-endpoint", otlp.URL)
	hosts := hostsByName(t, a.url, "default", 2)
	dir := t.TempDir()
	echo, probe := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "probe.wasm")
	mustRun(t, a.url, "build", "./actors/echo", "-o", echo)
	mustRun(t, a.url, "build", "./internal/testactors/probe", "-o", probe)
	mustRun(t, a.url, "start", "actor", echo, "--host", hosts["b"].ID)
	mustRun(t, a.url, "start", "actor", probe, "--host", hosts["a"].ID)
	eventually(t, a.url, "call", "probe", "Probe.Call", "echo") // both serve

	traceID, _ := hex.DecodeString("5cf92f3577b34da6a3ce929d0e0e4799")
	callerSpan, _ := hex.DecodeString("c7ad6b7169203332")
	nc := natsAs(t, a.url, auth.AdminUser)
	msg := &nats.Msg{Subject: lattice.RPCSubject(lattice.DefaultLattice, "probe"), Data: []byte("echo"), Header: nats.Header{
		lattice.HeaderOperation: []string{"Probe.Call"},
		"traceparent":           []string{fmt.Sprintf("00-%x-%x-01", traceID, callerSpan)},
	}}
	reply, err := nc.RequestMsg(msg, 10*time.Second)
	if err != nil || lattice.ReplyError(reply) != nil || string(reply.Data) != "via echo" {
		t.Fatalf("traced call: %v, %v", reply, err)
	}
	spans := recv.trace(t, traceID, "echo Echo.Reply")
	var probeInv, echoInv *tracepb.Span
	for _, s := range spans {
		switch s.Name {
		case "probe Probe.Call":
			probeInv = s
		case "echo Echo.Reply":
			// probe's host call has the same name (a client span on
			// host a): the invocation is the server span, whichever
			// host exported first.
			if s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				echoInv = s
			}
		}
	}
	if probeInv == nil || echoInv == nil {
		t.Fatalf("spans of the trace: %v", spans)
	}
	if !bytes.Equal(probeInv.ParentSpanId, callerSpan) {
		t.Errorf("probe's invocation does not continue the caller's span")
	}
	if attr(probeInv, "wisp.host.id") == attr(echoInv, "wisp.host.id") {
		t.Errorf("both invocations on host %s: the call did not cross hosts", attr(echoInv, "wisp.host.id"))
	}
	// Between the two: probe's host call, the parent of echo's invocation
	// and the child of probe's.
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.SpanId)] = s
	}
	hop := byID[string(echoInv.ParentSpanId)]
	if hop == nil || !bytes.Equal(hop.ParentSpanId, probeInv.SpanId) {
		t.Fatalf("echo's invocation is not the child of probe's host call: %v", spans)
	}
	for _, s := range spans {
		if !bytes.Equal(s.ParentSpanId, callerSpan) && byID[string(s.ParentSpanId)] == nil {
			t.Errorf("orphan span %q", s.Name)
		}
	}
}

// TestTraceFollowsAMessageDelivery: a message published with a
// traceparent on a subject the messaging provider subscribes to for an
// actor continues its trace: the provider's delivery span, then the
// actor's invocation.
func TestTraceFollowsAMessageDelivery(t *testing.T) {
	recv := &otlpReceiver{}
	otlp := httptest.NewServer(recv)
	t.Cleanup(otlp.Close)
	h := startHost(t, "--otlp-endpoint", otlp.URL, "--provider", "messaging")
	module := filepath.Join(t.TempDir(), "readings.wasm")
	mustRun(t, h.url, "build", "./examples/iot-pipeline/readings", "--cap", "wasmcloud:messaging", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	mustRun(t, h.url, "link", "put", "readings", "messaging", "wasmcloud:messaging", "SUBSCRIPTION=traced.readings")

	traceID, _ := hex.DecodeString("6df92f3577b34da6a3ce929d0e0e4711")
	pubSpan, _ := hex.DecodeString("d7ad6b7169203333")
	nc := natsAs(t, h.url, auth.HostUser) // any user that may publish on the subject
	chain := []string{"wasmcloud:messaging deliver MessageSubscriber.HandleMessage", "readings MessageSubscriber.HandleMessage"}
	// link put returned once the provider applied the link: its
	// subscription is in place, so one message is enough.
	msg := &nats.Msg{Subject: "traced.readings", Data: []byte("not a summary"), Header: nats.Header{
		"traceparent": []string{fmt.Sprintf("00-%x-%x-01", traceID, pubSpan)},
	}}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	spans := recv.trace(t, traceID, chain[1])
	checkChain(t, spans, pubSpan, chain)
	if len(spans) != 2 {
		t.Errorf("the delivery's trace has %d spans, want 2 (delivery, invocation)", len(spans))
	}
}
