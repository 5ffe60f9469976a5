package coap_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestHandlerAnswersDevices(t *testing.T) {
	h := sdktest.New(t)
	coap.Handle(func(_ context.Context, r *coap.Request) (*coap.Response, error) {
		switch r.Path {
		case "/quiet":
			return nil, nil
		case "/fail":
			return nil, errors.New("no " + r.Path)
		}
		return &coap.Response{Code: coap.Content, ContentFormat: r.ContentFormat, Payload: []byte(r.Method + " " + r.Path + "?" + r.Query + " from " + r.Device + "@" + r.Source + ": " + string(r.Payload))}, nil
	})
	resp, err := h.CoAP(&coap.Request{Method: "POST", Path: "/t", Query: "u=c", ContentFormat: coap.JSON, Payload: []byte("21"), Source: "10.0.0.2:5683", Device: "kitchen"})
	if err != nil || resp.Code != coap.Content || resp.ContentFormat != coap.JSON || string(resp.Payload) != "POST /t?u=c from kitchen@10.0.0.2:5683: 21" {
		t.Fatalf("POST /t = %+v, %v", resp, err)
	}
	if resp, err := h.CoAP(&coap.Request{Method: "PUT", Path: "/quiet", ContentFormat: coap.None}); err != nil || resp.Code != coap.Changed || resp.ContentFormat != coap.None {
		t.Fatalf("a nil response = %+v, %v", resp, err)
	}
	if _, err := h.CoAP(&coap.Request{Method: "GET", Path: "/fail"}); err == nil || err.Error() != "no /fail" {
		t.Fatalf("a failing handler = %v", err)
	}
	if _, err := h.Call("Coap.HandleRequest", []byte{0x81, 0xa4, 'p', 'a', 't', 'h'}); err == nil || !strings.HasPrefix(err.Error(), "Coap.HandleRequest: field path: ") {
		t.Fatalf("a truncated request = %v", err)
	}
}

func TestSendReachesTheDevice(t *testing.T) {
	h := sdktest.New(t)
	ctx := context.Background()
	h.Device(func(method, url string, contentFormat int32, payload []byte) (*coap.Response, error) {
		if url == "coap://gone/led" {
			return nil, errors.New("device timed out")
		}
		return coap.Text(coap.Changed, method+" "+url+" "+string(payload)), nil
	})
	resp, err := coap.Send(ctx, "default", "PUT", "coap://lamp/led", coap.TextPlain, []byte("on"), time.Second)
	if err != nil || resp.Code != coap.Changed || resp.ContentFormat != coap.TextPlain || string(resp.Payload) != "PUT coap://lamp/led on" {
		t.Fatalf("Send = %+v, %v", resp, err)
	}
	if resp, err := coap.Get(ctx, "coap://lamp/led"); err != nil || string(resp.Payload) != "GET coap://lamp/led " {
		t.Fatalf("Get = %+v, %v", resp, err)
	}
	if _, err := coap.Post(ctx, "coap://gone/led", coap.TextPlain, nil); err == nil || err.Error() != "coap POST coap://gone/led: device timed out" {
		t.Fatalf("Post to a gone device = %v", err)
	}
}
