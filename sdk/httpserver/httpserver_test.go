package httpserver_test

import (
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	provider "github.com/wisp-dev/wisp/provider/httpserver"
	"github.com/wisp-dev/wisp/sdk/httpserver"
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
