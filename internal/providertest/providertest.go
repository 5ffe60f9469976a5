// Package providertest runs capability providers next to a real host for
// tests: an embedded NATS server, a host whose linked host calls go out on
// the provider subjects (the wire protocol of a link), and runners.
package providertest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/authtest"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/lattice/trace"
	"github.com/wisp-dev/wisp/provider"
	"github.com/wisp-dev/wisp/provider/runner"
)

// WireRouter sends every host call that is not a builtin to the provider
// subject of its contract and binding, with the calling actor in
// Wisp-Source.
type WireRouter struct{ NC *nats.Conn }

// Route implements host.Router.
func (w WireRouter) Route(ctx context.Context, actor string, call engine.HostCall) ([]byte, error) {
	m := nats.NewMsg(lattice.ProviderSubject(lattice.DefaultLattice, call.Namespace, call.Binding))
	m.Header.Set(lattice.HeaderOperation, call.Operation)
	m.Header.Set(lattice.HeaderSource, actor)
	m.Data = call.Payload
	trace.Inject(ctx, m.Header) // as the host's own router does
	resp, err := w.NC.RequestMsgWithContext(ctx, m)
	if err != nil {
		return nil, err
	}
	if e := resp.Header.Get(lattice.HeaderError); e != "" {
		return nil, errors.New(e)
	}
	return resp.Data, nil
}

// Env is a NATS server and a host on it.
type Env struct {
	NC   *nats.Conn
	Host *host.Host
}

// New starts an embedded NATS server (JetStream on) and a host with extra
// options; by default the host runs unsigned actors.
func New(t testing.TB, opts ...host.Option) *Env {
	t.Helper()
	ctx := context.Background()
	nc := authtest.Start(t, natsserver.Config{Port: -1}).Connect(t, auth.HostUser)
	opts = append([]host.Option{host.WithLogger(Discard()), host.WithPolicy(host.Policy{AllowUnsigned: true}),
		host.WithRouter(WireRouter{nc}), host.WithFileDirs(os.TempDir())}, opts...)
	h, err := host.New(ctx, nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	return &Env{NC: nc, Host: h}
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// StartActor runs wasm as an actor with count instances and returns its
// name.
func (e *Env) StartActor(t testing.TB, wasm []byte, file string, count int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := e.Host.StartActor(context.Background(), lattice.StartActorRequest{Ref: p, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	return a.Name()
}

// Local runs calls on the host's own actors.
func (e *Env) Local(ctx context.Context, actor, op string, payload []byte) ([]byte, bool, error) {
	a, ok := e.Host.Actor(actor)
	if !ok {
		return nil, false, nil
	}
	out, err := a.Invoke(ctx, op, payload)
	return out, true, err
}

// Run starts the provider registered as name; with local, its calls to
// the host's actors take the in-process path.
func (e *Env) Run(t testing.TB, name string, local bool) *runner.Runner {
	t.Helper()
	p, err := provider.New(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := runner.Config{Conn: e.NC, Logger: Discard()}
	if local {
		cfg.Local = e.Local
	}
	r, err := runner.Start(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return r
}
