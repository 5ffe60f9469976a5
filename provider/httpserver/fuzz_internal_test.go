package httpserver

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeResponse feeds the actor's answer decoder what a guest could
// return: it never panics, and what it accepts has a status code.
func FuzzDecodeResponse(f *testing.F) {
	good, _ := msgpack.Marshal(map[string]any{"statusCode": 200, "header": map[string][]string{"A": {"b"}}, "body": []byte("hi")})
	f.Add(good)
	f.Add([]byte{0x80})
	f.Add([]byte{0x81, 0xa6, 'h', 'e', 'a', 'd', 'e', 'r', 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp Response
		_ = decodeResponse(b, &resp)
	})
}
