package lattice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

var allCodes = []lattice.Code{
	lattice.CodeNotFound, lattice.CodeBusy, lattice.CodeTimeout, lattice.CodeTrap, lattice.CodeHandler,
	lattice.CodeRefused, lattice.CodePayloadTooLarge, lattice.CodeBadRequest, lattice.CodeUnavailable, lattice.CodeInternal,
}

// startServer starts an embedded NATS server and a client of it.
func startServer(t *testing.T) (*natsserver.Server, *lattice.Client) {
	t.Helper()
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1, NoJetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	c, err := lattice.Connect(srv.ClientURL(), lattice.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return srv, c
}

// TestCallErrorsKeepTheirCodeAcrossNATS: for every code, an actor's reply
// with Wisp-Error-Code reaches Client.Call as a *RemoteError that is the
// code's sentinel and no other, with the message intact.
func TestCallErrorsKeepTheirCodeAcrossNATS(t *testing.T) {
	srv, c := startServer(t)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The stand-in actor fails with the code named by the operation.
	if _, err := nc.Subscribe(lattice.RPCSubject("default", "failing"), func(m *nats.Msg) {
		reply := nats.NewMsg(m.Reply)
		code := lattice.Code(m.Header.Get(lattice.HeaderOperation))
		lattice.SetReplyError(reply, code, fmt.Errorf("failed with %s", code))
		m.RespondMsg(reply)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server holds the subscription before the first call
		t.Fatal(err)
	}
	for _, code := range allCodes {
		_, err := c.Call(context.Background(), "failing", string(code), nil)
		var re *lattice.RemoteError
		if !errors.As(err, &re) || re.Code != code || re.Message != "failed with "+string(code) || lattice.CodeOf(err) != code {
			t.Errorf("%s: err = %#v", code, err)
		}
		for _, other := range allCodes {
			if got := errors.Is(err, other.Err()); got != (other == code) {
				t.Errorf("%s: errors.Is(err, %s's sentinel) = %v", code, other, got)
			}
		}
	}
	// A code this version does not know is kept, and is no sentinel.
	_, err = c.Call(context.Background(), "failing", "from_the_future", nil)
	if lattice.CodeOf(err) != "from_the_future" || errors.Is(err, lattice.ErrInternal) {
		t.Errorf("unknown code: %v, CodeOf = %q", err, lattice.CodeOf(err))
	}
}

// TestRefusedCommandsKeepTheirCode: a host's Ack with a code is a
// *RemoteError of that code for the client's control verbs.
func TestRefusedCommandsKeepTheirCode(t *testing.T) {
	srv, c := startServer(t)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe(lattice.HostSubject("default", "NHOST", lattice.VerbStopActor), func(m *nats.Msg) {
		var req lattice.StopActorRequest
		json.Unmarshal(m.Data, &req)
		b, _ := json.Marshal(lattice.Ack{Error: "stop " + req.Actor + ": it said so", Code: lattice.Code(req.Actor)})
		m.Respond(b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server holds the subscription before the first call
		t.Fatal(err)
	}
	for _, code := range allCodes {
		err := c.StopActor(context.Background(), "NHOST", string(code))
		if !errors.Is(err, code.Err()) || lattice.CodeOf(err) != code {
			t.Errorf("%s: err = %#v", code, err)
		}
	}
}

// TestLocalFailuresAreSentinelsToo: no responder is ErrActorNotRunning,
// which is ErrNotFound; an answer that does not come in time is
// ErrTimeout and still the context's error.
func TestLocalFailuresAreSentinelsToo(t *testing.T) {
	srv, c := startServer(t)
	_, err := c.Call(context.Background(), "ghost", "Echo.Reply", nil)
	if !errors.Is(err, lattice.ErrActorNotRunning) || !errors.Is(err, lattice.ErrNotFound) || lattice.CodeOf(err) != lattice.CodeNotFound {
		t.Fatalf("call to nobody = %v", err)
	}
	if err := c.StopActor(context.Background(), "NNOSUCHHOST", "echo"); !errors.Is(err, lattice.ErrHostNotFound) || !errors.Is(err, lattice.ErrNotFound) {
		t.Fatalf("stop on a missing host = %v", err)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Subscribe(lattice.RPCSubject("default", "mute"), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Call(ctx, "mute", "Echo.Reply", nil)
	if !errors.Is(err, lattice.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || lattice.CodeOf(err) != lattice.CodeTimeout {
		t.Fatalf("call to a silent actor = %v", err)
	}
}

func TestWithCodeKeepsTheMessage(t *testing.T) {
	base := errors.New("no module reference")
	err := fmt.Errorf("start: %w", lattice.WithCode(lattice.CodeBadRequest, base))
	if err.Error() != "start: no module reference" || !errors.Is(err, lattice.ErrBadRequest) || !errors.Is(err, base) ||
		lattice.CodeOf(err) != lattice.CodeBadRequest || errors.Is(err, lattice.ErrInternal) {
		t.Fatalf("err = %v, code %q", err, lattice.CodeOf(err))
	}
	// The outer code wins over the one it wraps.
	if c := lattice.CodeOf(lattice.WithCode(lattice.CodeRefused, lattice.ErrActorNotRunning)); c != lattice.CodeRefused {
		t.Fatalf("outer code = %q", c)
	}
	if lattice.WithCode(lattice.CodeBusy, nil) != nil || lattice.CodeOf(errors.New("plain")) != "" {
		t.Fatal("nil or plain errors got a code")
	}
}
