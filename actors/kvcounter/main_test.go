package main

import (
	"context"
	"errors"
	"testing"

	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/keyvalue"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestCountsEachPathApart(t *testing.T) {
	h := sdktest.New(t)
	for _, want := range []struct{ path, body string }{
		{"/a", `{"counter":1}`},
		{"/a", `{"counter":2}`},
		{"/b", `{"counter":1}`},
	} {
		resp, err := h.HTTP(&httpserver.Request{Method: "GET", Path: want.path})
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != want.body+"\n" || resp.Header["Content-Type"][0] != "application/json" {
			t.Fatalf("GET %s = %+v, %v", want.path, resp, err)
		}
	}
	if v, _, _ := h.KeyValue("default").Get(context.Background(), "counter:/a"); v != "2" {
		t.Fatalf("counter:/a holds %q", v)
	}
}

func TestAStoreErrorIsA500(t *testing.T) {
	h := sdktest.New(t)
	h.Handle(keyvalue.Contract, "KeyValue.Increment", func(context.Context, sdktest.Call) ([]byte, error) {
		return nil, errors.New("bucket unavailable")
	})
	resp, err := h.HTTP(&httpserver.Request{Method: "GET", Path: "/a"})
	if err != nil || resp.StatusCode != 500 || string(resp.Body) != "KeyValue.Increment: bucket unavailable\n" {
		t.Fatalf("GET /a with the store down = %+v, %v", resp, err)
	}
}
