// Package mqtt serves wasmcloud:messaging over MQTT 5 (Eclipse Paho):
// actors publish to topics, and messages on the topics a link subscribes to
// become MessageSubscriber.HandleMessage calls. It is the same contract as
// the NATS messaging provider, so an actor moves between the two by
// changing its link.
//
// Link values:
//
//	URI           broker, tcp://host:1883 (or mqtt://, ssl://, tls://);
//	              default tcp://127.0.0.1:1883
//	SUBSCRIPTION  comma-separated topic filters (+ and # allowed)
//	QOS           0, 1 or 2 for subscriptions and publishes (default 1)
//	CLIENT_ID     MQTT client id (default wisp-<actor>-<random>)
//	USERNAME, PASSWORD
//	SESSION_EXPIRY  seconds the broker keeps the session (subscriptions,
//	              QoS 1/2 messages) while the connection is down (default 3600)
//	BUFFER        publishes held while the broker is away (default 1000)
//	DEVICES       true: devices register on this link's broker (see
//	              Registration) and ListDevices reports them
//	DEVICE_PREFIX topic prefix of registrations (default wisp/devices)
//
// Each link keeps its own connection and reconnects with backoff when the
// broker goes away; its session persists across reconnects, and its
// subscriptions are made again on every connect. Publishes made while the
// broker is away are held, in order, up to BUFFER, and sent when it
// returns; beyond that a publish fails at once with a clear error, so
// nothing is dropped silently. Messages are delivered to the actor in
// order, one at a time per link.
package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/messaging"
)

// DefaultURI is the broker of links that name none.
const DefaultURI = "tcp://127.0.0.1:1883"

// publishTimeout bounds a publish waiting for the broker's acknowledgement.
const publishTimeout = 5 * time.Second

// queueLen bounds the messages waiting for a busy actor, per link.
const queueLen = 1024

func init() {
	provider.Register("mqtt", func() provider.Provider { return &Provider{} })
}

// Provider serves wasmcloud:messaging over MQTT.
type Provider struct {
	rt provider.Runtime

	mu    sync.Mutex
	links map[string]*link
}

// link is one actor's broker connection.
type link struct {
	actor  string
	uri    string
	qos    byte
	cm     *autopaho.ConnectionManager
	cancel context.CancelFunc
	queue  chan *paho.Publish
	done   chan struct{} // closed when the delivery loop ends

	mu      sync.Mutex
	held    []*paho.Publish // publishes waiting for the broker, in order
	maxHeld int
	up      chan struct{} // a connection came up: send what is held
	closing chan struct{} // closed when the link goes: unblocks a waiting receive
	sent    chan struct{} // closed when the sender loop ends

	devices *registry // nil unless DEVICES=true
	topics  []string  // the link's SUBSCRIPTION filters
}

// Contract implements provider.Provider.
func (p *Provider) Contract() string { return messaging.Contract }

// Start implements provider.Provider.
func (p *Provider) Start(_ context.Context, rt provider.Runtime) error {
	p.rt = rt
	p.links = map[string]*link{}
	return nil
}

func key(actor, name string) string {
	if name == "" {
		name = "default"
	}
	return actor + "/" + name
}

// PutLink starts the link's connection. It returns once the connection
// manager runs; it does not wait for the broker, which may come later.
func (p *Provider) PutLink(ctx context.Context, l provider.Link) error {
	c, err := readLink(l)
	if err != nil {
		return err
	}
	p.DelLink(ctx, l)

	lk := &link{actor: l.Actor, uri: c.broker, qos: c.qos, queue: make(chan *paho.Publish, queueLen), done: make(chan struct{}),
		maxHeld: c.maxHeld, up: make(chan struct{}, 1), sent: make(chan struct{}), closing: make(chan struct{}), topics: c.topics}
	log := p.rt.Logger().With("actor", l.Actor, "broker", lk.uri)
	filters := c.topics
	if c.devices {
		lk.devices = newRegistry(c.devicePrefix, l.Actor, lk.uri, log)
		filters = append(slices.Clone(c.topics), lk.devices.filters()...)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(cctx, lk.clientConfig(c, filters, log))
	if err != nil {
		cancel()
		return fmt.Errorf("link %s: %w", l.Key(), err)
	}
	lk.cm, lk.cancel = cm, cancel
	go p.deliver(lk)
	go p.sendHeld(lk)
	p.mu.Lock()
	p.links[key(l.Actor, l.LinkName())] = lk
	p.mu.Unlock()
	return nil
}

// linkConfig is what a link's values ask for.
type linkConfig struct {
	uri                *url.URL
	broker             string // URI as given
	qos                byte
	topics             []string // SUBSCRIPTION
	expiry             uint32   // seconds
	maxHeld            int      // BUFFER
	devices            bool
	devicePrefix       string
	clientID           string
	username, password string
}

// readLink reads and checks a link's values; an error names the value.
func readLink(l provider.Link) (linkConfig, error) {
	c := linkConfig{topics: l.List("SUBSCRIPTION"), username: l.Value("USERNAME", ""), password: l.Value("PASSWORD", "")}
	uri := l.Value("URI", DefaultURI)
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		return c, fmt.Errorf("link %s: URI %q: want tcp://host:port", l.Key(), uri)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts":
	default:
		return c, fmt.Errorf("link %s: URI scheme %q: want tcp, mqtt, ssl or tls", l.Key(), u.Scheme)
	}
	c.uri, c.broker = u, uri
	qos, err := l.Int("QOS", 1, 0, 2)
	if err != nil {
		return c, err
	}
	c.qos = byte(qos)
	expiry, err := l.Duration("SESSION_EXPIRY", time.Second, time.Hour, 0, math.MaxUint32*time.Second)
	if err != nil {
		return c, err
	}
	c.expiry = uint32(expiry / time.Second)
	maxHeld, err := l.Int("BUFFER", 1000, 0, math.MaxInt32)
	if err != nil {
		return c, err
	}
	c.maxHeld = int(maxHeld)
	if c.devices, err = l.Bool("DEVICES", false); err != nil {
		return c, err
	}
	c.devicePrefix = strings.Trim(l.Value("DEVICE_PREFIX", DefaultDevicePrefix), "/")
	if c.devicePrefix == "" || strings.ContainsAny(c.devicePrefix, "+#") {
		return c, fmt.Errorf("link %s: DEVICE_PREFIX %q: want a topic without wildcards", l.Key(), l.Value("DEVICE_PREFIX", ""))
	}
	c.clientID = l.Value("CLIENT_ID", "")
	if c.clientID == "" {
		var b [4]byte
		rand.Read(b[:])
		c.clientID = "wisp-" + l.Actor + "-" + hex.EncodeToString(b[:])
	}
	return c, nil
}

// clientConfig is the Paho configuration of the link's connection: it
// reconnects with backoff, subscribes to filters on every connect and
// queues what arrives for the actor.
func (lk *link) clientConfig(c linkConfig, filters []string, log *slog.Logger) autopaho.ClientConfig {
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{c.uri},
		KeepAlive:                     20,
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         c.expiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 5*time.Second, 500*time.Millisecond, 2),
		ConnectTimeout:                5 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			log.Info("mqtt connected")
			lk.connected(cm, filters, log)
		},
		OnConnectionDown: func() bool {
			log.Warn("mqtt connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) { log.Warn("mqtt connect", "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: c.clientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					lk.received(pr.Packet, log)
					return true, nil
				},
			},
		},
	}
	if c.username != "" {
		cfg.ConnectUsername = c.username
		cfg.ConnectPassword = []byte(c.password)
	}
	return cfg
}

// connected wakes the sender of held publishes and subscribes to filters
// again, as every new connection must.
func (lk *link) connected(cm *autopaho.ConnectionManager, filters []string, log *slog.Logger) {
	select {
	case lk.up <- struct{}{}:
	default:
	}
	if len(filters) == 0 {
		return
	}
	sub := &paho.Subscribe{}
	for _, t := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: lk.qos})
	}
	// Subscribing must not block the callback.
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cm.Subscribe(sctx, sub); err != nil {
			log.Error("mqtt subscribe", "topics", filters, "err", err)
		}
	}()
}

// received queues a message from the broker for the actor, unless it is
// a device's registration only.
func (lk *link) received(m *paho.Publish, log *slog.Logger) {
	if lk.devices != nil && lk.devices.handle(m) && !lk.subscribed(m.Topic) {
		return // a registration, not for the actor
	}
	if m.QoS == 0 { // at most once: drop rather than wait
		select {
		case lk.queue <- m:
		default:
			log.Warn("actor too slow: QoS 0 mqtt message dropped", "topic", m.Topic)
		}
		return
	}
	// QoS 1 and 2 wait for room: while the actor is that far behind, the
	// client stops reading and the broker holds the rest (its own queue
	// limit applies). Manual acknowledgements would be exact but pace
	// every ack on a timer: 2-10x slower here.
	select {
	case lk.queue <- m:
	case <-lk.closing:
	}
}

// deliver hands queued messages to the actor in order until the link goes.
func (p *Provider) deliver(lk *link) {
	defer close(lk.done)
	for {
		select {
		case <-lk.cm.Done():
			return
		case m := <-lk.queue:
			sm := messaging.SubMessage{Subject: m.Topic, Body: m.Payload}
			if m.Properties != nil {
				sm.ReplyTo = m.Properties.ResponseTopic
			}
			payload, err := msgpack.Marshal(&sm)
			if err != nil {
				continue
			}
			// A publisher's traceparent (an MQTT 5 user property) goes
			// on into the actor's call, as over NATS.
			ctx := context.Background()
			if m.Properties != nil {
				ctx = trace.ExtractFrom(ctx, userProps{&m.Properties.User})
			}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := p.rt.CallActor(ctx, lk.actor, messaging.OpHandleMessage, payload); err != nil {
				p.rt.Logger().Warn("mqtt message not handled", "actor", lk.actor, "topic", m.Topic, "err", err)
			}
			cancel()
		}
	}
}

func (lk *link) close(ctx context.Context) {
	close(lk.closing)
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	lk.cm.Disconnect(dctx) // a clean DISCONNECT when connected
	cancel()
	lk.cancel()
	<-lk.cm.Done()
	<-lk.done
	<-lk.sent
	lk.mu.Lock()
	if n := len(lk.held); n > 0 {
		slog.Warn("mqtt link closed with publishes still held", "actor", lk.actor, "broker", lk.uri, "messages", n)
	}
	lk.mu.Unlock()
}

// sendHeld sends the publishes held while the broker was away, in order,
// each time a connection comes up, until the link goes.
func (p *Provider) sendHeld(lk *link) {
	defer close(lk.sent)
	retry := time.NewTicker(5 * time.Second) // a publish that failed on a live connection
	defer retry.Stop()
	for {
		select {
		case <-lk.cm.Done():
			return
		case <-lk.up:
		case <-retry.C:
		}
		for {
			lk.mu.Lock()
			if len(lk.held) == 0 {
				lk.mu.Unlock()
				break
			}
			pub := lk.held[0]
			lk.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
			_, err := lk.cm.Publish(ctx, pub)
			cancel()
			if err != nil {
				break // the connection went again: the next one retries
			}
			lk.mu.Lock()
			lk.held = lk.held[1:]
			lk.mu.Unlock()
		}
	}
}

// subscribed reports whether topic matches one of the link's SUBSCRIPTION
// filters.
func (lk *link) subscribed(topic string) bool {
	for _, f := range lk.topics {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// hold keeps pub for the broker's return; false when the buffer is full.
func (lk *link) hold(pub *paho.Publish) bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if len(lk.held) >= lk.maxHeld {
		return false
	}
	lk.held = append(lk.held, pub)
	return true
}

// holding reports whether publishes are waiting: new ones queue behind
// them to keep the order.
func (lk *link) holding() bool {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	return len(lk.held) > 0
}

// DelLink disconnects the link.
func (p *Provider) DelLink(ctx context.Context, l provider.Link) error {
	p.mu.Lock()
	lk := p.links[key(l.Actor, l.LinkName())]
	delete(p.links, key(l.Actor, l.LinkName()))
	p.mu.Unlock()
	if lk != nil {
		lk.close(ctx)
	}
	return nil
}

// Stop implements provider.Provider.
func (p *Provider) Stop(ctx context.Context) error {
	p.mu.Lock()
	links := p.links
	p.links = map[string]*link{}
	p.mu.Unlock()
	for _, lk := range links {
		lk.close(ctx)
	}
	return nil
}

// ErrBrokerAway means the link's broker is not connected.
var ErrBrokerAway = errors.New("mqtt broker not connected")

// Handle publishes for the actor.
func (p *Provider) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	p.mu.Lock()
	lk := p.links[key(c.Actor, c.LinkName)]
	p.mu.Unlock()
	if lk == nil {
		return nil, fmt.Errorf("%w: %s has no mqtt link named %q", provider.ErrNotLinked, c.Actor, c.LinkName)
	}
	switch c.Operation {
	case messaging.OpPublish:
		var m messaging.PubMessage
		if err := bounded.Unmarshal(c.Payload, &m); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", c.Operation, provider.ErrBadPayload, err)
		}
		pub := &paho.Publish{Topic: m.Subject, QoS: lk.qos, Payload: m.Body, Properties: &paho.PublishProperties{ResponseTopic: m.ReplyTo}}
		// The actor's trace goes on with the message, for whoever reads it.
		trace.InjectInto(ctx, userProps{&pub.Properties.User})
		// Wait briefly for a connection that is coming up, not longer;
		// with the broker away, or messages already waiting, hold it.
		actx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := lk.cm.AwaitConnection(actx)
		cancel()
		if err != nil || lk.holding() {
			if !lk.hold(pub) {
				return nil, fmt.Errorf("publish %s: %w (%s) and %d publishes already wait for it", m.Subject, ErrBrokerAway, lk.uri, lk.maxHeld)
			}
			return nil, nil
		}
		// A broker that just died may leave a QoS 1 or 2 publish waiting
		// for an acknowledgement that never comes: bound it, and hold the
		// message for the next connection (QoS 1 is at least once).
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		defer cancel()
		if _, err := lk.cm.Publish(pctx, pub); err != nil {
			if ctx.Err() == nil && lk.hold(pub) {
				return nil, nil
			}
			return nil, fmt.Errorf("publish %s to %s: %w (%v)", m.Subject, lk.uri, ErrBrokerAway, err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w %q for %s over mqtt", provider.ErrUnknownOperation, c.Operation, messaging.Contract)
}

// userProps reads and writes trace context in MQTT 5 user properties.
type userProps struct{ p *paho.UserProperties }

func (u userProps) Get(key string) string { return u.p.Get(key) }

func (u userProps) Set(key, value string) {
	kept := (*u.p)[:0]
	for _, up := range *u.p {
		if up.Key != key {
			kept = append(kept, up)
		}
	}
	*u.p = append(kept, paho.UserProperty{Key: key, Value: value})
}

func (u userProps) Keys() []string {
	keys := make([]string, len(*u.p))
	for i, up := range *u.p {
		keys[i] = up.Key
	}
	return keys
}
