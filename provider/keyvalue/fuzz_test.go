package keyvalue

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// FuzzDispatch decodes arbitrary payloads for every wasmcloud:keyvalue
// operation against a real JetStream bucket: a payload an actor sends can
// fail the call, never the provider, and what succeeds answers with
// MessagePack.
func FuzzDispatch(f *testing.F) {
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(nc.Close)
	s, err := OpenJetStream(ctx, nc, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	ops := []string{"KeyValue.Get", "KeyValue.Set", "KeyValue.Del", "KeyValue.Contains", "KeyValue.Increment",
		"KeyValue.ListAdd", "KeyValue.ListClear", "KeyValue.ListDel", "KeyValue.ListRange", "KeyValue.SetAdd",
		"KeyValue.SetDel", "KeyValue.SetClear", "KeyValue.SetQuery", "KeyValue.SetUnion", "KeyValue.SetIntersection"}
	seed := func(op int, v any) {
		b, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(op), b)
	}
	seed(0, "k")
	seed(1, SetRequest{Key: "k", Value: "v", Expires: 1})
	seed(4, IncrementRequest{Key: "n", Value: 1 << 30})
	seed(5, ListAddRequest{ListName: "l", Value: "x"})
	seed(8, ListRangeRequest{ListName: "l", Start: -2147483648, Stop: 2147483647})
	seed(9, SetAddRequest{SetName: "s", Value: "x"})
	seed(13, []string{"s", "t"})
	f.Add(uint8(1), []byte{0xdf, 0xff, 0xff, 0xff, 0xff})  // a map declaring 2³²-1 entries
	f.Add(uint8(13), []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}) // an array declaring 2³¹-1 entries
	// Found by this target in CI: 8 bytes declaring a 2 GiB bin, and an
	// 800 MiB ext in a map, which the decoder allocated before reading.
	f.Add(uint8(0), []byte("\xc6\x86\xf6\x91\x14\xc3s\xc3"))
	f.Add(uint8(9), []byte("\x82\xa70000000\xc9000000"))
	f.Fuzz(func(t *testing.T, op uint8, payload []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := Dispatch(ctx, s, ops[int(op)%len(ops)], payload)
		if err != nil || out == nil {
			return // a refused call, or one that answers nothing
		}
		var v any
		if err := msgpack.Unmarshal(out, &v); err != nil {
			t.Fatalf("%s %x answered %x, which is not MessagePack: %v", ops[int(op)%len(ops)], payload, out, err)
		}
	})
}
