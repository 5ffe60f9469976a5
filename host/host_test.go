package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// logBuffer collects a host's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// sharedEngine compiles each module once for the whole test binary: the
// Go actors take seconds to compile under the race detector.
var sharedEngine engine.Engine

func TestMain(m *testing.M) {
	var err error
	if sharedEngine, err = engine.New(engine.Config{}); err != nil {
		panic(err)
	}
	code := m.Run()
	sharedEngine.Close(context.Background())
	os.Exit(code)
}

type env struct {
	lat    *authtest.Lattice
	srv    *natsserver.Server
	host   *host.Host
	client *lattice.Client
	logs   *logBuffer
}

// newEnv starts an embedded NATS server on a free port, a host on it, and a
// client over TCP, as an application would connect.
func newEnv(t *testing.T, opts ...host.Option) *env {
	t.Helper()
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	srv := l.Server
	nc := l.ConnectInProcess(t, auth.HostUser)
	logs := &logBuffer{}
	// Most tests run hand-written and unsigned guests; policy_test.go
	// covers the default policy.
	opts = append([]host.Option{host.WithLogger(slog.New(slog.NewTextHandler(logs, nil))), host.WithEngineInstance(sharedEngine),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir())}, opts...)
	h, err := host.New(ctx, nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	c, err := lattice.Connect(srv.ClientURL(), lattice.WithTimeout(2*time.Minute), lattice.WithCredentials(l.Creds(lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &env{lat: l, srv: srv, host: h, client: c, logs: logs}
}

func (e *env) start(t *testing.T, wasm []byte, name string, count int, lim lattice.ActorLimits) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.StartActor(context.Background(), e.host.ID(), lattice.StartActorRequest{Ref: p, Count: count, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEchoActorOverLattice(t *testing.T) {
	e := newEnv(t)
	echo := testwasm.GoActor(t, "actors/echo")
	e.start(t, echo, "echo", 4, lattice.ActorLimits{})
	ctx := context.Background()

	out, err := e.client.Call(ctx, "echo", "Echo.Reply", []byte("hello"))
	if err != nil || string(out) != "hello" {
		t.Fatalf("Call = %q, %v", out, err)
	}

	// Plain nats.go, no wisp code: subject, header, payload.
	nc := e.lat.Connect(t, auth.AdminUser)
	msg := nats.NewMsg("wisp.rpc.default.echo")
	msg.Header.Set("Wisp-Operation", "Echo.Reply")
	msg.Data = []byte("from plain nats")
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil || string(reply.Data) != "from plain nats" || reply.Header.Get("Wisp-Error") != "" {
		t.Fatalf("plain request = %v, %v", reply, err)
	}

	inv, err := e.client.Inventory(ctx, e.host.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Actors) != 1 || inv.Actors[0].Name != "echo" || inv.Actors[0].Instances != 4 ||
		inv.Actors[0].Hash != fmt.Sprintf("%x", sha256.Sum256(echo)) {
		t.Fatalf("inventory actors = %+v", inv.Actors)
	}
	if inv.Host.ID != e.host.ID() || inv.Host.Labels["wisp.engine"] == "" || inv.Host.Labels["hostcore.os"] == "" {
		t.Fatalf("inventory host = %+v", inv.Host)
	}
}

// TestEchoUnder64ConcurrentCallers: every caller gets its own answer back,
// whole, while replies of all sizes (none to 200 KiB) share the host's
// reply buffers: a short answer after a long one carries nothing of it.
func TestEchoUnder64ConcurrentCallers(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "actors/echo"), "echo", 4, lattice.ActorLimits{})
	var wg sync.WaitGroup
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for n := 0; n < 20; n++ {
				size := (c*37 + n*101) % 3000
				if (c+n)%7 == 0 {
					size = 200 << 10
				}
				want := fmt.Sprintf("caller %d call %d %s", c, n, strings.Repeat(strconv.Itoa(n%10), size))
				if (c+n)%11 == 0 {
					want = ""
				}
				out, err := e.client.Call(context.Background(), "echo", "Echo.Reply", []byte(want))
				if err != nil || string(out) != want {
					t.Errorf("call = %d bytes, %v", len(out), err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
}

func TestBadCallsGetClearErrorsAndHostKeepsServing(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "internal/testactors/probe"), "probe", 2,
		lattice.ActorLimits{CallTimeoutMS: 2000, MaxPayload: 4096, MaxMemoryPages: 128})
	ctx := context.Background()
	cases := []struct {
		op, payload, want string
	}{
		{"Probe.Nope", "", `unknown operation "Probe.Nope"`},
		{"Probe.Fail", "", "probe failed on purpose"},
		{"Probe.Panic", "", "panic in Probe.Panic: probe panics"},
		{"Probe.Exit", "", "guest exited with code 3"},
		{"Probe.Spin", "", "call timed out"},
		{"Probe.Sleep", "3600000", "call timed out"},
		{"Probe.Hoard", "", "guest trapped"},
		{"Probe.Fail", strings.Repeat("x", 5000), "payload too large: 5000 bytes, the actor's limit is 4096"},
		{"Probe.Link", "key", "no link for KeyValue.Get on wasmcloud:keyvalue"},
	}
	for _, c := range cases {
		_, err := e.client.Call(ctx, "probe", c.op, []byte(c.payload))
		var re *lattice.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Message, c.want) {
			t.Errorf("%s = %v, want an actor error containing %q", c.op, err, c.want)
		}
		// After each failure the actor still answers.
		if out, err := e.client.Call(ctx, "probe", "Probe.Dice", nil); err != nil || len(out) != 1 || out[0] < '1' || out[0] > '6' {
			t.Fatalf("after %s: Probe.Dice = %q, %v", c.op, out, err)
		}
	}
	// A missing operation header.
	reply, err := e.client.Conn().Request("wisp.rpc.default.probe", nil, 5*time.Second)
	if err != nil || !strings.Contains(reply.Header.Get(lattice.HeaderError), "missing Wisp-Operation header") {
		t.Fatalf("no header: %v, %v", reply, err)
	}
}

func TestBuiltinsAndActorToActorCalls(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "internal/testactors/probe"), "probe", 1, lattice.ActorLimits{})
	e.start(t, testwasm.GoActor(t, "actors/echo"), "echo", 1, lattice.ActorLimits{})
	ctx := context.Background()

	out, err := e.client.Call(ctx, "probe", "Probe.Guid", nil)
	if err != nil || len(out) != 36 || out[14] != '4' {
		t.Fatalf("Probe.Guid = %q, %v", out, err)
	}
	if _, err := e.client.Call(ctx, "probe", "Probe.Log", []byte("written through the logging builtin")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "written through the logging builtin") {
		t.Fatalf("log line missing from host log:\n%s", e.logs)
	}
	if _, err := e.client.Call(ctx, "probe", "Probe.Print", []byte("printed to stdout")); err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"source=stdout", "source=console"} {
		if !hasLine(e.logs.String(), `msg="printed to stdout"`, source) {
			t.Fatalf("%s line missing from host log:\n%s", source, e.logs)
		}
	}
	out, err = e.client.Call(ctx, "probe", "Probe.Call", []byte("echo"))
	if err != nil || string(out) != "via echo" {
		t.Fatalf("actor-to-actor = %q, %v", out, err)
	}
	_, err = e.client.Call(ctx, "probe", "Probe.Call", []byte("ghost"))
	if err == nil || !strings.Contains(err.Error(), "actor not running") {
		t.Fatalf("call to a missing actor = %v", err)
	}
}

// hasLine reports whether one line of log holds every part.
func hasLine(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// testingRouter answers the conformance guests' host call
// ("wapc", "testing", "echo") the way wapc-go's test host does.
type testingRouter struct {
	mu    sync.Mutex
	calls []string
}

func (r *testingRouter) Route(_ context.Context, actor string, c engine.HostCall) ([]byte, error) {
	r.mu.Lock()
	r.calls = append(r.calls, actor+" "+c.Binding+" "+c.Namespace+" "+c.Operation)
	r.mu.Unlock()
	if c.Namespace == "testing" && c.Operation == "echo" {
		return append([]byte(nil), c.Payload...), nil
	}
	return nil, host.ErrNoLink
}

func TestWatGuestAndConformanceGuestsRunOnHost(t *testing.T) {
	r := &testingRouter{}
	e := newEnv(t, host.WithRouter(r))
	e.start(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat", 1, lattice.ActorLimits{})
	ctx := context.Background()
	if out, err := e.client.Call(ctx, "wat", "echo", []byte("hand-written")); err != nil || string(out) != "hand-written" {
		t.Fatalf("wat echo = %q, %v", out, err)
	}
	for _, name := range []string{"hello_go", "hello_rust", "hello_as"} {
		alias := strings.ReplaceAll(name, "_", "-")
		e.start(t, testwasm.Conformance(t, "wapc/"+name+".wasm"), alias, 1, lattice.ActorLimits{})
		if out, err := e.client.Call(ctx, alias, "echo", []byte("conformance "+name)); err != nil || string(out) != "conformance "+name {
			t.Fatalf("%s echo = %q, %v", name, out, err)
		}
		want := "Planned Failure"
		if name == "hello_as" {
			want = "unreachable"
		}
		if _, err := e.client.Call(ctx, alias, "nope", nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s nope = %v, want %q", name, err, want)
		}
		if out, err := e.client.Call(ctx, alias, "echo", []byte("again")); err != nil || string(out) != "again" {
			t.Fatalf("%s stopped serving: %q, %v", name, out, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) != 6 || r.calls[0] != "hello-go wapc testing echo" {
		t.Fatalf("router saw %q", r.calls)
	}
}

func TestStartRefusesBadModules(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	cases := []struct {
		req  lattice.StartActorRequest
		want string
	}{
		{lattice.StartActorRequest{Ref: write("text.wasm", []byte("not wasm at all"))}, "not a valid WebAssembly module"},
		{lattice.StartActorRequest{Ref: write("lib.wasm", testwasm.Wat(t, filepath.Join("engine", "testdata", "no_guest_call.wat")))}, "no __guest_call export"},
		{lattice.StartActorRequest{Ref: filepath.Join(dir, "missing.wasm")}, "no such file"},
		// 2^28 tables declared in 6 bytes: must not reach wazero's decoder.
		{lattice.StartActorRequest{Ref: write("bomb.wasm", []byte("\x00asm\x01\x00\x00\x00\x04\x06\x80\x80\x80\x80\x01\x70"))}, "declares 268435456 entries"},
		{lattice.StartActorRequest{Ref: write("bad name.wasm", testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")))}, "choose one with --name"},
	}
	for _, c := range cases {
		_, err := e.client.StartActor(context.Background(), e.host.ID(), c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("start %s = %v, want %q", filepath.Base(c.req.Ref), err, c.want)
		}
	}
	if inv := e.host.Inventory(); len(inv.Actors) != 0 {
		t.Fatalf("refused modules left actors behind: %+v", inv.Actors)
	}
}

func TestStopScaleAndMissingActor(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat", 1, lattice.ActorLimits{})
	ctx := context.Background()
	d, err := e.client.ScaleActor(ctx, e.host.ID(), "wat", 3)
	if err != nil || d.Instances != 3 {
		t.Fatalf("scale = %+v, %v", d, err)
	}
	if _, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: d.Ref}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second start = %v", err)
	}
	if err := e.client.StopActor(ctx, e.host.ID(), "wat"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.client.Call(ctx, "wat", "echo", nil)
	if !errors.Is(err, lattice.ErrActorNotRunning) {
		t.Fatalf("call after stop = %v, want ErrActorNotRunning", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("call to a stopped actor hung for %s", time.Since(start))
	}
	if err := e.client.StopActor(ctx, e.host.ID(), "wat"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("second stop = %v", err)
	}
	if _, err := e.client.Inventory(ctx, "NOSUCHHOST"); !errors.Is(err, lattice.ErrHostNotFound) {
		t.Fatalf("inventory of a missing host = %v", err)
	}
}

func TestHostDrainsInFlightCallsOnStop(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "internal/testactors/probe"), "probe", 4, lattice.ActorLimits{})
	ctx := context.Background()
	errs := make(chan error, 4)
	for n := 0; n < 4; n++ {
		go func() {
			out, err := e.client.Call(ctx, "probe", "Probe.Sleep", []byte("300"))
			if err == nil && string(out) != "slept" {
				err = fmt.Errorf("wrong answer %q", out)
			}
			errs <- err
		}()
	}
	a, _ := e.host.Actor("probe")
	testwait.Eventually(t, 10*time.Second, testwait.Holds("four calls busy", func() bool { return a.Describe().Busy >= 4 }))
	if err := e.host.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 4; n++ {
		if err := <-errs; err != nil {
			t.Fatalf("in-flight call lost at stop: %v", err)
		}
	}
	if _, err := e.client.Call(ctx, "probe", "Probe.Dice", nil); !errors.Is(err, lattice.ErrActorNotRunning) {
		t.Fatalf("call after host stop = %v", err)
	}
	select {
	case <-e.host.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestHostsPingAndLabels(t *testing.T) {
	t.Setenv("WISP_LABEL_ZONE", "eu")
	env := host.EnvLabels(os.Environ())
	e := newEnv(t, host.WithName("pi-1"), host.WithLabels(env), host.WithLabels(map[string]string{"tier": "pi", "wisp.os": "spoofed"}),
		host.WithEngine(engine.Config{Mode: "interpreter"}))
	hosts, err := e.client.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 {
		t.Fatalf("hosts = %+v", hosts)
	}
	h := hosts[0]
	if h.Name != "pi-1" || h.Labels["zone"] != "eu" || h.Labels["tier"] != "pi" || h.Labels["wisp.os"] == "spoofed" || h.Labels["wisp.engine"] != "wazero/interpreter" {
		t.Fatalf("host summary = %+v", h)
	}
	if _, err := host.ParseLabels([]string{"novalue"}); err == nil {
		t.Fatal("ParseLabels accepted a pair without '='")
	}
}

func TestClientErrors(t *testing.T) {
	start := time.Now()
	_, err := lattice.Connect("nats://127.0.0.1:1")
	if !errors.Is(err, lattice.ErrNoServer) {
		t.Fatalf("Connect to nothing = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Connect to nothing took %s", time.Since(start))
	}
	if _, err := lattice.Connect("nats://127.0.0.1:1", lattice.WithLattice("bad.id")); err == nil {
		t.Fatal("accepted a lattice id with a dot")
	}
}

// TestActorScalesToZero: an actor started with an idle timeout drops to zero
// instances without traffic, shows so in its description, and the next call
// over the lattice wakes it.
func TestActorScalesToZero(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "actors/echo"), "echo", 2, lattice.ActorLimits{IdleTimeoutMS: 50})
	ctx := context.Background()
	describe := func() lattice.ActorDescription {
		inv := e.host.Inventory()
		if len(inv.Actors) != 1 {
			t.Fatalf("inventory: %+v", inv.Actors)
		}
		return inv.Actors[0]
	}
	testwait.Eventually(t, 10*time.Second, func() error {
		if d := describe(); !d.Asleep || d.Instances != 0 {
			return fmt.Errorf("actor has not scaled to zero: %+v", d)
		}
		return nil
	})
	if out, err := e.client.Call(ctx, "echo", "Echo.Reply", []byte("wake")); err != nil || string(out) != "wake" {
		t.Fatalf("call to a sleeping actor = %q, %v", out, err)
	}
	if d := describe(); d.Asleep || d.Limits.IdleTimeoutMS != 50 {
		t.Fatalf("after the wake: %+v", d)
	}
}
