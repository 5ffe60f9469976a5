package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// The parity suite: one table of behaviours, every engine compiled into the
// test binary (wazero in both modes; wasmtime with -tags wasmtime) must show
// each of them alike. A case is a module, the limits it runs under and
// either the error Compile must give or the calls to make and their outcome.

type parityCase struct {
	name   string
	module func(t testing.TB) []byte
	limits engine.Limits

	// compileErr and msg: Compile fails with compileErr (errors.Is; nil
	// for any error) and an error text containing msg.
	compileErr error
	msg        string

	// startMsg: Compile succeeds and Instantiate fails with ErrTimeout
	// and an error text containing startMsg.
	startMsg string

	calls []parityCall
}

type parityCall struct {
	op      string
	payload []byte

	want     string // the response, when the call succeeds
	guestErr string // a *GuestError with this message
	err      error  // an error that errors.Is this
	msg      string // text the error must contain

	// refuse makes the host answer every host call with an error.
	refuse bool
	// The host call the guest must have made during the call:
	// "namespace/operation", and bytes its payload contains.
	hostCall    string
	hostPayload string
}

func wat(name string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return testwasm.Wat(t, "testdata/"+name) }
}

func bytesOf(b []byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }

func parityCases() []parityCase {
	guest := wat("guest.wat")
	return []parityCase{
		{name: "echo, host calls, guest errors, console", module: guest, calls: []parityCall{
			{op: "echo", payload: []byte("hello"), want: "hello"},
			{op: "hostcall", payload: []byte("via host"), want: "via host", hostCall: "testing/echo", hostPayload: "via host"},
			{op: "hostcall", payload: []byte("x"), refuse: true, guestErr: "refused: testing.echo", hostCall: "testing/echo", hostPayload: "x"},
			{op: "fail", guestErr: "planned failure"},
			{op: "zzz-unknown", guestErr: "zzz-unknown"},
			{op: "console", payload: []byte("a log line"), want: ""},
			{op: "echo", payload: []byte("still here"), want: "still here"},
			{op: "echo", payload: nil, want: ""},
		}},
		{name: "trap", module: guest, calls: []parityCall{
			{op: "trap", err: engine.ErrTrap, msg: "unreachable"},
		}},
		{name: "out of bounds load", module: guest, calls: []parityCall{
			{op: "oob", err: engine.ErrTrap, msg: "out of bounds memory access"},
		}},
		{name: "stack overflow", module: guest, calls: []parityCall{
			{op: "recurse", err: engine.ErrTrap, msg: "stack overflow"},
		}},
		{name: "loop stopped by the timeout", module: guest, limits: engine.Limits{CallTimeout: 100 * time.Millisecond}, calls: []parityCall{
			{op: "loop", err: engine.ErrTimeout, msg: "after 100ms"},
		}},
		{name: "memory growth past the limit", module: guest, limits: engine.Limits{MaxMemoryPages: 100}, calls: []parityCall{
			{op: "grow", err: engine.ErrTrap, msg: "unreachable"},
		}},
		{name: "memory growth within the limit", module: guest, limits: engine.Limits{MaxMemoryPages: 2000}, calls: []parityCall{
			{op: "grow", want: ""},
			{op: "echo", payload: []byte("grown"), want: "grown"},
		}},
		{name: "oversized payload", module: guest, calls: []parityCall{
			{op: "echo", payload: make([]byte, 200_000), err: engine.ErrTrap, msg: "out of range"},
		}},
		{name: "go actor", module: func(t testing.TB) []byte { return testwasm.GoActor(t, "actors/echo") }, calls: []parityCall{
			{op: "Echo.Reply", payload: bytes.Repeat([]byte("wisp"), 16<<10), want: strings.Repeat("wisp", 16<<10)},
			{op: "Echo.Nope", guestErr: `unknown operation "Echo.Nope"`},
		}},
		{name: "not wasm", module: bytesOf([]byte("hello, I am not wasm")), compileErr: engine.ErrNotWasm},
		{name: "empty", module: bytesOf(nil), compileErr: engine.ErrNotWasm},
		{name: "component", module: bytesOf([]byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}), compileErr: engine.ErrNotWasm, msg: "component"},
		{name: "truncated", module: func(t testing.TB) []byte { return testwasm.Wat(t, "testdata/guest.wat")[:40] }, msg: "compile"},
		{name: "missing __guest_call", module: wat("no_guest_call.wat"), compileErr: engine.ErrNotWaPC, msg: "__guest_call"},
		{name: "unknown import", module: wat("foreign_import.wat"), compileErr: engine.ErrNotWaPC, msg: "env.abort"},
		{name: "start section runs once, before the first call", module: wat("start_runs.wat"), calls: []parityCall{
			{op: "x", want: "started\x00\x01"},
			{op: "x", want: "started\x00\x01"},
		}},
		{name: "looping start section stopped by the timeout", module: wat("start_loop.wat"),
			limits: engine.Limits{CallTimeout: 100 * time.Millisecond}, startMsg: "module start function ran past 100ms"},
		{name: "looping _initialize stopped by the timeout", module: wat("init_loop.wat"),
			limits: engine.Limits{CallTimeout: 100 * time.Millisecond}, startMsg: "_initialize: module start function ran past 100ms"},
		{name: "start memory over the limit", module: func(t testing.TB) []byte { return testwasm.GoActor(t, "actors/echo") },
			limits: engine.Limits{MaxMemoryPages: 4}, msg: "over limit of 4 pages"},
	}
}

// conformanceCases is what every module in testdata/conformance must do.
// TestParity fails for a module without an entry, so a new module cannot
// be added without saying what it must do.
func conformanceCases() map[string]parityCase {
	wapc := []parityCall{
		{op: "echo", payload: []byte("conformance"), want: "conformance", hostCall: "testing/echo", hostPayload: "conformance"},
		{op: "nope", guestErr: "Planned Failure"},
		{op: "echo", payload: []byte("again"), want: "again"},
	}
	sub, err := msgpack.Marshal(map[string]any{"subject": "in.subject", "replyTo": "reply.here", "body": []byte("ping")})
	if err != nil {
		panic(err)
	}
	return map[string]parityCase{
		"wapc/hello_go.wasm":   {calls: wapc},
		"wapc/hello_rust.wasm": {calls: wapc},
		// The AssemblyScript guest traps on an unknown operation instead of
		// returning an error; the instance is discarded, as the pool does.
		"wapc/hello_as.wasm": {calls: []parityCall{
			{op: "echo", payload: []byte("conformance"), want: "conformance", hostCall: "testing/echo", hostPayload: "conformance"},
			{op: "nope", err: engine.ErrTrap, msg: "unreachable"},
		}},
		"wascap/loop.wasm":        {compileErr: engine.ErrNotWaPC, msg: "__guest_call"},
		"wascap/signed_loop.wasm": {compileErr: engine.ErrNotWaPC, msg: "__guest_call"},
		"wascap/echo_messaging_v0.9.0.wasm": {calls: []parityCall{
			{op: "MessageSubscriber.HandleMessage", payload: sub, want: "",
				hostCall: "wasmcloud:messaging/Messaging.Publish", hostPayload: "reply: ping"},
		}},
	}
}

// parityHost answers the host calls the suite's guests make, and records
// them: ("testing", "echo") echoes, a message publish succeeds, the rest is
// refused with an error the guest sees.
type parityHost struct {
	calls  []engine.HostCall
	refuse bool
}

func (h *parityHost) call(_ context.Context, c engine.HostCall) ([]byte, error) {
	c.Payload = append([]byte(nil), c.Payload...)
	h.calls = append(h.calls, c)
	if h.refuse {
		return nil, errors.New("refused: " + c.Namespace + "." + c.Operation)
	}
	switch c.Namespace + "/" + c.Operation {
	case "testing/echo":
		return c.Payload, nil
	case "wasmcloud:messaging/Messaging.Publish":
		return nil, nil
	}
	return nil, errors.New("no such host operation: " + c.Namespace + "." + c.Operation)
}

func TestParity(t *testing.T) {
	cases := parityCases()
	conf := conformanceCases()
	root := filepath.Join(testwasm.Root(), "testdata", "conformance")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".wasm" {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		c, ok := conf[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("testdata/conformance/%s has no parity case: add what it must do to conformanceCases", rel)
			return nil
		}
		delete(conf, filepath.ToSlash(rel))
		c.name = "conformance/" + filepath.ToSlash(rel)
		c.module = func(t testing.TB) []byte { return testwasm.Conformance(t, filepath.ToSlash(rel)) }
		cases = append(cases, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range conf {
		t.Errorf("conformanceCases names %s, which is not in testdata/conformance", name)
	}

	for _, cfg := range modes() {
		t.Run(cfgName(cfg), func(t *testing.T) {
			e := newEngine(t, cfg)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { runParityCase(t, e, c) })
			}
		})
	}
}

// runParityCase runs c's calls on two instances, the second on wazero from
// the snapshot of the first.
func runParityCase(t *testing.T, e engine.Engine, c parityCase) {
	ctx := context.Background()
	m, err := e.Compile(ctx, c.module(t), c.limits)
	if c.startMsg != "" {
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
		i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: c.name})
		if err == nil {
			i.Close(ctx)
			t.Fatalf("Instantiate succeeded, want %q", c.startMsg)
		}
		if !errors.Is(err, engine.ErrTimeout) || !strings.Contains(err.Error(), c.startMsg) {
			t.Fatalf("Instantiate = %v, want ErrTimeout saying %q", err, c.startMsg)
		}
		return
	}
	if c.calls == nil {
		if err == nil {
			m.Close(ctx)
			t.Fatalf("Compile succeeded, want %v (%q)", c.compileErr, c.msg)
		}
		if (c.compileErr != nil && !errors.Is(err, c.compileErr)) || !strings.Contains(err.Error(), c.msg) {
			t.Fatalf("Compile = %v, want %v saying %q", err, c.compileErr, c.msg)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	// The first instance initialises; on wazero, the second starts from the
	// snapshot taken of the first (when the guest allows one) and must
	// behave exactly alike.
	t.Run("first", func(t *testing.T) { runParityCalls(t, m, c) })
	t.Run("second", func(t *testing.T) { runParityCalls(t, m, c) })
	// Every guest of the table can be snapshotted: none initialises with
	// effects, tables or segments. A guest that falls back to initialising
	// each instance would pass the calls above without proving anything
	// about snapshots.
	if strings.HasPrefix(e.Name(), "wazero") && !engine.Snapshotted(m, c.name) {
		t.Fatal("wazero did not snapshot the guest")
	}
}

func runParityCalls(t *testing.T, m engine.Module, c parityCase) {
	ctx := context.Background()
	host := &parityHost{}
	var logged []string
	i, err := m.Instantiate(ctx, engine.InstanceConfig{Name: c.name, HostCall: host.call,
		ConsoleLog: func(s string) { logged = append(logged, s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close(ctx)
	for n, call := range c.calls {
		host.calls, host.refuse = nil, call.refuse
		logged = nil
		out, err := i.Invoke(ctx, call.op, call.payload)
		what := func() string { return fmt.Sprintf("call %d, %s", n, call.op) }
		switch {
		case call.guestErr != "":
			var ge *engine.GuestError
			if !errors.As(err, &ge) || ge.Message != call.guestErr {
				t.Fatalf("%s = %v, want guest error %q", what(), err, call.guestErr)
			}
		case call.err != nil:
			if !errors.Is(err, call.err) || !strings.Contains(err.Error(), call.msg) {
				t.Fatalf("%s = %v, want %v saying %q", what(), err, call.err, call.msg)
			}
		default:
			if err != nil || string(out) != call.want {
				t.Fatalf("%s = %.80q, %v; want %.80q", what(), out, err, call.want)
			}
		}
		if call.op == "console" && (len(logged) != 1 || logged[0] != string(call.payload)) {
			t.Fatalf("console logged %q, want %q", logged, call.payload)
		}
		if call.hostCall != "" {
			var seen bool
			for _, hc := range host.calls {
				if hc.Namespace+"/"+hc.Operation == call.hostCall && bytes.Contains(hc.Payload, []byte(call.hostPayload)) {
					seen = true
				}
			}
			if !seen {
				t.Fatalf("%s: host calls %+v, want %s with %q", what(), host.calls, call.hostCall, call.hostPayload)
			}
		}
		if err != nil && !isGuestError(err) { // a trap or timeout: the instance is done
			return
		}
	}
}

func isGuestError(err error) bool {
	var ge *engine.GuestError
	return errors.As(err, &ge)
}
