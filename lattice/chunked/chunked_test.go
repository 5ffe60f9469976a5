package chunked_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestLostReplyChunkIsAClearError: a responder that pushes chunks 0 and 2
// of a three-chunk reply and never chunk 1 leaves the caller with ErrLost
// naming what is missing, after one chunk timeout.
func TestLostReplyChunkIsAClearError(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	responder := l.Connect(t, auth.HostUser)
	caller := l.Connect(t, auth.AdminUser)
	const size = 64 << 10
	sub, err := responder.Subscribe("wisp.rpc.default.lossy", func(m *nats.Msg) {
		acks := responder.NewInbox()
		s, err := responder.SubscribeSync(acks + ".*")
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Unsubscribe()
		head := &nats.Msg{Subject: m.Reply, Reply: acks + ".head", Header: nats.Header{
			chunked.HeaderBodySize: []string{strconv.Itoa(3 * size)}, chunked.HeaderChunkSize: []string{strconv.Itoa(size)}}}
		responder.PublishMsg(head)
		r, err := s.NextMsg(10 * time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		to := r.Header.Get(chunked.HeaderBodyTo)
		for _, i := range []int{0, 2} {
			responder.PublishMsg(&nats.Msg{Subject: to, Reply: acks + "." + strconv.Itoa(i), Header: nats.Header{chunked.HeaderChunk: []string{strconv.Itoa(i)}}, Data: make([]byte, size)})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	responder.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = chunked.Request(ctx, caller, &nats.Msg{Subject: "wisp.rpc.default.lossy", Data: []byte("hi")}, chunked.Options{ChunkTimeout: time.Second})
	if !errors.Is(err, chunked.ErrLost) || !strings.Contains(err.Error(), "1 of 3 chunks missing") {
		t.Fatalf("reply with a lost chunk: %v, want ErrLost naming 1 of 3 chunks", err)
	}
}

// TestSmallBodiesTravelWhole: at or below the limit the call is one
// message and the reply one message, as without chunking.
func TestSmallBodiesTravelWhole(t *testing.T) {
	l := authtest.Start(t, natsserver.Config{Port: -1, MaxPayload: 1 << 20})
	responder := l.Connect(t, auth.HostUser)
	caller := l.Connect(t, auth.AdminUser)
	want := bytes.Repeat([]byte("x"), chunked.Limit(caller))
	sub, err := responder.Subscribe("wisp.rpc.default.plain", func(m *nats.Msg) {
		if chunked.IsChunked(m) || len(m.Data) != len(want) {
			m.Respond([]byte("chunked"))
			return
		}
		m.Respond(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	responder.Flush()
	reply, err := chunked.Request(context.Background(), caller, &nats.Msg{Subject: "wisp.rpc.default.plain", Data: want}, chunked.Options{})
	if err != nil || !bytes.Equal(reply.Data, want) {
		t.Fatalf("a body at the limit: %v", err)
	}
}
