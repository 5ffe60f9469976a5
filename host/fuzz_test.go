package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/natsserver"
)

// FuzzControlRequest sends arbitrary bodies to a live host's control
// interface, over NATS as any requester would: whatever arrives, the host
// answers with an acknowledgement (accepted, or an error saying why) and
// keeps serving; nothing it is asked for exceeds its ceilings.
func FuzzControlRequest(f *testing.F) {
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, NoJetStream: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(nc.Close)
	dir := f.TempDir()
	guest := filepath.Join(dir, "guest.wasm")
	if err := os.WriteFile(guest, testwasm.Wat(f, filepath.Join("engine", "testdata", "guest.wat")), 0o644); err != nil {
		f.Fatal(err)
	}
	h, err := host.New(ctx, nc, host.WithEngineInstance(sharedEngine), host.WithPolicy(host.Policy{AllowUnsigned: true}),
		host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), host.WithFileDirs(dir),
		host.WithCeilings(host.Ceilings{Instances: 4, HostInstances: 8}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Stop(context.Background()) })
	if _, err := h.StartActor(ctx, lattice.StartActorRequest{Ref: guest}); err != nil {
		f.Fatal(err)
	}
	verbs := []string{lattice.VerbInventory, lattice.VerbStartActor, lattice.VerbScaleActor, lattice.VerbStopActor, "no_such_verb"}
	for _, seed := range []struct {
		verb uint8
		body string
	}{
		{0, ""},
		{1, `{"ref":"/dev/zero"}`},
		{1, `{"ref":"` + guest + `","name":"second","count":1000000000}`},
		{1, `{"ref":"` + guest + `","name":"third","limits":{"max_memory_pages":4294967295,"call_timeout_ms":-1}}`},
		{1, `{"ref":"registry.example/a/b:1"}`},
		{2, `{"actor":"guest","count":1000000000}`},
		{2, `{"actor":"guest","count":3}`},
		{2, `{"actor":"guest","count":-5}`},
		{3, `{"actor":"nobody"}`},
		{4, `{}`},
		{1, `{"ref":`},
		{2, "\xff\x00"},
	} {
		f.Add(seed.verb, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, verb uint8, body []byte) {
		subject := lattice.HostSubject(h.Lattice(), h.ID(), verbs[int(verb)%len(verbs)])
		reply, err := nc.Request(subject, body, 5*time.Second)
		if err != nil {
			t.Fatalf("%s %q: no answer: %v", subject, body, err)
		}
		var ack lattice.Ack
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			t.Fatalf("%s %q: the answer %q is not an acknowledgement: %v", subject, body, reply.Data, err)
		}
		if !ack.Accepted && ack.Error == "" {
			t.Fatalf("%s %q: refused without saying why: %s", subject, body, reply.Data)
		}
		if n := h.Summary().Instances; n > 8 {
			t.Fatalf("%s %q: the host runs %d instances, above its ceiling of 8", subject, body, n)
		}
	})
}
