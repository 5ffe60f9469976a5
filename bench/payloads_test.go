package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/chunked"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// bigEcho echoes payloads of up to 64 MiB.
const bigEcho = `(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (memory (export "memory") 1025)
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $guest_request (i32.const 0) (i32.const 4096))
    (call $guest_response (i32.const 4096) (local.get $len))
    (i32.const 1)))`

// BenchmarkLargePayload echoes 1 MiB and 16 MiB on a server with NATS's
// default max_payload (1 MiB), every party over TCP: through a wisp host
// (lattice.Client.Call, the bodies chunked by lattice/chunked) and, as the
// baseline in the same position, through a raw nats.go responder that
// takes the body from a JetStream object store and puts its answer there
// (the caller puts, requests with the object's name, gets the answer and
// deletes both objects).
func BenchmarkLargePayload(b *testing.B) {
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, MaxPayload: 1 << 20, StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	dial := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		return nc
	}
	h, err := host.New(ctx, dial(), host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithFileDirs(os.TempDir()),
		host.WithDefaultLimits(lattice.ActorLimits{MaxPayload: chunked.MaxBody, MaxMemoryPages: 1100, CallTimeoutMS: 60_000}))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Stop(ctx)
	p := filepath.Join(b.TempDir(), "big.wasm")
	if err := os.WriteFile(p, wat(b, bigEcho), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: p, Count: 1}); err != nil {
		b.Fatal(err)
	}
	client, err := lattice.NewClient(dial(), lattice.WithTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}

	// The baseline: a raw responder over the object store.
	rjs, err := jetstream.New(dial())
	if err != nil {
		b.Fatal(err)
	}
	robj, err := rjs.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "bench", Storage: jetstream.MemoryStorage})
	if err != nil {
		b.Fatal(err)
	}
	rnc := dial()
	rnc.Subscribe("raw.big", func(m *nats.Msg) {
		body, err := robj.GetBytes(ctx, string(m.Data))
		if err != nil {
			m.Respond(nil)
			return
		}
		name := string(m.Data) + ".reply"
		if _, err := robj.PutBytes(ctx, name, body); err != nil {
			m.Respond(nil)
			return
		}
		m.Respond([]byte(name))
	})
	rnc.Flush()
	cnc := dial()
	cjs, err := jetstream.New(cnc)
	if err != nil {
		b.Fatal(err)
	}
	cobj, err := cjs.ObjectStore(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	raw := func(payload []byte) ([]byte, error) {
		n++
		name := fmt.Sprintf("call-%d", n)
		if _, err := cobj.PutBytes(ctx, name, payload); err != nil {
			return nil, err
		}
		reply, err := cnc.Request("raw.big", []byte(name), time.Minute)
		if err != nil {
			return nil, err
		}
		out, err := cobj.GetBytes(ctx, string(reply.Data))
		cobj.Delete(ctx, name)
		cobj.Delete(ctx, string(reply.Data))
		return out, err
	}
	wisp := func(payload []byte) ([]byte, error) { return client.Call(ctx, "big", "Echo", payload) }

	for _, size := range []int{1 << 20, 16 << 20} {
		payload := bytes.Repeat([]byte("p"), size)
		for _, c := range []struct {
			name string
			call func([]byte) ([]byte, error)
		}{{"raw-objectstore", raw}, {"wisp-chunked", wisp}} {
			b.Run(fmt.Sprintf("%s/%dMiB", c.name, size>>20), func(b *testing.B) {
				b.SetBytes(int64(size))
				for i := 0; i < b.N; i++ {
					out, err := c.call(payload)
					if err != nil || len(out) != size {
						b.Fatalf("echo of %d bytes: %d bytes, %v", size, len(out), err)
					}
				}
			})
		}
	}
}
