package lattice_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// TestTheLinkBucketTakesAWatchPerHostPastAThousand: every host watches the
// link bucket with a consumer, and a NATS server allows 1,000 consumers on
// a stream that sets no limit of its own. A bucket EnsureLinkBucket
// creates, and one an older wisp created without the limit, take a
// thousand and one.
func TestTheLinkBucketTakesAWatchPerHostPastAThousand(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	js, err := jetstream.New(l.Connect(t, auth.HostUser))
	if err != nil {
		t.Fatal(err)
	}
	// An older wisp's bucket: nats.go's defaults, no consumer limit.
	old := lattice.LinkBucketName("old")
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: old, History: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"new", "old"} {
		kv, err := lattice.EnsureLinkBucket(ctx, js, id)
		if err != nil {
			t.Fatal(err)
		}
		stream := "KV_" + lattice.LinkBucketName(id)
		for i := range 1001 {
			if _, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{}); err != nil {
				t.Fatalf("bucket of lattice %q: consumer %d: %v", id, i+1, err)
			}
		}
		if _, err := kv.ListKeys(ctx); err != nil { // what the reconciler does each pass
			t.Fatalf("bucket of lattice %q: list keys past a thousand consumers: %v", id, err)
		}
		// Opening it again changes nothing.
		if _, err := lattice.EnsureLinkBucket(ctx, js, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHeartbeatsLeaveTheEventHistory: the event stream honours a
// heartbeat's Nats-TTL, so a thousand hosts' beats do not push the other
// events out of its history; a stream an older wisp made without
// per-message TTLs is updated to allow them.
func TestHeartbeatsLeaveTheEventHistory(t *testing.T) {
	ctx := context.Background()
	l := authtest.Start(t, natsserver.Config{Port: -1})
	nc := l.Connect(t, auth.HostUser)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// An older wisp's stream: no per-message TTLs.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: lattice.EventStreamName("old"), Subjects: []string{lattice.EventSubject("old", ">")}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"new", "old"} {
		if err := lattice.EnsureEventStream(ctx, js, id); err != nil {
			t.Fatal(err)
		}
		beat := nats.NewMsg(lattice.EventSubject(id, lattice.EventHostHeartbeat))
		beat.Header.Set(jetstream.MsgTTLHeader, "1s")
		beat.Data = []byte(`{}`)
		for _, m := range []*nats.Msg{beat, {Subject: lattice.EventSubject(id, lattice.EventActorStarted), Data: []byte(`{}`)}} {
			if _, err := js.PublishMsg(ctx, m); err != nil {
				t.Fatalf("lattice %q: store %s: %v", id, m.Subject, err)
			}
		}
		s, err := js.Stream(ctx, lattice.EventStreamName(id))
		if err != nil {
			t.Fatal(err)
		}
		testwait.Eventually(t, 10*time.Second, func() error {
			info, err := s.Info(ctx)
			if err != nil {
				return err
			}
			if info.State.Msgs != 1 {
				return fmt.Errorf("lattice %q: %d events stored, want the actor_started alone", id, info.State.Msgs)
			}
			return nil
		})
		if _, err := s.GetLastMsgForSubject(ctx, lattice.EventSubject(id, lattice.EventActorStarted)); err != nil {
			t.Fatalf("lattice %q: actor_started is gone: %v", id, err)
		}
	}
}
