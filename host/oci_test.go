package host_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/oci"
)

// TestHostStartsActorsFromOCIReferences: a host with a registry client
// pulls, verifies and runs a signed actor by reference; a tag moved to an
// unsigned module is refused by the host's policy, and one moved to a
// module signed by another account is refused under --allowed-issuers.
func TestHostStartsActorsFromOCIReferences(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://")
	pusher, err := oci.New(oci.WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t)
	echo := testwasm.GoActor(t, "actors/echo")
	ref := reg + "/demo/echo:0.1.0"
	if _, err := pusher.Push(ctx, ref, s.sign(t, echo, "echo"), nil); err != nil {
		t.Fatal(err)
	}

	pullerFor := func() host.Option {
		c, err := oci.New(oci.WithCacheDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		return host.WithPull(func(ctx context.Context, ref string) ([]byte, error) {
			a, err := c.Pull(ctx, ref, oci.IfNotPresent)
			if err != nil {
				return nil, err
			}
			return a.Module, nil
		})
	}
	e := newEnv(t, host.WithPolicy(host.Policy{}), pullerFor())
	d, err := e.client.StartActor(ctx, e.host.ID(), lattice.StartActorRequest{Ref: ref, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "echo" || d.Ref != ref || d.Instances != 2 {
		t.Fatalf("started %+v", d)
	}
	if out, err := e.client.Call(ctx, "echo", "Echo.Reply", []byte("from a registry")); err != nil || string(out) != "from a registry" {
		t.Fatalf("call = %q, %v", out, err)
	}

	// The tag moves to an unsigned module: a host with an empty cache
	// pulls it and refuses it.
	if _, err := pusher.Push(ctx, ref, echo, nil); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, host.WithPolicy(host.Policy{}), pullerFor())
	_, err = e2.client.StartActor(ctx, e2.host.ID(), lattice.StartActorRequest{Ref: ref})
	if err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("start of a tag moved to an unsigned module = %v", err)
	}

	// The tag moves to a module another account signed.
	if _, err := pusher.Push(ctx, ref, newSigner(t).sign(t, echo, "echo"), nil); err != nil {
		t.Fatal(err)
	}
	e3 := newEnv(t, host.WithPolicy(host.Policy{AllowedIssuers: []string{s.account.PublicKey()}}), pullerFor())
	_, err = e3.client.StartActor(ctx, e3.host.ID(), lattice.StartActorRequest{Ref: ref})
	if err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("start of a tag moved to another issuer's module = %v", err)
	}

	// Under --allow-unsigned an unsigned actor is named after its
	// repository, without tag or digest.
	p, err := pusher.Push(ctx, reg+"/demo/unsigned-echo:2", echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	e5 := newEnv(t, pullerFor())
	d, err = e5.client.StartActor(ctx, e5.host.ID(), lattice.StartActorRequest{Ref: reg + "/demo/unsigned-echo@" + p.Digest})
	if err != nil || d.Name != "unsigned-echo" {
		t.Fatalf("unsigned start by digest = %+v, %v", d, err)
	}

	// A host without a registry client says so.
	e4 := newEnv(t)
	_, err = e4.client.StartActor(ctx, e4.host.ID(), lattice.StartActorRequest{Ref: ref})
	if err == nil || !strings.Contains(err.Error(), "no registry client") {
		t.Fatalf("start by reference without a registry client = %v", err)
	}
}
