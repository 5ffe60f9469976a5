package messaging_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/messaging"
)

// TestWasmCloudActorAnswersNATSRequests: the echo actor that wasmCloud's
// tooling built and signed receives a plain NATS request through the
// provider's subscription and answers by publishing to its reply subject.
func TestWasmCloudActorAnswersNATSRequests(t *testing.T) {
	for _, local := range []bool{true, false} {
		e := providertest.New(t, host.WithPolicy(host.Policy{}))
		actor := e.StartActor(t, testwasm.Conformance(t, "wascap/echo_messaging_v0.9.0.wasm"), "echo_messaging.wasm", 2)
		r := e.Run(t, "messaging", local)
		if err := r.PutLink(context.Background(), provider.Link{Actor: actor, Contract: messaging.Contract,
			Values: map[string]string{"SUBSCRIPTION": "svc.echo, svc.other.*"}}); err != nil {
			t.Fatal(err)
		}
		for _, subject := range []string{"svc.echo", "svc.other.x"} {
			resp, err := e.NC.Request(subject, []byte("ping"), 10*time.Second)
			if err != nil {
				t.Fatalf("local=%v %s: %v", local, subject, err)
			}
			if string(resp.Data) != "reply: ping" {
				t.Fatalf("local=%v %s: %q", local, subject, resp.Data)
			}
		}
		// After the link goes, nobody answers.
		if err := r.DelLink(context.Background(), provider.Link{Actor: actor, Contract: messaging.Contract}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.NC.Request("svc.echo", []byte("ping"), time.Second); !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("after DelLink: %v", err)
		}
	}
}

// TestPublishAndRequestForActors: the operations an actor calls.
func TestPublishAndRequestForActors(t *testing.T) {
	e := providertest.New(t)
	r := e.Run(t, "messaging", false)
	ctx := context.Background()
	if err := r.PutLink(ctx, provider.Link{Actor: "a", Contract: messaging.Contract}); err != nil {
		t.Fatal(err)
	}
	call := func(op string, arg any) ([]byte, error) {
		b, _ := msgpack.Marshal(arg)
		return r.Invoke(ctx, provider.Call{Actor: "a", LinkName: "default", Operation: op, Payload: b})
	}
	sub, _ := e.NC.SubscribeSync("out.>")
	if _, err := call(messaging.OpPublish, messaging.PubMessage{Subject: "out.x", ReplyTo: "back", Body: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "hi" || m.Reply != "back" {
		t.Fatalf("published: %v %+v", err, m)
	}
	e.NC.Subscribe("svc.time", func(m *nats.Msg) { m.Respond([]byte("noon")) })
	out, err := call(messaging.OpRequest, messaging.RequestMessage{Subject: "svc.time", Body: []byte("?"), TimeoutMs: 2000})
	var reply messaging.ReplyMessage
	if err != nil || msgpack.Unmarshal(out, &reply) != nil || string(reply.Body) != "noon" {
		t.Fatalf("request: %v %+v", err, reply)
	}
	if _, err := call(messaging.OpRequest, messaging.RequestMessage{Subject: "svc.nobody", TimeoutMs: 200}); err == nil {
		t.Fatal("request with no responder succeeded")
	}
	if _, err := call("Messaging.Shout", nil); !errors.Is(err, provider.ErrUnknownOperation) {
		t.Fatalf("unknown op: %v", err)
	}
	if _, err := r.Invoke(ctx, provider.Call{Actor: "b", LinkName: "default", Operation: messaging.OpPublish}); !errors.Is(err, provider.ErrNotLinked) {
		t.Fatalf("unlinked: %v", err)
	}
}

// TestLinkToAnotherNATSServer: URI points a link at a NATS server other
// than the lattice's.
func TestLinkToAnotherNATSServer(t *testing.T) {
	other, err := natsserver.Start(context.Background(), natsserver.Config{Port: -1, NoJetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	e := providertest.New(t)
	r := e.Run(t, "messaging", false)
	ctx := context.Background()
	if err := r.PutLink(ctx, provider.Link{Actor: "a", Contract: messaging.Contract, Values: map[string]string{"URI": other.ClientURL()}}); err != nil {
		t.Fatal(err)
	}
	onc, err := nats.Connect(other.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer onc.Close()
	sub, _ := onc.SubscribeSync("elsewhere")
	onc.Flush()
	b, _ := msgpack.Marshal(messaging.PubMessage{Subject: "elsewhere", Body: []byte("x")})
	if _, err := r.Invoke(ctx, provider.Call{Actor: "a", LinkName: "default", Operation: messaging.OpPublish, Payload: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("message did not reach the other server: %v", err)
	}
	if err := r.PutLink(ctx, provider.Link{Actor: "z", Contract: messaging.Contract, Values: map[string]string{"URI": "nats://127.0.0.1:1"}}); err == nil {
		t.Fatal("link to a dead server accepted")
	}
}
