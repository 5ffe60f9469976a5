package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/httpserver"
	"github.com/wisp-dev/wisp/provider/keyvalue"
	"github.com/wisp-dev/wisp/provider/runner"
)

func newEnv(t *testing.T) *providertest.Env { return providertest.New(t) }

// TestKVCounterOverHTTP: an HTTP request reaches the kvcounter actor
// through the httpserver provider, the actor increments a counter through
// the keyvalue provider (over the provider subject), and the count comes
// back; with and without the in-process path to the actor.
func TestKVCounterOverHTTP(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprintf("local=%v", local), func(t *testing.T) {
			e := newEnv(t)
			e.StartActor(t, testwasm.GoActor(t, "actors/kvcounter"), "kvcounter.wasm", 2)
			kv := e.Run(t, "keyvalue", local)
			web := e.Run(t, "httpserver", local)
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
	kv := e.Run(t, "keyvalue", false)
	if err := kv.PutLink(context.Background(), provider.Link{Actor: "app", Contract: keyvalue.Contract}); err != nil {
		t.Fatal(err)
	}
	subject := lattice.ProviderSubject("default", keyvalue.Contract, "default")
	m := nats.NewMsg(subject)
	m.Header.Set(lattice.HeaderOperation, "KeyValue.Contains")
	m.Header.Set(lattice.HeaderSource, "app")
	m.Data = []byte{0xa1, 'k'} // "k"
	resp, err := e.NC.RequestMsg(m, 5*time.Second)
	if err != nil || resp.Header.Get(lattice.HeaderError) != "" || len(resp.Data) != 1 || resp.Data[0] != 0xc2 {
		t.Fatalf("Contains over NATS: %v %q %x", err, resp.Header.Get(lattice.HeaderError), resp.Data)
	}
	resp, err = e.NC.Request(subject, []byte("x"), 5*time.Second)
	if err != nil || !strings.Contains(resp.Header.Get(lattice.HeaderError), "Wisp-Source") || resp.Header.Get(lattice.HeaderErrorCode) != "bad_request" {
		t.Fatalf("call without headers: %v %v", err, resp.Header)
	}
	m.Header.Set(lattice.HeaderSource, "stranger")
	resp, err = e.NC.RequestMsg(m, 5*time.Second)
	if err != nil || !strings.Contains(resp.Header.Get(lattice.HeaderError), "not linked") || resp.Header.Get(lattice.HeaderErrorCode) != "handler" {
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
	r := e.Run(t, "httpserver", true)
	_, err := r.CallActor(context.Background(), "ghost", "HttpServer.HandleRequest", nil)
	if !errors.Is(err, lattice.ErrActorNotRunning) {
		t.Fatalf("call to a missing actor: %v", err)
	}
}

// TestCallActorKeepsTheCode: a provider calling an actor over NATS gets
// the actor's failure with its code.
func TestCallActorKeepsTheCode(t *testing.T) {
	e := newEnv(t)
	r := e.Run(t, "httpserver", false)
	sub, err := e.NC.Subscribe(lattice.RPCSubject("default", "crowded"), func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		lattice.SetReplyError(reply, lattice.CodeBusy, errors.New("actor busy: all instances in use"))
		m.RespondMsg(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_, err = r.CallActor(context.Background(), "crowded", "HttpServer.HandleRequest", nil)
	if !errors.Is(err, lattice.ErrBusy) || !strings.Contains(err.Error(), "actor busy") {
		t.Fatalf("call to a busy actor: %v", err)
	}
}

// fragile is a provider that panics on the operation "Boom".
type fragile struct {
	links int
}

func (f *fragile) Contract() string                              { return "test:fragile" }
func (f *fragile) Start(context.Context, provider.Runtime) error { return nil }
func (f *fragile) PutLink(context.Context, provider.Link) error  { f.links++; return nil }
func (f *fragile) DelLink(context.Context, provider.Link) error  { f.links--; return nil }
func (f *fragile) Stop(context.Context) error                    { return nil }
func (f *fragile) Handle(_ context.Context, c provider.Call) ([]byte, error) {
	if c.Operation == "Boom" {
		panic("boom")
	}
	return []byte(fmt.Sprint(f.links)), nil
}

// TestProviderPanicRestarts: a provider that panics fails that call with a
// clear error, is replaced by a fresh one holding the same links, and the
// host hears of it.
func TestProviderPanicRestarts(t *testing.T) {
	e := newEnv(t)
	restarted := make(chan any, 1)
	r, err := runner.Start(context.Background(), &fragile{}, runner.Config{Conn: e.NC, Logger: providertest.Discard(),
		New: func() provider.Provider { return &fragile{} }, OnRestart: func(cause any) { restarted <- cause }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	ctx := context.Background()
	if err := r.PutLink(ctx, provider.Link{Actor: "a", Contract: "test:fragile"}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Invoke(ctx, provider.Call{Actor: "a", Operation: "Boom"})
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("panicking call = %v", err)
	}
	if cause := <-restarted; cause != "boom" {
		t.Fatalf("restart cause = %v", cause)
	}
	out, err := r.Invoke(ctx, provider.Call{Actor: "a", Operation: "Count"})
	if err != nil || string(out) != "1" || r.Restarts() != 1 {
		t.Fatalf("after the restart: %q %v, %d restarts (want the link handed again)", out, err, r.Restarts())
	}
}

// TestLinkChangesReachTheProviderOneAtATime: the host hands a link it puts
// itself and again when its bucket watch echoes it, at the same moment; an
// httpserver opening the link's fixed port must see one after the other
// (seen: "address already in use" from its own listener, and the link
// reported refused).
func TestLinkChangesReachTheProviderOneAtATime(t *testing.T) {
	e := newEnv(t)
	r := e.Run(t, "httpserver", false)
	l := provider.Link{Actor: "a", Contract: httpserver.Contract, Values: map[string]string{"address": freeAddr(t)}}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() { errs <- r.PutLink(context.Background(), l) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("the same link handed 64 times at once: %v", err)
		}
	}
}

// freeAddr is a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
