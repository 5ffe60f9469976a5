package httpserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/host/pool"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/httpserver"
)

// runtime answers CallActor with fn.
type runtime struct {
	fn func(ctx context.Context, actor, op string, payload []byte) ([]byte, error)
}

func (r runtime) CallActor(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
	return r.fn(ctx, actor, op, payload)
}
func (r runtime) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (r runtime) Conn() *nats.Conn     { return nil }
func (r runtime) Lattice() string      { return "default" }

func start(t *testing.T, rt provider.Runtime) *httpserver.Provider {
	t.Helper()
	p := &httpserver.Provider{}
	if err := p.Start(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p
}

func link(t *testing.T, p *httpserver.Provider, actor string, values map[string]string) string {
	t.Helper()
	if values == nil {
		values = map[string]string{}
	}
	if _, ok := values["address"]; !ok {
		values["address"] = "127.0.0.1:0"
	}
	l := provider.Link{Actor: actor, Contract: httpserver.Contract, Values: values}
	if err := p.PutLink(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	addr, ok := p.Address(l)
	if !ok {
		t.Fatal("no address after PutLink")
	}
	return "http://" + addr
}

// TestRealActorAnswers serves the hello-http actor (built with the SDK, run
// on the engine, 4 instances) on a real listener.
func TestRealActorAnswers(t *testing.T) {
	ctx := context.Background()
	e, err := engine.New(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	mod, err := e.Compile(ctx, testwasm.GoActor(t, "actors/hello-http"), engine.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	pl, err := pool.New(ctx, mod, pool.Config{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close(ctx)
	p := start(t, runtime{fn: func(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
		return pl.Invoke(ctx, op, payload)
	}})
	url := link(t, p, "hello", nil)

	resp, err := http.Get(url + "/greet/me?name=Ada")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Hello, Ada!\n" || resp.Header.Get("X-Wisp-Path") != "/greet/me" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, err = http.Post(url+"/", "text/plain", strings.NewReader("Grace"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "Hello, Grace!\n" {
		t.Fatalf("POST: %q", body)
	}

	// Concurrent requests spread over the instances.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/?name=n%d", url, i))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != fmt.Sprintf("Hello, n%d!\n", i) {
				errs <- fmt.Errorf("request %d: %q", i, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRequestAndResponseGoThrough checks the mapping both ways: method,
// path, query, repeated headers and body in; status, headers, body out.
func TestRequestAndResponseGoThrough(t *testing.T) {
	var got httpserver.Request
	p := start(t, runtime{fn: func(_ context.Context, actor, op string, payload []byte) ([]byte, error) {
		if actor != "api" || op != httpserver.Operation {
			return nil, fmt.Errorf("called %s %s", actor, op)
		}
		if err := msgpack.Unmarshal(payload, &got); err != nil {
			return nil, err
		}
		return msgpack.Marshal(httpserver.Response{StatusCode: 201, Header: map[string][]string{"X-A": {"1", "2"}}, Body: []byte("made")})
	}})
	url := link(t, p, "api", nil)
	req, _ := http.NewRequest("PUT", url+"/things/7?x=1&y=%20", strings.NewReader("payload"))
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got.Method != "PUT" || got.Path != "/things/7" || got.QueryString != "x=1&y=%20" || string(got.Body) != "payload" ||
		strings.Join(got.Header["X-Multi"], ",") != "a,b" {
		t.Fatalf("actor saw %+v", got)
	}
	if resp.StatusCode != 201 || string(body) != "made" || strings.Join(resp.Header.Values("X-A"), ",") != "1,2" {
		t.Fatalf("client saw %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestFailuresBecomeStatusCodes(t *testing.T) {
	p := start(t, runtime{fn: func(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
		switch actor {
		case "slow":
			<-ctx.Done()
			return nil, ctx.Err()
		case "broken":
			return nil, errors.New("guest trapped")
		case "garbled":
			return []byte{0xc1}, nil
		}
		return msgpack.Marshal(httpserver.Response{StatusCode: 200, Body: []byte("ok")})
	}})
	for _, c := range []struct {
		actor  string
		values map[string]string
		body   string
		status int
	}{
		{"slow", map[string]string{"timeout_ms": "50"}, "", http.StatusGatewayTimeout},
		{"broken", nil, "", http.StatusInternalServerError},
		{"garbled", nil, "", http.StatusBadGateway},
		{"small", map[string]string{"max_content_len": "4"}, "too long", http.StatusRequestEntityTooLarge},
		{"small2", map[string]string{"MAX_CONTENT_LEN": "4"}, "ok", http.StatusOK},
	} {
		url := link(t, p, c.actor, c.values)
		resp, err := http.Post(url+"/", "text/plain", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %q, want %d", c.actor, resp.StatusCode, msg, c.status)
		}
	}
}

func TestLinksOpenAndCloseListeners(t *testing.T) {
	ctx := context.Background()
	p := start(t, runtime{fn: func(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
		return msgpack.Marshal(httpserver.Response{StatusCode: 200, Body: []byte(actor)})
	}})
	url := link(t, p, "a", nil)
	addr := strings.TrimPrefix(url, "http://")
	// Another actor cannot take the same address.
	if err := p.PutLink(ctx, provider.Link{Actor: "b", Contract: httpserver.Contract, Values: map[string]string{"address": addr}}); err == nil {
		t.Fatal("two links on one address")
	}
	if err := p.PutLink(ctx, provider.Link{Actor: "c", Contract: httpserver.Contract, Values: map[string]string{"address": "nonsense"}}); err == nil {
		t.Fatal("bad address accepted")
	}
	for _, values := range []map[string]string{{"port": "http"}, {"timeout_ms": "0"}, {"max_content_len": "-1"}} {
		var ve *provider.ValueError
		err := p.PutLink(ctx, provider.Link{Actor: "c", Contract: httpserver.Contract, Values: values})
		if !errors.As(err, &ve) || values[ve.Key] == "" {
			t.Fatalf("link values %v: %v, want an error naming the key", values, err)
		}
	}
	// Putting the same link again keeps the listener.
	if err := p.PutLink(ctx, provider.Link{Actor: "a", Contract: httpserver.Contract, Values: map[string]string{"address": "127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := p.Address(provider.Link{Actor: "a", Contract: httpserver.Contract}); got != addr {
		t.Fatalf("same link put again moved from %s to %s", addr, got)
	}
	if err := p.DelLink(ctx, provider.Link{Actor: "a", Contract: httpserver.Contract}); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url + "/"); err == nil {
		resp.Body.Close()
		t.Fatal("listener still open after DelLink")
	}
}

// TestStopWaitsForRequestsInFlight: a graceful shutdown lets a running
// request finish.
func TestStopWaitsForRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	p := &httpserver.Provider{}
	p.Start(context.Background(), runtime{fn: func(ctx context.Context, actor, op string, payload []byte) ([]byte, error) {
		close(entered)
		<-release
		return msgpack.Marshal(httpserver.Response{StatusCode: 200, Body: []byte("finished")})
	}})
	url := link(t, p, "a", nil)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- p.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if s := <-got; s != "finished" {
		t.Fatalf("request in flight got %q", s)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// A large upload is read straight into the actor's payload: the provider
// holds one copy of it, whether the client declared its length or sent
// it in chunks (then it is read whole first), and a declared length above
// max_content_len is refused before a byte of it is read.
func TestLargeUploadsAreReadOnce(t *testing.T) {
	const size = 8 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	p := start(t, runtime{fn: func(_ context.Context, _, _ string, payload []byte) ([]byte, error) {
		if len(payload) < size || !bytes.Equal(payload[len(payload)-size:], body) {
			return nil, fmt.Errorf("payload of %d bytes does not end with the body", len(payload))
		}
		return msgpack.Marshal(httpserver.Response{StatusCode: 200, Body: []byte("got it")})
	}})
	url := link(t, p, "up", map[string]string{"max_content_len": fmt.Sprint(size)})
	post := func(r io.Reader, length int64) (int, uint64) {
		req, _ := http.NewRequest("POST", url+"/", r)
		req.ContentLength = length
		var before, after goruntime.MemStats
		goruntime.ReadMemStats(&before)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		goruntime.ReadMemStats(&after)
		return resp.StatusCode, after.TotalAlloc - before.TotalAlloc
	}
	status, allocated := post(bytes.NewReader(body), size)
	if status != http.StatusOK {
		t.Fatalf("an upload of %d bytes with its length: %d", size, status)
	}
	// Reading it whole, then encoding it, allocated three times its size.
	if allocated > size*3/2 {
		t.Errorf("an upload of %d bytes allocated %d bytes, want about one copy", size, allocated)
	}
	if status, _ := post(io.MultiReader(bytes.NewReader(body)), -1); status != http.StatusOK {
		t.Fatalf("an upload of %d bytes in chunks: %d", size, status)
	}
	if status, _ := post(bytes.NewReader(append(body, 'x')), size+1); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a declared length above the limit: %d", status)
	}
	if status, _ := post(io.MultiReader(bytes.NewReader(append(body, 'x'))), -1); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a chunked body above the limit: %d", status)
	}
}
