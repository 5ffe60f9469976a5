package lattice_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/internal/authtest"
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
