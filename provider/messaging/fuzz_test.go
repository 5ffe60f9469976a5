package messaging_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/provider/messaging"
)

// FuzzPayloads decodes what an actor may send the messaging provider (and
// the mqtt provider, which takes the same shapes) without panicking.
func FuzzPayloads(f *testing.F) {
	pub, _ := msgpack.Marshal(messaging.PubMessage{Subject: "a.b", ReplyTo: "r", Body: []byte("x")})
	req, _ := msgpack.Marshal(messaging.RequestMessage{Subject: "a.b", Body: []byte("x"), TimeoutMs: 100})
	f.Add(pub)
	f.Add(req)
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m messaging.PubMessage
		_ = msgpack.Unmarshal(b, &m)
		var r messaging.RequestMessage
		_ = msgpack.Unmarshal(b, &r)
	})
}
