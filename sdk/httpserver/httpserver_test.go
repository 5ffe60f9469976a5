package httpserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	provider "github.com/wisp-dev/wisp/provider/httpserver"
	"github.com/wisp-dev/wisp/sdk/httpserver"
	"github.com/wisp-dev/wisp/sdk/sdktest"
)

// TestAgreesWithTheProvider: what the provider encodes the SDK decodes, and
// the other way round.
func TestAgreesWithTheProvider(t *testing.T) {
	in := provider.Request{Method: "POST", Path: "/a/b", QueryString: "q=1", Header: map[string][]string{"X-A": {"1", "2"}}, Body: []byte("body")}
	b, err := msgpack.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := httpserver.DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.Path != "/a/b" || r.QueryString != "q=1" || string(r.Body) != "body" || strings.Join(r.Header["X-A"], ",") != "1,2" {
		t.Fatalf("decoded %+v", r)
	}
	out := httpserver.Text(404, "nope").Encode()
	var resp provider.Response
	if err := msgpack.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || string(resp.Body) != "nope" || !strings.HasPrefix(resp.Header["Content-Type"][0], "text/plain") {
		t.Fatalf("provider read %+v", resp)
	}
	if _, err := httpserver.DecodeRequest([]byte{0x81, 0xa4, 'p', 'a', 't', 'h'}); err == nil {
		t.Fatal("truncated request decoded")
	}
}

func TestHandlerServesRequests(t *testing.T) {
	h := sdktest.New(t)
	httpserver.Handle(func(_ context.Context, r *httpserver.Request) (*httpserver.Response, error) {
		switch r.Path {
		case "/empty":
			return nil, nil
		case "/fail":
			return nil, errors.New("no " + r.Path)
		}
		resp := httpserver.Text(200, r.Method+" "+r.Path+"?"+r.QueryString+" "+string(r.Body))
		resp.Header["X-Seen"] = r.Header["X-A"]
		return resp, nil
	})
	resp, err := h.HTTP(&httpserver.Request{Method: "POST", Path: "/p", QueryString: "q=1", Header: map[string][]string{"X-A": {"1", "2"}}, Body: []byte("b")})
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != "POST /p?q=1 b" || strings.Join(resp.Header["X-Seen"], ",") != "1,2" {
		t.Fatalf("POST /p = %+v, %v", resp, err)
	}
	if resp, err := h.HTTP(&httpserver.Request{Method: "GET", Path: "/empty"}); err != nil || resp.StatusCode != 204 || len(resp.Body) != 0 {
		t.Fatalf("a nil response = %+v, %v", resp, err)
	}
	if _, err := h.HTTP(&httpserver.Request{Method: "GET", Path: "/fail"}); err == nil || err.Error() != "no /fail" {
		t.Fatalf("a failing handler = %v", err)
	}
	if _, err := h.Call(httpserver.Operation, []byte{0x81, 0xa4, 'p', 'a', 't', 'h'}); err == nil || !strings.HasPrefix(err.Error(), "HttpServer.HandleRequest: field path: ") {
		t.Fatalf("a truncated request = %v", err)
	}
}
