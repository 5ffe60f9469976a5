package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/sdk/messaging"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestHandlerGetsMessagesAndPublishes(t *testing.T) {
	h := sdktest.New(t)
	messaging.Handle(func(ctx context.Context, m messaging.Message) error {
		if string(m.Body) == "fail" {
			return errors.New("refused " + m.Subject)
		}
		return messaging.Publish(ctx, m.ReplyTo, "", []byte(strings.ToUpper(string(m.Body))))
	})
	if err := h.Message(messaging.Message{Subject: "in", ReplyTo: "_INBOX.1", Body: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	if err := h.Message(messaging.Message{Subject: "in", Body: []byte("fail")}); err == nil || err.Error() != "refused in" {
		t.Fatalf("a failing handler: %v", err)
	}
	pub := h.Published()
	if len(pub) != 1 || pub[0].Subject != "_INBOX.1" || string(pub[0].Body) != "HI" || pub[0].Link != "default" {
		t.Fatalf("published %+v", pub)
	}
}

func TestPublishCarriesReplyToOverItsLink(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	if err := messaging.New("mqtt").Publish(ctx, "a/b", "c/d", []byte{0, 1}); err != nil {
		t.Fatal(err)
	}
	pub := h.Published()
	if len(pub) != 1 || pub[0].Link != "mqtt" || pub[0].Subject != "a/b" || pub[0].ReplyTo != "c/d" || string(pub[0].Body) != "\x00\x01" {
		t.Fatalf("published %+v", pub)
	}
}

func TestRequestGetsTheReply(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	h.Reply("time.now", func(req sdktest.Message) ([]byte, error) {
		return append([]byte("12:00 for "), req.Body...), nil
	})
	m, err := messaging.Request(ctx, "time.now", []byte("ada"), time.Second)
	if err != nil || string(m.Body) != "12:00 for ada" || m.Subject != "time.now" {
		t.Fatalf("Request = %+v, %v", m, err)
	}
	if _, err := messaging.Request(ctx, "nobody.home", nil, time.Second); !errors.Is(err, sdktest.ErrNoFake) || !strings.HasPrefix(err.Error(), "request nobody.home: ") {
		t.Fatalf("Request with no responder = %v", err)
	}
}
