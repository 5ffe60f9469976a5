package sdktest

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	coapprovider "github.com/wisp-dev/wisp/provider/coap"
	httpprovider "github.com/wisp-dev/wisp/provider/httpserver"
	msgprovider "github.com/wisp-dev/wisp/provider/messaging"
	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/messaging"
)

const messagingContract = msgprovider.Contract

// HTTP delivers r to the actor's httpserver handler as the HTTP server
// provider does, and returns the actor's response.
func (h *Host) HTTP(r *httpserver.Request) (*httpserver.Response, error) {
	in, err := msgpack.Marshal(&httpprovider.Request{
		Method: r.Method, Path: r.Path, QueryString: r.QueryString, Header: r.Header, Body: r.Body,
	})
	if err != nil {
		return nil, fmt.Errorf("sdktest: encode HTTP request: %w", err)
	}
	out, err := h.Call(httpserver.Operation, in)
	if err != nil {
		return nil, err
	}
	var resp httpprovider.Response
	if err := msgpack.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("sdktest: the actor's HTTP response: %w", err)
	}
	return &httpserver.Response{StatusCode: int(resp.StatusCode), Header: resp.Header, Body: resp.Body}, nil
}

// Message delivers m to the actor's messaging handler as a messaging
// provider does for a link's subscription.
func (h *Host) Message(m messaging.Message) error {
	in, err := msgpack.Marshal(&msgprovider.SubMessage{Subject: m.Subject, ReplyTo: m.ReplyTo, Body: m.Body})
	if err != nil {
		return fmt.Errorf("sdktest: encode message: %w", err)
	}
	_, err = h.Call("MessageSubscriber.HandleMessage", in)
	return err
}

// CoAP delivers r to the actor's coap handler as the CoAP provider does
// for a device's request, and returns the actor's response.
func (h *Host) CoAP(r *coap.Request) (*coap.Response, error) {
	in, err := msgpack.Marshal(&coapprovider.Request{
		Method: r.Method, Path: r.Path, Query: r.Query, ContentFormat: r.ContentFormat,
		Payload: r.Payload, Source: r.Source, Device: r.Device,
	})
	if err != nil {
		return nil, fmt.Errorf("sdktest: encode CoAP request: %w", err)
	}
	out, err := h.Call("Coap.HandleRequest", in)
	if err != nil {
		return nil, err
	}
	var resp coapprovider.Response
	if err := msgpack.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("sdktest: the actor's CoAP response: %w", err)
	}
	return &coap.Response{Code: resp.Code, ContentFormat: resp.ContentFormat, Payload: resp.Payload}, nil
}

// Device makes fn answer the requests the actor sends to devices with
// coap.Send, coap.Get and coap.Post.
func (h *Host) Device(fn func(method, url string, contentFormat int32, payload []byte) (*coap.Response, error)) {
	h.Handle(coap.Contract, "Coap.Request", func(_ context.Context, c Call) ([]byte, error) {
		var r coapprovider.OutgoingRequest
		if err := msgpack.Unmarshal(c.Payload, &r); err != nil {
			return nil, fmt.Errorf("Coap.Request: bad payload: %w", err)
		}
		resp, err := fn(r.Method, r.URL, r.ContentFormat, r.Payload)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(&coapprovider.Response{Code: resp.Code, ContentFormat: resp.ContentFormat, Payload: resp.Payload})
	})
}

// messaging records a publish, or answers a request with the Reply
// registered for its subject.
func (h *Host) messaging(c Call) ([]byte, error) {
	switch c.Operation {
	case "Messaging.Publish":
		var m msgprovider.PubMessage
		if err := msgpack.Unmarshal(c.Payload, &m); err != nil {
			return nil, fmt.Errorf("Messaging.Publish: bad payload: %w", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.published = append(h.published, Message{Link: c.Binding, Subject: m.Subject, ReplyTo: m.ReplyTo, Body: m.Body})
		return nil, nil
	case "Messaging.Request":
		var m msgprovider.RequestMessage
		if err := msgpack.Unmarshal(c.Payload, &m); err != nil {
			return nil, fmt.Errorf("Messaging.Request: bad payload: %w", err)
		}
		h.mu.Lock()
		fn := h.replies[m.Subject]
		h.mu.Unlock()
		if fn == nil {
			return nil, fmt.Errorf("Messaging.Request to %s: no Reply for the subject: %w", m.Subject, ErrNoFake)
		}
		body, err := fn(Message{Link: c.Binding, Subject: m.Subject, Body: m.Body})
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(&msgprovider.ReplyMessage{Subject: m.Subject, Body: body})
	}
	return nil, fmt.Errorf("%s.%s: %w", messagingContract, c.Operation, ErrNoFake)
}
