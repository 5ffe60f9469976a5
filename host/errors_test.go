package host_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
)

// TestCallFailuresCarryTheirCode: each kind of failure of a call reaches a
// lattice client as its sentinel and a plain NATS client as
// Wisp-Error-Code, next to the message.
func TestCallFailuresCarryTheirCode(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "internal/testactors/probe"), "probe", 2,
		lattice.ActorLimits{CallTimeoutMS: 3000, MaxPayload: 4096, MaxMemoryPages: 128}) // time for Probe.Hoard to run out of memory on a loaded machine
	ctx := context.Background()
	cases := []struct {
		op, payload string
		want        lattice.Code
	}{
		{"Probe.Fail", "", lattice.CodeHandler},
		{"Probe.Panic", "", lattice.CodeHandler},
		{"Probe.Exit", "", lattice.CodeTrap},
		{"Probe.Hoard", "", lattice.CodeTrap},
		{"Probe.Spin", "", lattice.CodeTimeout},
		{"Probe.Fail", strings.Repeat("x", 5000), lattice.CodePayloadTooLarge},
		// The calling guest sees "actor not running" as a message and
		// fails on its own account.
		{"Probe.Call", "ghost", lattice.CodeHandler},
	}
	for _, c := range cases {
		_, err := e.client.Call(ctx, "probe", c.op, []byte(c.payload))
		if !errors.Is(err, c.want.Err()) || lattice.CodeOf(err) != c.want {
			t.Errorf("%s: err = %v (code %q), want code %s", c.op, err, lattice.CodeOf(err), c.want)
		}
	}
	// A plain NATS client reads the code from the header.
	for op, want := range map[string]string{"": "bad_request", "Probe.Exit": "trap", "Probe.Fail": "handler"} {
		msg := nats.NewMsg(lattice.RPCSubject("default", "probe"))
		if op != "" {
			msg.Header.Set("Wisp-Operation", op)
		}
		reply, err := e.client.Conn().RequestMsg(msg, 5*time.Second)
		if err != nil || reply.Header.Get("Wisp-Error") == "" || reply.Header.Get("Wisp-Error-Code") != want {
			t.Errorf("plain request %q: %v %v, want Wisp-Error-Code %s", op, reply, err, want)
		}
	}
}

// TestBusyActorSaysBusy: calls beyond the instances and the queue fail
// with ErrBusy, and only with it.
func TestBusyActorSaysBusy(t *testing.T) {
	e := newEnv(t)
	e.start(t, testwasm.GoActor(t, "internal/testactors/probe"), "slow", 1, lattice.ActorLimits{})
	ctx := context.Background()
	go e.client.Call(ctx, "slow", "Probe.Sleep", []byte("1500"))
	a, _ := e.host.Actor("slow")
	testwait.Eventually(t, 20*time.Second, testwait.Holds("the only instance to be busy", func() bool { return a.Describe().Busy == 1 }))
	const n = 2 * 64 // twice the queue's bound (64 per instance)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.client.Call(ctx, "slow", "Probe.Dice", nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		switch {
		case errors.Is(err, lattice.ErrBusy) && lattice.CodeOf(err) == lattice.CodeBusy:
			busy++
		case err != nil:
			t.Errorf("call = %v, want an answer or ErrBusy", err)
		}
	}
	if busy == 0 {
		t.Fatalf("no call of %d was refused as busy", n)
	}
}

// TestRefusedCommandsCarryTheirCode: control commands a host refuses keep
// their kind for the client: not found, bad request, refused by policy.
func TestRefusedCommandsCarryTheirCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	guest := testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat"))
	e.start(t, guest, "wat", 1, lattice.ActorLimits{})
	if err := e.client.StopActor(ctx, e.host.ID(), "nope"); !errors.Is(err, lattice.ErrNotFound) {
		t.Errorf("stop of a missing actor = %v, want ErrNotFound", err)
	}
	if _, err := e.client.ScaleActor(ctx, e.host.ID(), "nope", 2); !errors.Is(err, lattice.ErrNotFound) {
		t.Errorf("scale of a missing actor = %v, want ErrNotFound", err)
	}
	if _, err := e.client.ScaleActor(ctx, e.host.ID(), "wat", 0); !errors.Is(err, lattice.ErrBadRequest) {
		t.Errorf("scale to 0 = %v, want ErrBadRequest", err)
	}
	if _, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{}); !errors.Is(err, lattice.ErrBadRequest) {
		t.Errorf("start without a ref = %v, want ErrBadRequest", err)
	}
	// The outcome of a start comes as an event, with the code.
	if err := e.startErr(t, []byte("not wasm"), "text.wasm"); !errors.Is(err, lattice.ErrBadRequest) {
		t.Errorf("start of a text file = %v, want ErrBadRequest", err)
	}
	if _, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: filepath.Join(t.TempDir(), "missing.wasm")}); !errors.Is(err, lattice.ErrNotFound) {
		t.Errorf("start of a missing file = %v, want ErrNotFound", err)
	}
	// A second start is refused, and says so in the words a reconciler
	// takes as "done" (lattice.AlreadyRunning).
	if err := e.startErr(t, guest, "wat.wasm"); !errors.Is(err, lattice.ErrRefused) || !strings.Contains(err.Error(), lattice.AlreadyRunning) {
		t.Errorf("second start = %v, want refused: %s", err, lattice.AlreadyRunning)
	}
	// Links: refused to an actor that runs nowhere or does not claim the
	// contract, not found when there is none to delete.
	if _, err := e.client.PutLink(ctx, lattice.Link{ActorID: "ghost", ProviderID: "p", ContractID: "wasmcloud:keyvalue"}); !errors.Is(err, lattice.ErrRefused) {
		t.Errorf("link to a missing actor = %v, want ErrRefused", err)
	}
	if _, err := e.client.PutLink(ctx, lattice.Link{ActorID: "wat", ProviderID: "p q", ContractID: "wasmcloud:keyvalue"}); !errors.Is(err, lattice.ErrBadRequest) {
		t.Errorf("link with a bad provider id = %v, want ErrBadRequest", err)
	}
	e.waitLinks(t)
	if _, err := e.client.DeleteLink(ctx, "wat", "wasmcloud:keyvalue", ""); !errors.Is(err, lattice.ErrNotFound) {
		t.Errorf("delete of a missing link = %v, want ErrNotFound", err)
	}
	if err := e.client.StopProvider(ctx, e.host.ID(), lattice.StopProviderRequest{Name: "keyvalue"}); !errors.Is(err, lattice.ErrNotFound) {
		t.Errorf("stop of a missing provider = %v, want ErrNotFound", err)
	}
	strict := newEnv(t, host.WithPolicy(host.Policy{}))
	if err := strict.startErr(t, guest, "wat.wasm"); !errors.Is(err, lattice.ErrRefused) {
		t.Errorf("unsigned start on a strict host = %v, want ErrRefused", err)
	}
}
