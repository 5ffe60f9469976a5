// Package messaging is the actor side of wasmcloud:messaging, served over
// NATS by the messaging provider and over MQTT by the mqtt provider: publish
// and request on subjects (topics), and receive the messages a link
// subscribes the actor to.
//
//	func init() {
//		messaging.Handle(func(ctx context.Context, m messaging.Message) error {
//			return messaging.Publish(ctx, m.ReplyTo, "", m.Body)
//		})
//	}
package messaging

import (
	"context"
	"time"

	"github.com/wisp-dev/wisp/internal/msgpack"
	"github.com/wisp-dev/wisp/internal/wrap"
	"github.com/wisp-dev/wisp/sdk"
)

// Contract is the contract id.
const Contract = "wasmcloud:messaging"

// Message is a message received or a reply.
type Message struct {
	Subject string
	ReplyTo string
	Body    []byte
}

// Client reaches the provider linked under one link name.
type Client struct{ link string }

// New returns a client for the link named link.
func New(link string) Client { return Client{link: link} }

// Default is the client of the "default" link.
var Default = New("default")

// Handle registers fn for the messages the actor's links subscribe to.
func Handle(fn func(ctx context.Context, m Message) error) {
	sdk.Handle("MessageSubscriber.HandleMessage", func(ctx context.Context, payload []byte) ([]byte, error) {
		m, err := decode(payload)
		if err != nil {
			return nil, wrap.Error("MessageSubscriber.HandleMessage", err)
		}
		return nil, fn(ctx, m)
	})
}

// Publish sends body to subject; replyTo may be empty.
func (c Client) Publish(ctx context.Context, subject, replyTo string, body []byte) error {
	n := 2
	if replyTo != "" {
		n = 3
	}
	b := msgpack.AppendMapHeader(nil, n)
	b = msgpack.AppendString(b, "subject")
	b = msgpack.AppendString(b, subject)
	if replyTo != "" {
		b = msgpack.AppendString(b, "replyTo")
		b = msgpack.AppendString(b, replyTo)
	}
	b = msgpack.AppendString(b, "body")
	b = msgpack.AppendBytes(b, body)
	_, err := sdk.HostCall(ctx, c.link, Contract, "Messaging.Publish", b)
	if err != nil {
		return wrap.Error("publish "+subject, err)
	}
	return nil
}

// Request sends body to subject and waits up to timeout for one reply.
func (c Client) Request(ctx context.Context, subject string, body []byte, timeout time.Duration) (Message, error) {
	b := msgpack.AppendMapHeader(nil, 3)
	b = msgpack.AppendString(b, "subject")
	b = msgpack.AppendString(b, subject)
	b = msgpack.AppendString(b, "body")
	b = msgpack.AppendBytes(b, body)
	b = msgpack.AppendString(b, "timeoutMs")
	b = msgpack.AppendUint(b, uint64(timeout/time.Millisecond))
	out, err := sdk.HostCall(ctx, c.link, Contract, "Messaging.Request", b)
	if err != nil {
		return Message{}, wrap.Error("request "+subject, err)
	}
	m, err := decode(out)
	if err != nil {
		return Message{}, wrap.Error("request "+subject, err)
	}
	return m, nil
}

func decode(b []byte) (Message, error) {
	var m Message
	n, rest, err := msgpack.ReadMapHeader(b)
	if err != nil {
		return m, err
	}
	for range n {
		var k string
		if k, rest, err = msgpack.ReadString(rest); err != nil {
			return m, err
		}
		switch k {
		case "subject":
			m.Subject, rest, err = msgpack.ReadString(rest)
		case "replyTo":
			if len(rest) > 0 && rest[0] == 0xc0 {
				rest, err = rest[1:], nil
			} else {
				m.ReplyTo, rest, err = msgpack.ReadString(rest)
			}
		case "body":
			var body []byte
			body, rest, err = msgpack.ReadBytes(rest)
			m.Body = append([]byte(nil), body...)
		default:
			rest, err = msgpack.Skip(rest)
		}
		if err != nil {
			return m, wrap.Error("field "+k, err)
		}
	}
	return m, nil
}

// Publish sends body to subject on the default link.
func Publish(ctx context.Context, subject, replyTo string, body []byte) error {
	return Default.Publish(ctx, subject, replyTo, body)
}

// Request sends body to subject on the default link and waits for a reply.
func Request(ctx context.Context, subject string, body []byte, timeout time.Duration) (Message, error) {
	return Default.Request(ctx, subject, body, timeout)
}
