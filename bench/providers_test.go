package bench

import (
	"context"
	"errors"
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
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
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

// BenchmarkMQTTRelay measures messages in and out: readings published by a
// plain Paho client reach the mqtt-relay actor through the provider, whose
// records come back out to a second Paho client; the baseline is the same
// two clients talking directly through the broker.
func BenchmarkMQTTRelay(b *testing.B) {
	uri := startMosquitto(b)
	e := providertest.New(b)
	ctx := context.Background()
	actor := e.StartActor(b, testwasm.GoActor(b, "actors/mqtt-relay"), "mqtt-relay.wasm", 1)
	r := e.Run(b, "mqtt", true)
	if err := r.PutLink(ctx, provider.Link{Actor: actor, Contract: messaging.Contract, Values: map[string]string{"URI": uri, "SUBSCRIPTION": "sensors/+"}}); err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, 1<<16)
	pahoClient(b, uri, func(paho.PublishReceived) { got <- struct{}{} }, "relay/#", "direct/#")
	pub := pahoClient(b, uri, nil)
	// At most window messages are out at once: an MQTT broker drops what
	// overflows a slow subscriber's queue (mosquitto keeps 1000), so the
	// benchmark measures the rate a relay sustains, not a burst.
	const window = 100
	run := func(b *testing.B, topic string) {
		for len(got) > 0 {
			<-got
		}
		timeout := time.After(2 * time.Minute)
		back := 0
		wait := func() {
			select {
			case <-got:
				back++
			case <-timeout:
				b.Fatalf("%d of %d messages came back", back, b.N)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for i-back >= window {
				wait()
			}
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("21.5")}); err != nil {
				b.Fatal(err)
			}
		}
		for back < b.N {
			wait()
		}
	}
	// Wait until the relay's subscription is live.
	testwait.Eventually(b, 15*time.Second, func() error {
		pub.Publish(ctx, &paho.Publish{Topic: "sensors/warmup", QoS: 1, Payload: []byte("1")})
		select {
		case <-got:
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("the relay does not answer")
		}
	})
	b.Run("wisp-relay", func(b *testing.B) { run(b, "sensors/x") })
	b.Run("raw-paho", func(b *testing.B) { run(b, "direct/x") })
}

// pahoClient connects a Paho client to uri, subscribed to filters with fn
// receiving what arrives.
func pahoClient(b *testing.B, uri string, fn func(paho.PublishReceived), filters ...string) *autopaho.ConnectionManager {
	b.Helper()
	u, _ := url.Parse(uri)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	cfg := autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 20, CleanStartOnInitialConnection: true,
		ClientConfig: paho.ClientConfig{ClientID: fmt.Sprintf("bench-%d", time.Now().UnixNano())}}
	if fn != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) { fn(pr); return true, nil }}
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		b.Fatal(err)
	}
	if len(filters) > 0 {
		s := &paho.Subscribe{}
		for _, f := range filters {
			s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
		}
		if _, err := cm.Subscribe(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	return cm
}
