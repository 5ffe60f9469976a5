package main

import (
	"testing"

	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

func TestSaysHelloToTheQueryOrTheBody(t *testing.T) {
	h := sdktest.New(t)
	for _, tc := range []struct {
		r    httpserver.Request
		want string
	}{
		{httpserver.Request{Method: "GET", Path: "/"}, "Hello, world!\n"},
		{httpserver.Request{Method: "GET", Path: "/x", QueryString: "name=Ada"}, "Hello, Ada!\n"},
		{httpserver.Request{Method: "POST", Path: "/y", QueryString: "name=Ada", Body: []byte(" Grace\n")}, "Hello, Grace!\n"},
	} {
		resp, err := h.HTTP(&tc.r)
		if err != nil || resp.StatusCode != 200 || string(resp.Body) != tc.want {
			t.Fatalf("%s %s?%s = %+v, %v", tc.r.Method, tc.r.Path, tc.r.QueryString, resp, err)
		}
		if p := resp.Header["X-Wisp-Path"]; len(p) != 1 || p[0] != tc.r.Path {
			t.Fatalf("X-Wisp-Path = %q, want %s", p, tc.r.Path)
		}
	}
}
