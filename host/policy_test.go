package host_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

type signer struct{ account, module *claims.KeyPair }

func newSigner(t *testing.T) signer {
	t.Helper()
	a, err := claims.GenerateKeyPair(claims.KindAccount)
	if err != nil {
		t.Fatal(err)
	}
	m, err := claims.GenerateKeyPair(claims.KindModule)
	if err != nil {
		t.Fatal(err)
	}
	return signer{a, m}
}

func (s signer) sign(t *testing.T, wasm []byte, alias string, caps ...string) []byte {
	t.Helper()
	out, err := claims.Sign(wasm, claims.SignOptions{Name: alias, CallAlias: alias, Caps: caps}, s.account, s.module)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startErr starts wasm with the default request and returns the error.
func (e *env) startErr(t *testing.T, wasm []byte, file string) error {
	t.Helper()
	p := filepath.Join(t.TempDir(), file)
	os.WriteFile(p, wasm, 0o644)
	_, err := e.client.StartActor(context.Background(), e.host.ID(), lattice.StartActorRequest{Ref: p})
	return err
}

func TestHostRefusesUnsignedActorsByDefault(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	err := e.startErr(t, testwasm.GoActor(t, "actors/echo"), "echo.wasm")
	if err == nil || !strings.Contains(err.Error(), "not signed") || !strings.Contains(err.Error(), "--allow-unsigned") {
		t.Fatalf("unsigned start = %v, want a refusal that says how to fix it", err)
	}
}

func TestHostRunsSignedActorUnderAliasAndKey(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	s := newSigner(t)
	if err := e.startErr(t, s.sign(t, testwasm.GoActor(t, "actors/echo"), "echo"), "whatever.wasm"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := s.module.PublicKey()
	for _, name := range []string{"echo", key} {
		if out, err := e.client.Call(ctx, name, "Echo.Reply", []byte("signed")); err != nil || string(out) != "signed" {
			t.Fatalf("call %s = %q, %v", name, out, err)
		}
	}
	inv := e.host.Inventory()
	if len(inv.Actors) != 1 {
		t.Fatalf("inventory = %+v", inv.Actors)
	}
	d := inv.Actors[0]
	if d.Name != "echo" || d.Key != key || d.Issuer != s.account.PublicKey() || d.ClaimsName != "echo" {
		t.Fatalf("actor description = %+v", d)
	}
	// The same module key cannot start twice, under any alias.
	if err := e.startErr(t, s.sign(t, testwasm.GoActor(t, "actors/echo"), "echo2"), "x.wasm"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second start of the same key = %v", err)
	}
	if err := e.client.StopActor(ctx, e.host.ID(), key); err != nil {
		t.Fatalf("stop by module key: %v", err)
	}
	if _, err := e.client.Call(ctx, "echo", "Echo.Reply", nil); !errors.Is(err, lattice.ErrActorNotRunning) {
		t.Fatalf("call after stop = %v", err)
	}
}

func TestHostRefusesTamperedModule(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	signed := newSigner(t).sign(t, testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat")), "wat")
	// Change one byte of code: the data segment string "planned failure".
	i := strings.Index(string(signed), "planned failure")
	tampered := append([]byte(nil), signed...)
	tampered[i] = 'P'
	err := e.startErr(t, tampered, "wat.wasm")
	if !errors.As(err, new(*lattice.RemoteError)) || !strings.Contains(err.Error(), "hash does not match") {
		t.Fatalf("tampered start = %v", err)
	}
	if len(e.host.Inventory().Actors) != 0 {
		t.Fatal("a tampered module started")
	}
}

func TestHostAllowedIssuers(t *testing.T) {
	trusted, other := newSigner(t), newSigner(t)
	e := newEnv(t, host.WithPolicy(host.Policy{AllowedIssuers: []string{trusted.account.PublicKey()}}))
	wasm := testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat"))
	if err := e.startErr(t, other.sign(t, wasm, "other"), "o.wasm"); err == nil || !strings.Contains(err.Error(), "issuer is not allowed") {
		t.Fatalf("foreign issuer = %v", err)
	}
	if err := e.startErr(t, trusted.sign(t, wasm, "trusted"), "t.wasm"); err != nil {
		t.Fatalf("trusted issuer = %v", err)
	}
}

// TestHostCallsLimitedToClaimedCaps: a signed actor reaches only the
// contracts its claims list, builtins included.
func TestHostCallsLimitedToClaimedCaps(t *testing.T) {
	r := &testingRouter{}
	e := newEnv(t, host.WithPolicy(host.Policy{}), host.WithRouter(r))
	probe := testwasm.GoActor(t, "internal/testactors/probe")
	ctx := context.Background()
	if err := e.startErr(t, newSigner(t).sign(t, probe, "nocaps"), "p.wasm"); err != nil {
		t.Fatal(err)
	}
	if err := e.startErr(t, newSigner(t).sign(t, probe, "kv", claims.CapKeyValue), "p.wasm"); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.Call(ctx, "nocaps", "Probe.Link", []byte("k"))
	if err == nil || !strings.Contains(err.Error(), "may not use wasmcloud:keyvalue") {
		t.Fatalf("uncapped host call = %v", err)
	}
	_, err = e.client.Call(ctx, "kv", "Probe.Link", []byte("k"))
	if err == nil || !strings.Contains(err.Error(), "no link") {
		t.Fatalf("capped host call = %v, want it to reach the router", err)
	}
	if _, err := e.client.Call(ctx, "nocaps", "Probe.Dice", nil); err == nil || !strings.Contains(err.Error(), "may not use wasmcloud:builtin:numbergen") {
		t.Fatalf("builtin without its claim = %v", err)
	}
	if err := e.startErr(t, newSigner(t).sign(t, probe, "dice", host.ContractNumberGen), "p.wasm"); err != nil {
		t.Fatal(err)
	}
	if out, err := e.client.Call(ctx, "dice", "Probe.Dice", nil); err != nil || len(out) != 1 {
		t.Fatalf("builtin with its claim = %q, %v", out, err)
	}
}

// messagingRouter records what actors publish through wasmcloud:messaging.
type messagingRouter struct {
	published chan pubMessage
}

type pubMessage struct {
	Subject string `msgpack:"subject"`
	ReplyTo string `msgpack:"replyTo"`
	Body    []byte `msgpack:"body"`
}

func (r *messagingRouter) Route(_ context.Context, _ string, c engine.HostCall) ([]byte, error) {
	if c.Namespace != claims.CapMessaging || c.Operation != "Messaging.Publish" {
		return nil, host.ErrNoLink
	}
	var m pubMessage
	if err := msgpack.Unmarshal(c.Payload, &m); err != nil {
		return nil, err
	}
	r.published <- m
	return nil, nil
}

// TestWascapSignedWasmCloudActorRuns starts a wasmCloud actor signed by
// wascap (section wasmcloud_jwt) under the default policy and drives it the
// way wasmCloud's messaging provider would.
func TestWascapSignedWasmCloudActorRuns(t *testing.T) {
	r := &messagingRouter{published: make(chan pubMessage, 1)}
	e := newEnv(t, host.WithPolicy(host.Policy{}), host.WithRouter(r))
	if err := e.startErr(t, testwasm.Conformance(t, "wascap/echo_messaging_v0.9.0.wasm"), "echo_messaging.wasm"); err != nil {
		t.Fatal(err)
	}
	inv := e.host.Inventory()
	d := inv.Actors[0]
	if !strings.HasPrefix(d.Key, "M") || len(d.Caps) != 2 {
		t.Fatalf("actor = %+v", d)
	}
	sub, _ := msgpack.Marshal(map[string]any{"subject": "in.subject", "replyTo": "reply.here", "body": []byte("ping")})
	if _, err := e.client.Call(context.Background(), d.Name, "MessageSubscriber.HandleMessage", sub); err != nil {
		t.Fatal(err)
	}
	got := <-r.published
	if got.Subject != "reply.here" || string(got.Body) != "reply: ping" {
		t.Fatalf("published %+v", got)
	}
}

// TestSignedButNotWaPCIsRefusedClearly: wascap's signed_loop.wasm has
// valid claims but no waPC exports.
func TestSignedButNotWaPCIsRefusedClearly(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	err := e.startErr(t, testwasm.Conformance(t, "wascap/signed_loop.wasm"), "signed_loop.wasm")
	if err == nil || !strings.Contains(err.Error(), "not a waPC module") {
		t.Fatalf("signed_loop = %v", err)
	}
}

// TestTwoModulesCannotShareAnAlias: a second host refuses a different
// module under an alias the lattice already serves; the same module may
// run on both.
func TestTwoModulesCannotShareAnAlias(t *testing.T) {
	e := newEnv(t, host.WithPolicy(host.Policy{}))
	nc := e.lat.ConnectInProcess(t, auth.HostUser)
	second, err := host.New(context.Background(), nc, host.WithEngineInstance(sharedEngine), host.WithFileDirs(os.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop(context.Background())

	guest := testwasm.Wat(t, filepath.Join("engine", "testdata", "guest.wat"))
	s := newSigner(t)
	same := s.sign(t, guest, "shared")
	if err := e.startErr(t, same, "a.wasm"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "b.wasm")
	os.WriteFile(p, same, 0o644)
	if _, err := second.StartActor(context.Background(), lattice.StartActorRequest{Ref: p}); err != nil {
		t.Fatalf("the same module on a second host = %v", err)
	}
	other := newSigner(t).sign(t, guest, "shared")
	os.WriteFile(p, other, 0o644)
	second.StopActor(context.Background(), "shared")
	_, err = second.StartActor(context.Background(), lattice.StartActorRequest{Ref: p})
	if err == nil || !strings.Contains(err.Error(), `alias "shared" is already used`) {
		t.Fatalf("another module under the same alias = %v", err)
	}
}

// TestVersionsOfOneAppComponentShareTheAlias: two versions of an
// application component's unsigned module (each its own digest) may run
// on two hosts at once, as during a rollout that grows onto a host that
// ran none; a module started by hand, or for another component, is still
// refused the alias.
func TestVersionsOfOneAppComponentShareTheAlias(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, host.WithPolicy(host.Policy{AllowUnsigned: true}))
	nc := e.lat.ConnectInProcess(t, auth.HostUser)
	second, err := host.New(ctx, nc, host.WithEngineInstance(sharedEngine), host.WithFileDirs(os.TempDir()),
		host.WithPolicy(host.Policy{AllowUnsigned: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop(ctx)
	dir := t.TempDir()
	module := func(v string) string {
		p := filepath.Join(dir, v+".wasm")
		if err := os.WriteFile(p, testwasm.Versioned(t, v, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	owned := func(app, comp string) map[string]string {
		return map[string]string{lattice.AnnotationManagedBy: lattice.ManagedByApps, lattice.AnnotationApp: app, lattice.AnnotationComponent: comp}
	}
	if _, err := e.host.StartActor(ctx, lattice.StartActorRequest{Ref: module("v1"), Name: "svc", Annotations: owned("shop", "svc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := second.StartActor(ctx, lattice.StartActorRequest{Ref: module("v2"), Name: "svc", Annotations: owned("shop", "svc")}); err != nil {
		t.Fatalf("v2 of the same component on a second host = %v", err)
	}
	second.StopActor(ctx, "svc")
	for what, ann := range map[string]map[string]string{"by hand": nil, "for another app": owned("other", "svc")} {
		_, err := second.StartActor(ctx, lattice.StartActorRequest{Ref: module("v3"), Name: "svc", Annotations: ann})
		if err == nil || !strings.Contains(err.Error(), `alias "svc" is already used`) {
			t.Errorf("another module %s under the component's alias = %v", what, err)
		}
	}
}
