package auth_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestCallerChunksTravelOnlyThroughItsOwnInbox: a caller's call and reply
// above the server's max_payload go in chunks between it and a host,
// through the caller's inbox (the caller answers the host's pulls and
// acknowledges its pushes, which its response permission allows); another
// caller can neither read that inbox nor write into it.
func TestCallerChunksTravelOnlyThroughItsOwnInbox(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1, MaxPayload: 1 << 20}, "default")
	st, srv := l.Store, l.Server
	host := connect(t, srv.ClientURL(), st.LocalCreds("default", auth.HostUser))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := host.QueueSubscribe("wisp.rpc.default.echo", "wisp.rpc.default.echo", func(m *nats.Msg) {
		go func() {
			body, err := chunked.ReadBody(ctx, host.Conn, m, chunked.MaxBody, chunked.Options{})
			if err != nil {
				t.Errorf("host reads the body: %v", err)
				return
			}
			if err := chunked.Respond(ctx, host.Conn, m, &nats.Msg{Data: body}, chunked.Options{}); err != nil {
				t.Errorf("host answers: %v", err)
			}
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	host.Flush()
	b, err := st.CreateUser("default", "shop", auth.RoleCaller, auth.Grant{Calls: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	caller := connect(t, srv.ClientURL(), writeCreds(t, b))
	want := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+1)
	reply, err := chunked.Request(ctx, caller.Conn, &nats.Msg{Subject: "wisp.rpc.default.echo", Data: want}, chunked.Options{})
	if err != nil || !bytes.Equal(reply.Data, want) {
		t.Fatalf("chunked echo as a caller: %v", err)
	}

	b, err = st.CreateUser("default", "thief", auth.RoleCaller, auth.Grant{Calls: []string{"echo"}})
	if err != nil {
		t.Fatal(err)
	}
	thief := connect(t, srv.ClientURL(), writeCreds(t, b))
	thief.Refused(t, "subscribe", "_INBOX.shop.>", func() error { _, err := thief.Subscribe("_INBOX.shop.>", func(*nats.Msg) {}); return err })
	thief.Refused(t, "publish", "_INBOX.shop.x", func() error { return thief.Publish("_INBOX.shop.x", []byte("forged chunk")) })
}
