// Package sdktest is a fake wisp host for the unit tests of actors written
// with the SDK: New installs it, and from then on the actor's host calls
// reach it instead of failing with sdk.ErrNotInHost. It keeps key-value
// data in memory, records what the actor publishes and logs, answers
// requests with the fakes a test registers, and delivers HTTP requests,
// messages and CoAP requests to the actor's handlers as the providers do.
//
//	func TestCountsHits(t *testing.T) {
//		h := sdktest.New(t)
//		h.HTTP(&httpserver.Request{Method: "GET", Path: "/a"})
//		resp, err := h.HTTP(&httpserver.Request{Method: "GET", Path: "/a"})
//		if err != nil || string(resp.Body) != `{"counter":2}`+"\n" {
//			t.Fatalf("second hit: %v %q", err, resp.Body)
//		}
//	}
//
// The actor's handlers are the ones its init functions registered with the
// SDK, so a test of an actor lives in the actor's main package.
//
// # Notes
//
//   - The fake host is one per process, as the real host's ABI is: tests
//     that use sdktest must not run in parallel (New fails the test if
//     another Host is still installed).
//   - Payloads are encoded and decoded with the providers' own types
//     (provider/httpserver, provider/messaging, provider/coap) and the
//     key-value provider's dispatcher, so an actor that passes here speaks
//     what the providers speak.
//   - An error a fake returns reaches the actor as that value; through a
//     real host only its text crosses. Test errors.Is only on errors the
//     actor makes itself.
//   - Each link name has a key-value store of its own, as if each link
//     named another bucket.
package sdktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/provider/keyvalue"
	"github.com/wisp-dev/wisp/sdk"
	"github.com/wisp-dev/wisp/sdk/internal/fakehost"
)

// The contracts the host answers itself, as the SDK calls them.
const (
	contractLogging   = "wasmcloud:builtin:logging"
	contractNumberGen = "wasmcloud:builtin:numbergen"
)

// ErrNoFake is returned for a host call that no fake answers: a contract
// the host does not fake (register one with Handle), or a messaging
// request to a subject with no Reply.
var ErrNoFake = errors.New("sdktest: no fake answers this call")

// Call is one host call the actor made.
type Call struct {
	Binding   string // the link name; "" for a call to another actor
	Namespace string // the contract id, or the actor called
	Operation string
	Payload   []byte
	Err       error // what the call returned to the actor
}

// Message is a message the actor published, or a request it sent.
type Message struct {
	Link    string
	Subject string
	ReplyTo string
	Body    []byte
}

// LogEntry is one line the actor wrote with sdk.Log.
type LogEntry struct {
	Level string
	Text  string
}

// HandlerFunc fakes a host call: it gets the call and returns the result
// payload the provider would.
type HandlerFunc func(ctx context.Context, c Call) ([]byte, error)

// Host is the fake host. Its methods are safe for concurrent use.
type Host struct {
	t testing.TB

	mu        sync.Mutex
	kv        map[string]*keyvalue.Memory // link name → store
	calls     []Call
	published []Message
	logs      []LogEntry
	printed   []string
	fakes     map[string]HandlerFunc // namespace + " " + operation → fake
	replies   map[string]func(Message) ([]byte, error)
	guids     int
}

// New installs a fake host for the rest of the test and removes it when
// the test ends.
func New(t testing.TB) *Host {
	t.Helper()
	h := &Host{
		t:       t,
		kv:      map[string]*keyvalue.Memory{},
		fakes:   map[string]HandlerFunc{},
		replies: map[string]func(Message) ([]byte, error){},
	}
	if prev := fakehost.Install(h); prev != nil {
		fakehost.Install(prev)
		t.Fatal("sdktest: another Host is installed; tests using sdktest cannot run in parallel")
	}
	t.Cleanup(func() { fakehost.Install(nil) })
	return h
}

// KeyValue returns the key-value store of the link named link ("default"
// for the SDK's package-level functions), to seed it before a call or
// inspect it after.
func (h *Host) KeyValue(link string) *keyvalue.Memory {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.store(link)
}

// store returns link's store; h.mu is held.
func (h *Host) store(link string) *keyvalue.Memory {
	s, ok := h.kv[link]
	if !ok {
		s = keyvalue.NewMemory()
		h.kv[link] = s
	}
	return s
}

// Handle makes fn answer the actor's calls of operation in namespace (a
// contract id, or the name of an actor the actor calls with
// sdk.CallActor). It takes precedence over the built-in fakes, so it also
// injects failures:
//
//	h.Handle(keyvalue.Contract, "KeyValue.Increment", func(context.Context, sdktest.Call) ([]byte, error) {
//		return nil, errors.New("bucket unavailable")
//	})
func (h *Host) Handle(namespace, operation string, fn HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fakes[namespace+" "+operation] = fn
}

// Reply makes fn answer the actor's messaging requests to subject; fn
// returns the reply's body.
func (h *Host) Reply(subject string, fn func(req Message) ([]byte, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.replies[subject] = fn
}

// Calls returns every host call the actor made, in order.
func (h *Host) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// Published returns the messages the actor published, in order.
func (h *Host) Published() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.published)
}

// Logs returns what the actor wrote with sdk.Log, in order.
func (h *Host) Logs() []LogEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.logs)
}

// Printed returns what the actor wrote with sdk.Print, in order.
func (h *Host) Printed() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.printed)
}

// Call runs the actor's handler of operation with payload, as the host
// does for a call from the lattice.
func (h *Host) Call(operation string, payload []byte) ([]byte, error) {
	return sdk.Dispatch(h.t.Context(), operation, payload)
}

// ConsoleLog records a line of sdk.Print.
func (h *Host) ConsoleLog(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.printed = append(h.printed, msg)
}

// HostCall serves one of the actor's host calls and records it.
func (h *Host) HostCall(ctx context.Context, binding, namespace, operation string, payload []byte) ([]byte, error) {
	c := Call{Binding: binding, Namespace: namespace, Operation: operation, Payload: slices.Clone(payload)}
	out, err := h.serve(ctx, c)
	c.Err = err
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
	return out, err
}

func (h *Host) serve(ctx context.Context, c Call) ([]byte, error) {
	h.mu.Lock()
	fake := h.fakes[c.Namespace+" "+c.Operation]
	h.mu.Unlock()
	if fake != nil {
		return fake(ctx, c)
	}
	switch c.Namespace {
	case keyvalue.Contract:
		h.mu.Lock()
		s := h.store(c.Binding)
		h.mu.Unlock()
		out, err := keyvalue.Dispatch(ctx, s, c.Operation, c.Payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Operation, err)
		}
		return out, nil
	case messagingContract:
		return h.messaging(c)
	case contractLogging:
		return h.log(c)
	case contractNumberGen:
		return h.numberGen(c)
	}
	return nil, fmt.Errorf("%s.%s over link %q: %w", c.Namespace, c.Operation, c.Binding, ErrNoFake)
}

func (h *Host) log(c Call) ([]byte, error) {
	if c.Operation != "Logging.WriteLog" {
		return nil, fmt.Errorf("%s: unknown operation %q", contractLogging, c.Operation)
	}
	var e struct {
		Level string `msgpack:"level"`
		Text  string `msgpack:"text"`
	}
	if err := msgpack.Unmarshal(c.Payload, &e); err != nil {
		return nil, fmt.Errorf("Logging.WriteLog: bad payload: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, LogEntry{Level: e.Level, Text: e.Text})
	return nil, nil
}

// numberGen answers with predictable numbers: GUIDs count up from
// 00000000-0000-4000-8000-000000000001 and RandomInRange returns its
// minimum. Handle replaces them.
func (h *Host) numberGen(c Call) ([]byte, error) {
	switch c.Operation {
	case "NumberGen.GenerateGuid":
		h.mu.Lock()
		h.guids++
		n := h.guids
		h.mu.Unlock()
		return msgpack.Marshal(fmt.Sprintf("00000000-0000-4000-8000-%012x", n))
	case "NumberGen.RandomInRange":
		var r struct {
			Min uint32 `msgpack:"min"`
			Max uint32 `msgpack:"max"`
		}
		if err := msgpack.Unmarshal(c.Payload, &r); err != nil {
			return nil, fmt.Errorf("NumberGen.RandomInRange: bad payload: %w", err)
		}
		return msgpack.Marshal(r.Min)
	}
	return nil, fmt.Errorf("%s.%s: %w", contractNumberGen, c.Operation, ErrNoFake)
}
