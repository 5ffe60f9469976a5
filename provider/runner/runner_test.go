package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/httpserver"
	"github.com/wisp-dev/wisp/provider/keyvalue"
	"github.com/wisp-dev/wisp/provider/runner"
)

// wireRouter sends every host call that is not a builtin to the provider
// subject of its contract and binding, with the calling actor in
// Wisp-Source: the wire protocol a linked call uses.
type wireRouter struct{ nc *nats.Conn }

func (w wireRouter) Route(ctx context.Context, actor string, call engine.HostCall) ([]byte, error) {
	m := nats.NewMsg(lattice.ProviderSubject(lattice.DefaultLattice, call.Namespace, call.Binding))
	m.Header.Set(lattice.HeaderOperation, call.Operation)
	m.Header.Set(lattice.HeaderSource, actor)
	m.Data = call.Payload
	resp, err := w.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return nil, err
	}
	if e := resp.Header.Get(lattice.HeaderError); e != "" {
		return nil, errors.New(e)
	}
	return resp.Data, nil
}

type env struct {
	nc   *nats.Conn
	host *host.Host
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h, err := host.New(ctx, nc, host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithRouter(wireRouter{nc}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return &env{nc: nc, host: h}
}

func (e *env) startActor(t *testing.T, dir string, count int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), filepath.Base(dir)+".wasm")
	if err := os.WriteFile(p, testwasm.GoActor(t, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.host.StartActor(context.Background(), lattice.StartActorRequest{Ref: p, Count: count}); err != nil {
		t.Fatal(err)
	}
}

// local runs calls on the host's own actors.
func (e *env) local(ctx context.Context, actor, op string, payload []byte) ([]byte, bool, error) {
	a, ok := e.host.Actor(actor)
	if !ok {
		return nil, false, nil
	}
	out, err := a.Invoke(ctx, op, payload)
	return out, true, err
}

func (e *env) run(t *testing.T, name string, local bool) *runner.Runner {
	t.Helper()
	p, err := provider.New(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{Conn: e.nc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if local {
		cfg.Local = e.local
	}
	r, err := runner.Start(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return r
}

// TestKVCounterOverHTTP: an HTTP request reaches the kvcounter actor
// through the httpserver provider, the actor increments a counter through
// the keyvalue provider (over the provider subject), and the count comes
// back; with and without the in-process path to the actor.
func TestKVCounterOverHTTP(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			e := newEnv(t)
			e.startActor(t, "actors/kvcounter", 2)
			kv := e.run(t, "keyvalue", local)
			web := e.run(t, "httpserver", local)
			ctx := context.Background()
			if err := kv.PutLink(ctx, provider.Link{Actor: "kvcounter", Contract: keyvalue.Contract}); err != nil {
				t.Fatal(err)
			}
			hl := provider.Link{Actor: "kvcounter", Contract: httpserver.Contract, Values: map[string]string{"address": "127.0.0.1:0"}}
			if err := web.PutLink(ctx, hl); err != nil {
				t.Fatal(err)
			}
			addr, _ := web.Provider().(*httpserver.Provider).Address(hl)
			for want := 1; want <= 3; want++ {
				resp, err := http.Get("http://" + addr + "/hello")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != fmt.Sprintf("{\"counter\":%d}\n", want) {
					t.Fatalf("request %d: %d %q", want, resp.StatusCode, b)
				}
			}
			// Concurrent requests on two paths, counted exactly.
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.Get(fmt.Sprintf("http://%s/p%d", addr, i%2))
					if err == nil {
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			resp, err := http.Get("http://" + addr + "/p0")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "{\"counter\":11}\n" {
				t.Fatalf("after 10 concurrent requests and one more: %q", b)
			}
		})
	}
}

// TestProviderSubjectFromAnyClient: the provider answers plain NATS
// requests, and refuses calls without the headers it needs.
func TestProviderSubjectFromAnyClient(t *testing.T) {
	e := newEnv(t)
	kv := e.run(t, "keyvalue", false)
	if err := kv.PutLink(context.Background(), provider.Link{Actor: "app", Contract: keyvalue.Contract}); err != nil {
		t.Fatal(err)
	}
	subject := lattice.ProviderSubject("default", keyvalue.Contract, "default")
	m := nats.NewMsg(subject)
	m.Header.Set(lattice.HeaderOperation, "KeyValue.Contains")
	m.Header.Set(lattice.HeaderSource, "app")
	m.Data = []byte{0xa1, 'k'} // "k"
	resp, err := e.nc.RequestMsg(m, 5*time.Second)
	if err != nil || resp.Header.Get(lattice.HeaderError) != "" || len(resp.Data) != 1 || resp.Data[0] != 0xc2 {
		t.Fatalf("Contains over NATS: %v %q %x", err, resp.Header.Get(lattice.HeaderError), resp.Data)
	}
	resp, err = e.nc.Request(subject, []byte("x"), 5*time.Second)
	if err != nil || !strings.Contains(resp.Header.Get(lattice.HeaderError), "Wisp-Source") {
		t.Fatalf("call without headers: %v %v", err, resp.Header)
	}
	m.Header.Set(lattice.HeaderSource, "stranger")
	resp, err = e.nc.RequestMsg(m, 5*time.Second)
	if err != nil || !strings.Contains(resp.Header.Get(lattice.HeaderError), "not linked") {
		t.Fatalf("unlinked caller: %v %v", err, resp.Header)
	}
	// Links for another contract or link name are not this runner's.
	if err := kv.PutLink(context.Background(), provider.Link{Actor: "app", Contract: "wasmcloud:messaging", Values: map[string]string{"URL": "bad"}}); err != nil {
		t.Fatalf("a link for another contract reached the provider: %v", err)
	}
}

// TestCallActorWithoutActor: a provider calling an actor nobody runs gets
// ErrActorNotRunning.
func TestCallActorWithoutActor(t *testing.T) {
	e := newEnv(t)
	r := e.run(t, "httpserver", true)
	_, err := r.CallActor(context.Background(), "ghost", "HttpServer.HandleRequest", nil)
	if !errors.Is(err, lattice.ErrActorNotRunning) {
		t.Fatalf("call to a missing actor: %v", err)
	}
}
