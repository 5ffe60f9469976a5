package main

import (
	"context"
	"testing"

	"github.com/wisp-dev/wisp/sdk/coap"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestStoresReadsAndForgetsReadings(t *testing.T) {
	h := sdktest.New(t)
	call := func(method, path string, payload string) *coap.Response {
		t.Helper()
		resp, err := h.CoAP(&coap.Request{Method: method, Path: path, Payload: []byte(payload), ContentFormat: coap.TextPlain})
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp
	}
	if r := call("GET", "/sensors/temp", ""); r.Code != coap.NotFound {
		t.Fatalf("GET before any reading: %+v", r)
	}
	if r := call("POST", "/sensors/temp", "21.5"); r.Code != coap.Changed {
		t.Fatalf("POST: %+v", r)
	}
	if r := call("GET", "/sensors/temp", ""); r.Code != coap.Content || string(r.Payload) != "21.5" {
		t.Fatalf("GET after POST: %+v", r)
	}
	if r := call("DELETE", "/sensors/temp", ""); r.Code != coap.Deleted {
		t.Fatalf("DELETE: %+v", r)
	}
	if r := call("GET", "/sensors/temp", ""); r.Code != coap.NotFound {
		t.Fatalf("GET after DELETE: %+v", r)
	}
	if r := call("PATCH", "/sensors/temp", ""); r.Code != coap.NotAllowed {
		t.Fatalf("PATCH: %+v", r)
	}
	if r := call("GET", "/elsewhere", ""); r.Code != coap.NotFound {
		t.Fatalf("GET /elsewhere: %+v", r)
	}
}

func TestStoresNotificationsOfRegisteredDevices(t *testing.T) {
	h := sdktest.New(t)
	if _, err := h.CoAP(&coap.Request{Method: "NOTIFY", Path: "/temp", Device: "kitchen", Payload: []byte("19")}); err != nil {
		t.Fatal(err)
	}
	if v, found, _ := h.KeyValue("default").Get(context.Background(), "sensor:kitchen/temp"); !found || v != "19" {
		t.Fatalf("sensor:kitchen/temp = %q, %v", v, found)
	}
}

func TestDrivesDevices(t *testing.T) {
	h := sdktest.New(t)
	var sent []string
	h.Device(func(method, url string, _ int32, payload []byte) (*coap.Response, error) {
		sent = append(sent, method+" "+url+" "+string(payload))
		return coap.Text(coap.Content, "on"), nil
	})
	for _, r := range []coap.Request{
		{Method: "GET", Path: "/devices/lamp/led", Query: "set=on"},
		{Method: "GET", Path: "/devices/lamp/led"},
		{Method: "GET", Path: "/relay", Query: "url=coap://10.0.0.9:5683/temp"},
	} {
		if resp, err := h.CoAP(&r); err != nil || string(resp.Payload) != "on" {
			t.Fatalf("%s %s?%s = %+v, %v", r.Method, r.Path, r.Query, resp, err)
		}
	}
	want := []string{"PUT coap://lamp/led on", "GET coap://lamp/led ", "GET coap://10.0.0.9:5683/temp "}
	if len(sent) != len(want) || sent[0] != want[0] || sent[1] != want[1] || sent[2] != want[2] {
		t.Fatalf("sent %q, want %q", sent, want)
	}
}
