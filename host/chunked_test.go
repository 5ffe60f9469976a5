package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/runner"
)

// newBigEnv is newEnv on a server with NATS's own default max_payload
// (1 MiB) and a host whose actors take payloads of up to 64 MiB.
func newBigEnv(t *testing.T) *env {
	t.Helper()
	l := authtest.Start(t, natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	logs := &logBuffer{}
	h := bigHost(t, l, logs)
	c, err := lattice.Connect(l.Server.ClientURL(), lattice.WithTimeout(2*time.Minute), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e := &env{lat: l, srv: l.Server, host: h, client: c, logs: logs}
	e.start(t, testwasm.Wat(t, filepath.Join("testdata", "bigecho.wat")), "big", 1, lattice.ActorLimits{})
	return e
}

// bigHost starts a host on l whose actors take payloads of up to 64 MiB.
func bigHost(t *testing.T, l *authtest.Lattice, logs *logBuffer, opts ...host.Option) *host.Host {
	t.Helper()
	return bigHostOn(t, l.ConnectInProcess(t, auth.HostUser), logs, opts...)
}

// bigHostOn is bigHost on the connection nc.
func bigHostOn(t *testing.T, nc *nats.Conn, logs *logBuffer, opts ...host.Option) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), nc, append([]host.Option{
		host.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), host.WithEngineInstance(sharedEngine),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()),
		host.WithDefaultLimits(lattice.ActorLimits{MaxPayload: chunked.MaxBody, MaxMemoryPages: 1100, CallTimeoutMS: 120_000})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return h
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

func TestCallsAboveTheServersMaxPayloadTravelInChunks(t *testing.T) {
	e := newBigEnv(t)
	for _, n := range []int{1<<20 + 1, 16 << 20, 64 << 20} {
		want := pattern(n)
		out, err := e.client.Call(context.Background(), "big", "Echo", want)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatalf("echo of %d bytes = %d bytes, %v", n, len(out), err)
		}
	}
	// Below the limit nothing changes: one message each way.
	if out, err := e.client.Call(context.Background(), "big", "Echo", []byte("small")); err != nil || string(out) != "small" {
		t.Fatalf("small echo = %q, %v", out, err)
	}
	// Above the actor's limit (64 MiB) the host refuses the call before it
	// pulls a chunk.
	_, err := e.client.Call(context.Background(), "big", "Echo", make([]byte, 64<<20+1))
	if !errors.Is(err, lattice.ErrPayloadTooLarge) {
		t.Fatalf("65 MiB call: %v, want payload too large", err)
	}
}

// TestPlainNATSCallerOptsInToChunks speaks the protocol with nats.go alone,
// as the README shows: a plain request gets an error naming the header,
// and with it the reply comes in chunks.
func TestPlainNATSCallerOptsInToChunks(t *testing.T) {
	e := newBigEnv(t)
	nc := e.lat.Connect(t, auth.AdminUser)
	want := pattern(3 << 20)
	// A caller that did not opt in gets a clear error for a reply above
	// the limit: its body is made by the caller in chunks.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 10
	head := nats.NewMsg(lattice.RPCSubject(lattice.DefaultLattice, "big"))
	head.Reply = inbox
	head.Header.Set(lattice.HeaderOperation, "Echo")
	head.Header.Set(chunked.HeaderBodySize, strconv.Itoa(len(want)))
	head.Header.Set(chunked.HeaderChunkSize, strconv.Itoa(size))
	if err := nc.PublishMsg(head); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p := m.Header.Get(chunked.HeaderPull); p != "" {
			i, _ := strconv.Atoi(p)
			m.Respond(want[i*size : min((i+1)*size, len(want))])
			continue
		}
		if m.Header.Get(lattice.HeaderErrorCode) != string(lattice.CodePayloadTooLarge) || !bytes.Contains([]byte(m.Header.Get(lattice.HeaderError)), []byte(chunked.HeaderAccept)) {
			t.Fatalf("reply without %s: headers %v", chunked.HeaderAccept, m.Header)
		}
		break
	}
	sub.Unsubscribe()
	reply, err := chunked.Request(ctx, nc, &nats.Msg{Subject: head.Subject, Header: nats.Header{lattice.HeaderOperation: []string{"Echo"}}, Data: want}, chunked.Options{})
	if err != nil || !bytes.Equal(reply.Data, want) {
		t.Fatalf("chunked.Request = %v", err)
	}
}

// TestCallerGoneMidTransferLeavesTheHostServing: a caller that answers
// the first pulls and then vanishes gets the host to give up at once (no
// responders on its inbox, or one chunk timeout when its pulls were
// already out), with nothing run and nothing kept.
func TestCallerGoneMidTransferLeavesTheHostServing(t *testing.T) {
	e := newBigEnv(t)
	for _, lose := range []bool{false, true} {
		nc := e.lat.Connect(t, auth.AdminUser)
		inbox := nc.NewInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		const size, n = 256 << 10, 16
		head := nats.NewMsg(lattice.RPCSubject(lattice.DefaultLattice, "big"))
		head.Reply = inbox
		head.Header.Set(lattice.HeaderOperation, "Echo")
		head.Header.Set(chunked.HeaderBodySize, strconv.Itoa(size*n))
		head.Header.Set(chunked.HeaderChunkSize, strconv.Itoa(size))
		if err := nc.PublishMsg(head); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for answered := 0; answered < 3; {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Get(chunked.HeaderPull) != "" {
				m.Respond(make([]byte, size))
				answered++
			}
		}
		if lose {
			// A chunk lost: the caller stays but never answers; the host
			// waits one chunk timeout and tells it so.
			m, err := waitReply(ctx, sub)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Get(lattice.HeaderErrorCode) != string(lattice.CodeUnavailable) || !bytes.Contains([]byte(m.Header.Get(lattice.HeaderError)), []byte("chunk lost")) {
				t.Fatalf("after a lost chunk: headers %v", m.Header)
			}
		} else {
			nc.Close()
			cancel()
			testwait.Eventually(t, time.Minute, func() error {
				if !strings.Contains(e.logs.String(), "payload did not arrive") {
					return errors.New("the host has not logged the caller gone")
				}
				return nil
			})
		}
		// The host serves the next call; what it had pulled is gone with
		// the failed call (nothing is stored on the server).
		out, err := e.client.Call(context.Background(), "big", "Echo", []byte("next"))
		if err != nil || string(out) != "next" {
			t.Fatalf("call after a broken transfer = %q, %v", out, err)
		}
	}
}

// waitReply skips the pulls on sub until the call's reply comes.
func waitReply(ctx context.Context, sub *nats.Subscription) (*nats.Msg, error) {
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil || m.Header.Get(chunked.HeaderPull) == "" {
			return m, err
		}
	}
}

func TestPayloadLimitAbove64MiBIsRefused(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1})
	_, err := host.New(context.Background(), l.ConnectInProcess(t, auth.HostUser), host.WithEngineInstance(sharedEngine),
		host.WithDefaultLimits(lattice.ActorLimits{MaxPayload: host.MaxPayloadCeiling + 1}))
	if err == nil || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("host.New with a 64 MiB + 1 payload limit: %v, want a refusal naming 64 MiB", err)
	}
}

// echoProvider answers every call with its payload.
type echoProvider struct{}

func (echoProvider) Contract() string                              { return "test:echo" }
func (echoProvider) Start(context.Context, provider.Runtime) error { return nil }
func (echoProvider) PutLink(context.Context, provider.Link) error  { return nil }
func (echoProvider) DelLink(context.Context, provider.Link) error  { return nil }
func (echoProvider) Stop(context.Context) error                    { return nil }
func (echoProvider) Handle(_ context.Context, c provider.Call) ([]byte, error) {
	return c.Payload, nil
}

// TestProviderPathsCarryChunks: a provider process (its own connection,
// no in-process path) calls an actor with 3 MiB and gets it back, and a
// host's call to the provider with 3 MiB comes back whole, both over a
// server whose max_payload is 1 MiB.
func TestProviderPathsCarryChunks(t *testing.T) {
	e := newBigEnv(t)
	r, err := runner.Start(context.Background(), echoProvider{}, runner.Config{Conn: e.lat.Connect(t, auth.ProviderUser), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(context.Background())
	want := pattern(3 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := r.CallActor(ctx, "big", "Echo", want)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("provider → actor, 3 MiB: %d bytes, %v", len(out), err)
	}
	// What a host sends a provider for an actor's call over a link
	// (host/links.go).
	m := nats.NewMsg(lattice.ProviderSubject(lattice.DefaultLattice, "test:echo", "default"))
	m.Header.Set(lattice.HeaderOperation, "Echo")
	m.Header.Set(lattice.HeaderSource, "big")
	m.Data = want
	reply, err := chunked.Request(ctx, e.lat.Connect(t, auth.HostUser), m, chunked.Options{})
	if err != nil || lattice.ReplyError(reply) != nil || !bytes.Equal(reply.Data, want) {
		t.Fatalf("host → provider, 3 MiB: %v %v", err, reply.Header)
	}
}

// TestActorToActorAcrossHostsCarriesChunks: an actor on one host calls an
// actor on another with 16 MiB; the host call crosses the lattice in
// chunks both ways.
func TestActorToActorAcrossHostsCarriesChunks(t *testing.T) {
	e := newBigEnv(t)
	other := bigHost(t, e.lat, &logBuffer{})
	p := filepath.Join(t.TempDir(), "forward.wasm")
	if err := os.WriteFile(p, testwasm.Wat(t, filepath.Join("testdata", "forward.wat")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.StartActor(context.Background(), other.ID(), lattice.StartActorRequest{Ref: p, Count: 1}); err != nil {
		t.Fatal(err)
	}
	want := pattern(16 << 20)
	out, err := e.client.Call(context.Background(), "forward", "Forward", want)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("forward of 16 MiB = %d bytes, %v", len(out), err)
	}
}

// gate is a Router that holds every host call until it is opened.
type gate struct {
	entered chan struct{}
	open    chan struct{}
}

func (g *gate) Route(ctx context.Context, _ string, _ engine.HostCall) ([]byte, error) {
	g.entered <- struct{}{}
	select {
	case <-g.open:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestHostPullsLargeBodiesOnlyWhenAnInstanceIsFree: 64 callers of 900 KiB
// each, every one on its own connection, while the actor's eight instances
// are held busy. The calls reach the host as small heads; their bodies
// (57.6 MB in all, more than the server's default max_pending of 64 MB
// with the replies) stay with the callers until an instance takes each
// call, so the host's connection never has them in flight and the server
// has no reason to cut it as a slow consumer. Then every call is answered
// whole and the host never lost its connection.
func TestHostPullsLargeBodiesOnlyWhenAnInstanceIsFree(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	var disconnects atomic.Int32
	nc := l.ConnectInProcess(t, auth.HostUser, nats.DisconnectErrHandler(func(*nats.Conn, error) { disconnects.Add(1) }))
	const instances = 8
	g := &gate{entered: make(chan struct{}, instances), open: make(chan struct{})}
	var opened sync.Once
	openGate := func() { opened.Do(func() { close(g.open) }) }
	defer openGate() // a failed test must not leave the host's Stop waiting on held calls
	// The calls wait while the instances are held and then while the
	// instances pull and answer the 64 bodies in turn (seconds under the
	// race detector): more than the default queue timeout of 5 s.
	h := bigHostOn(t, nc, &logBuffer{}, host.WithRouter(g), host.WithQueueTimeout(2*time.Minute))
	admin, err := lattice.Connect(l.Server.ClientURL(), lattice.WithTimeout(2*time.Minute), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	p := filepath.Join(t.TempDir(), "big.wasm")
	if err := os.WriteFile(p, testwasm.Wat(t, filepath.Join("testdata", "bigecho.wat")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.StartActor(context.Background(), h.ID(), lattice.StartActorRequest{Ref: p, Count: instances}); err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	for range instances {
		held.Add(1)
		go func() {
			defer held.Done()
			if _, err := admin.Call(context.Background(), "big", "wait", nil); err != nil {
				t.Errorf("held call: %v", err)
			}
		}()
		<-g.entered
	}
	const callers, size = 64, 900 << 10
	want := pattern(size)
	clients := make([]*lattice.Client, callers)
	for i := range clients {
		c, err := lattice.Connect(l.Server.ClientURL(), lattice.WithTimeout(2*time.Minute), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	before := nc.Stats()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := c.Call(context.Background(), "big", "Echo", want)
			if err != nil || !bytes.Equal(out, want) {
				t.Errorf("900 KiB call = %d bytes, %v", len(out), err)
			}
		}()
	}
	testwait.Eventually(t, time.Minute, func() error {
		if got := nc.Stats().InMsgs - before.InMsgs; got < callers {
			return fmt.Errorf("%d of %d calls reached the host", got, callers)
		}
		return nil
	})
	if in := nc.Stats().InBytes - before.InBytes; in > 1<<20 {
		t.Fatalf("the host received %d bytes for %d calls no instance could take yet: their bodies came before they were pulled", in, callers)
	}
	openGate()
	wg.Wait()
	held.Wait()
	if n := disconnects.Load(); n != 0 {
		t.Fatalf("the host's connection dropped %d times", n)
	}
}
