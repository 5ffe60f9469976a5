package spy_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/spy"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestRecordsOnlyWhileSomeoneSpies: the publisher sends nothing before a
// spy shows interest, records (without bodies) after it, bodies only when
// asked, nothing for other actors, and nothing again once the interest
// lapses.
func TestRecordsOnlyWhileSomeoneSpies(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1})
	hostConn := l.Connect(t, auth.HostUser)
	p, err := spy.New(hostConn, lattice.DefaultLattice)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	admin := l.Connect(t, auth.AdminUser)
	recs, err := admin.SubscribeSync(lattice.SpySubject(lattice.DefaultLattice, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	admin.Flush()

	call := func(actor, payload string) {
		c := &host.Call{Lattice: lattice.DefaultLattice, HostName: "h1", Actor: actor, Operation: "Echo.Reply", Size: len(payload), Payload: []byte(payload)}
		_, end := p.Invocation(context.Background(), c)
		end(len(payload), nil)
		_, end = p.HostCall(context.Background(), &host.Call{Actor: actor, HostName: "h1", Operation: "KeyValue.Get", Namespace: "wasmcloud:keyvalue", LinkName: "default"})
		end(0, errors.New("no such key"))
		hostConn.Flush()
	}
	next := func() (lattice.SpyRecord, bool) {
		m, err := recs.NextMsg(300 * time.Millisecond)
		if err != nil {
			return lattice.SpyRecord{}, false
		}
		var r lattice.SpyRecord
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r, true
	}
	interest := func(payload bool) {
		b, _ := json.Marshal(lattice.SpyInterest{Payload: payload})
		admin.Publish(lattice.SpyInterestSubject(lattice.DefaultLattice, "echo"), b)
		admin.Flush()
		time.Sleep(100 * time.Millisecond) // the host's subscription takes it
	}

	call("echo", "unseen")
	if r, ok := next(); ok {
		t.Fatalf("a record with nobody spying: %+v", r)
	}

	interest(false)
	call("echo", "hello")
	call("other", "not this actor")
	in, ok1 := next()
	out, ok2 := next()
	if !ok1 || !ok2 {
		t.Fatal("no records while spied on")
	}
	if in.Direction != "in" || in.Operation != "Echo.Reply" || in.Host != "h1" || in.Size != 5 || in.Outcome != "ok" || in.Payload != nil {
		t.Errorf("invocation record %+v", in)
	}
	if out.Direction != "out" || out.Target != "wasmcloud:keyvalue/default" || out.Outcome != "error" || out.Error != "no such key" {
		t.Errorf("host call record %+v", out)
	}
	if r, ok := next(); ok {
		t.Fatalf("a record of another actor: %+v", r)
	}

	interest(true)
	call("echo", "with body")
	if r, ok := next(); !ok || string(r.Payload) != "with body" {
		t.Fatalf("--payload record %+v, %v", r, ok)
	}
	next()

	time.Sleep(lattice.SpyInterestTTL + 200*time.Millisecond)
	call("echo", "after the spy left")
	if r, ok := next(); ok {
		t.Fatalf("a record after the interest lapsed: %+v", r)
	}
}
