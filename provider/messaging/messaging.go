// Package messaging is the wasmcloud:messaging provider over NATS: actors
// publish and request on subjects, and messages on the subjects a link
// subscribes to become MessageSubscriber.HandleMessage calls.
//
// Link values:
//
//	SUBSCRIPTION  comma-separated subjects (wildcards allowed) delivered to
//	              the actor; "subject|queue" joins a queue group
//	URI           NATS server to use instead of the lattice's own
//	              connection (nats://host:port)
//
// The MQTT provider (package mqtt) serves the same contract over MQTT.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/internal/msgpack/bounded"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
)

// Contract is the contract id the provider serves.
const Contract = "wasmcloud:messaging"

// Operations of the contract.
const (
	OpPublish       = "Messaging.Publish"
	OpRequest       = "Messaging.Request"
	OpHandleMessage = "MessageSubscriber.HandleMessage"
)

// DefaultRequestTimeout bounds Messaging.Request when the actor gives no
// timeout.
const DefaultRequestTimeout = 2 * time.Second

func init() {
	provider.Register("messaging", func() provider.Provider { return &Provider{} })
}

// Payloads of wasmcloud:messaging.
type (
	// PubMessage is Messaging.Publish's argument.
	PubMessage struct {
		Subject string `msgpack:"subject"`
		ReplyTo string `msgpack:"replyTo,omitempty"`
		Body    []byte `msgpack:"body"`
	}
	// RequestMessage is Messaging.Request's argument.
	RequestMessage struct {
		Subject   string `msgpack:"subject"`
		Body      []byte `msgpack:"body"`
		TimeoutMs uint32 `msgpack:"timeoutMs"`
	}
	// ReplyMessage answers Messaging.Request.
	ReplyMessage struct {
		Subject string `msgpack:"subject"`
		ReplyTo string `msgpack:"replyTo,omitempty"`
		Body    []byte `msgpack:"body"`
	}
	// SubMessage is what MessageSubscriber.HandleMessage receives.
	SubMessage struct {
		Subject string `msgpack:"subject"`
		ReplyTo string `msgpack:"replyTo,omitempty"`
		Body    []byte `msgpack:"body"`
	}
)

// Provider serves wasmcloud:messaging over NATS.
type Provider struct {
	rt provider.Runtime

	mu    sync.Mutex
	links map[string]*link // by actor/link name
}

// link is one actor's connection and subscriptions.
type link struct {
	nc   *nats.Conn
	own  bool // nc was opened for this link (URI)
	subs []*nats.Subscription
	wg   sync.WaitGroup // deliveries in flight
}

// Contract implements provider.Provider.
func (p *Provider) Contract() string { return Contract }

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

// PutLink connects (or reuses the lattice's connection) and subscribes.
func (p *Provider) PutLink(ctx context.Context, l provider.Link) error {
	p.DelLink(ctx, l) // a link put again replaces the first
	lk := &link{nc: p.rt.Conn()}
	if uri := l.Value("URI", ""); uri != "" {
		nc, err := nats.Connect(uri, nats.Name("wisp messaging provider"), nats.MaxReconnects(-1))
		if err != nil {
			return fmt.Errorf("link %s: connect %s: %w", l.Key(), uri, err)
		}
		lk.nc, lk.own = nc, true
	}
	if lk.nc == nil {
		return fmt.Errorf("link %s: no NATS connection (set URI)", l.Key())
	}
	for _, s := range l.List("SUBSCRIPTION") {
		subject, queue, _ := strings.Cut(s, "|")
		handler := func(m *nats.Msg) { p.deliver(lk, l.Actor, m) }
		var sub *nats.Subscription
		var err error
		if queue != "" {
			sub, err = lk.nc.QueueSubscribe(subject, queue, handler)
		} else {
			sub, err = lk.nc.Subscribe(subject, handler)
		}
		if err != nil {
			lk.close()
			return fmt.Errorf("link %s: subscribe %q: %w", l.Key(), s, err)
		}
		lk.subs = append(lk.subs, sub)
	}
	p.mu.Lock()
	p.links[key(l.Actor, l.LinkName())] = lk
	p.mu.Unlock()
	return nil
}

// deliver hands a message to the actor. Each message is delivered on the
// subscription's own goroutine, so one subscription's messages arrive in
// order.
func (p *Provider) deliver(lk *link, actor string, m *nats.Msg) {
	lk.wg.Add(1)
	defer lk.wg.Done()
	payload, err := msgpack.Marshal(&SubMessage{Subject: m.Subject, ReplyTo: m.Reply, Body: m.Data})
	if err != nil {
		return
	}
	// A publisher's traceparent goes on into the actor's call.
	ctx, cancel := context.WithTimeout(trace.Extract(context.Background(), m.Header), 30*time.Second)
	defer cancel()
	if _, err := p.rt.CallActor(ctx, actor, OpHandleMessage, payload); err != nil {
		p.rt.Logger().Warn("message not handled", "actor", actor, "subject", m.Subject, "err", err)
	}
}

func (lk *link) close() {
	for _, s := range lk.subs {
		s.Unsubscribe()
	}
	lk.wg.Wait()
	if lk.own {
		lk.nc.Close()
	}
}

// DelLink unsubscribes and waits for deliveries in flight.
func (p *Provider) DelLink(_ context.Context, l provider.Link) error {
	p.mu.Lock()
	lk := p.links[key(l.Actor, l.LinkName())]
	delete(p.links, key(l.Actor, l.LinkName()))
	p.mu.Unlock()
	if lk != nil {
		lk.close()
	}
	return nil
}

// Stop implements provider.Provider.
func (p *Provider) Stop(context.Context) error {
	p.mu.Lock()
	links := p.links
	p.links = map[string]*link{}
	p.mu.Unlock()
	for _, lk := range links {
		lk.close()
	}
	return nil
}

// Handle publishes or requests for the actor.
func (p *Provider) Handle(ctx context.Context, c provider.Call) ([]byte, error) {
	p.mu.Lock()
	lk := p.links[key(c.Actor, c.LinkName)]
	p.mu.Unlock()
	if lk == nil {
		return nil, fmt.Errorf("%w: %s has no %s link named %q", provider.ErrNotLinked, c.Actor, Contract, c.LinkName)
	}
	switch c.Operation {
	case OpPublish:
		var m PubMessage
		if err := bounded.Unmarshal(c.Payload, &m); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", c.Operation, provider.ErrBadPayload, err)
		}
		if err := lk.nc.PublishMsg(&nats.Msg{Subject: m.Subject, Reply: m.ReplyTo, Data: m.Body}); err != nil {
			return nil, fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		return nil, nil
	case OpRequest:
		var m RequestMessage
		if err := bounded.Unmarshal(c.Payload, &m); err != nil {
			return nil, fmt.Errorf("%s: %w: %v", c.Operation, provider.ErrBadPayload, err)
		}
		timeout := DefaultRequestTimeout
		if m.TimeoutMs > 0 {
			timeout = time.Duration(m.TimeoutMs) * time.Millisecond
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := lk.nc.RequestWithContext(rctx, m.Subject, m.Body)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("request %s: no one is listening", m.Subject)
		case err != nil:
			return nil, fmt.Errorf("request %s: %w", m.Subject, err)
		}
		return msgpack.Marshal(&ReplyMessage{Subject: resp.Subject, ReplyTo: resp.Reply, Body: resp.Data})
	}
	return nil, fmt.Errorf("%w %q for %s", provider.ErrUnknownOperation, c.Operation, Contract)
}
