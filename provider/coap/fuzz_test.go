package coap_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/provider/coap"
)

// FuzzRequestPayload decodes what an actor may send the CoAP gateway
// (Coap.Request) and answer it (Coap.HandleRequest's response) without
// panicking.
func FuzzRequestPayload(f *testing.F) {
	req, _ := msgpack.Marshal(coap.OutgoingRequest{URL: "coap://dev1/led", Method: "GET"})
	f.Add(req)
	f.Add([]byte{0x81, 0xa3, 'u', 'r', 'l', 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r coap.OutgoingRequest
		_ = msgpack.Unmarshal(b, &r)
		var resp coap.Response
		_ = msgpack.Unmarshal(b, &resp)
	})
}
