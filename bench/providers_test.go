package bench

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/providertest"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/keyvalue"
	"github.com/wisp-dev/wisp/provider/messaging"
	_ "github.com/wisp-dev/wisp/provider/mqtt"
)

// BenchmarkKeyValueIncrement compares a counter increment through the
// keyvalue provider (an actor's call as the host makes it in process:
// MessagePack in, compare-and-set on the JetStream bucket, MessagePack out)
// with the same compare-and-set written directly against nats.go's
// JetStream key-value API.
func BenchmarkKeyValueIncrement(b *testing.B) {
	e := providertest.New(b)
	ctx := context.Background()
	r := e.Run(b, "keyvalue", true)
	if err := r.PutLink(ctx, provider.Link{Actor: "bench", Contract: keyvalue.Contract, Values: map[string]string{"BUCKET": "bench_kv"}}); err != nil {
		b.Fatal(err)
	}
	arg, _ := msgpack.Marshal(keyvalue.IncrementRequest{Key: "n", Value: 1})
	b.Run("wisp-provider", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Invoke(ctx, provider.Call{Actor: "bench", LinkName: "default", Operation: "KeyValue.Increment", Payload: arg}); err != nil {
				b.Fatal(err)
			}
		}
	})
	js, _ := jetstream.New(e.NC)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_raw", History: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("raw-jetstream", func(b *testing.B) {
		for b.Loop() {
			e, err := kv.Get(ctx, "n")
			var n int64
			var rev uint64
			if err == nil {
				n, _ = strconv.ParseInt(string(e.Value()), 10, 64)
				rev = e.Revision()
			}
			v := []byte(strconv.FormatInt(n+1, 10))
			if rev == 0 {
				_, err = kv.Create(ctx, "n", v)
			} else {
				_, err = kv.Update(ctx, "n", v, rev)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMQTTPublish compares QoS 1 publishes through the mqtt provider
// with the same publishes from a plain Paho client, to a real mosquitto.
func BenchmarkMQTTPublish(b *testing.B) {
	uri := startMosquitto(b)
	e := providertest.New(b)
	ctx := context.Background()
	r := e.Run(b, "mqtt", true)
	if err := r.PutLink(ctx, provider.Link{Actor: "bench", Contract: messaging.Contract, Values: map[string]string{"URI": uri}}); err != nil {
		b.Fatal(err)
	}
	arg, _ := msgpack.Marshal(messaging.PubMessage{Subject: "bench/x", Body: []byte("21.5")})
	b.Run("wisp-provider", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Invoke(ctx, provider.Call{Actor: "bench", LinkName: "default", Operation: messaging.OpPublish, Payload: arg}); err != nil {
				b.Fatal(err)
			}
		}
	})
	u, _ := url.Parse(uri)
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 20,
		CleanStartOnInitialConnection: true, ClientConfig: paho.ClientConfig{ClientID: fmt.Sprintf("raw-%d", time.Now().UnixNano())}})
	if err != nil {
		b.Fatal(err)
	}
	defer cm.Disconnect(ctx)
	if err := cm.AwaitConnection(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("raw-paho", func(b *testing.B) {
		for b.Loop() {
			if _, err := cm.Publish(ctx, &paho.Publish{Topic: "bench/x", QoS: 1, Payload: []byte("21.5")}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
