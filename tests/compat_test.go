package tests

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// TestNamespacedAliasesAcrossHosts: actors signed with wasmCloud's
// namespaced call aliases (acme/echo; acme.v2/echo, which wascap's
// normalisation signs as acme_v2/echo) start, answer the CLI and plain
// NATS, and are called actor-to-actor from another host. Each copy signed
// under its own name gets a module key of its own.
func TestNamespacedAliasesAcrossHosts(t *testing.T) {
	a := startHost(t, "--name", "a")
	spawn(t, a.url, "--name", "b", "--nats-url", a.url, "--cache-dir", t.TempDir())
	hosts := hostsByName(t, a.url, "default", 2)
	dir := t.TempDir()
	echo := filepath.Join(dir, "echo.wasm")
	probe := filepath.Join(dir, "probe.wasm")
	mustRun(t, a.url, "build", "./actors/echo", "-o", echo)
	mustRun(t, a.url, "build", "./internal/testactors/probe", "-o", probe)
	for _, alias := range []string{"acme/echo", "acme.v2/echo"} {
		signed := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(alias)+".wasm")
		mustRun(t, a.url, "claims", "sign", echo, "--name", "echo", "--alias", alias, "-o", signed)
		mustRun(t, a.url, "start", "actor", signed, "--host", hosts["a"].ID)
	}
	mustRun(t, a.url, "start", "actor", probe, "--host", hosts["b"].ID)

	for _, alias := range []string{"acme/echo", "acme_v2/echo"} {
		if out := mustRun(t, a.url, "call", alias, "Echo.Reply", "hi "+alias); out != "hi "+alias+"\n" {
			t.Fatalf("wisp call %s = %q", alias, out)
		}
		// Actor-to-actor, from the probe on host b to the alias on host a.
		if out := eventually(t, a.url, "call", "probe", "Probe.Call", alias); out != "via "+alias+"\n" {
			t.Fatalf("probe → %s = %q", alias, out)
		}
	}
	// A plain NATS client calls the namespaced alias on its own subject.
	nc := natsAs(t, a.url, auth.AdminUser)
	msg := nats.NewMsg("wisp.rpc.default.acme/echo")
	msg.Header.Set(lattice.HeaderOperation, "Echo.Reply")
	msg.Data = []byte("plain")
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil || string(reply.Data) != "plain" {
		t.Fatalf("plain NATS call of acme/echo: %v %v", reply, err)
	}
	var inv []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, a.url, "get", "inventory", hosts["a"].ID, "-o", "json")), &inv)
	names := map[string]bool{}
	for _, d := range inv[0].Actors {
		names[d.Name] = true
	}
	if !names["acme/echo"] || !names["acme_v2/echo"] {
		t.Fatalf("inventory of a = %+v", inv)
	}
	// A caller can be granted a namespaced alias.
	creds := filepath.Join(dir, "app.creds")
	mustRun(t, a.url, "creds", "create", "app", "--role", "caller", "--allow-call", "acme/echo", "-o", creds)
	app, err := nats.Connect(a.url, nats.UserCredentials(creds), nats.CustomInboxPrefix("_INBOX.app"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if reply, err := app.RequestMsg(msg, 5*time.Second); err != nil || string(reply.Data) != "plain" {
		t.Fatalf("granted caller of acme/echo: %v %v", reply, err)
	}
	// Whitespace is refused, and says why.
	if _, errOut, code := run(t, a.url, "call", "acme echo", "Echo.Reply"); code != 2 || !strings.Contains(errOut, "whitespace") {
		t.Fatalf("alias with a space: exit %d, %q", code, errOut)
	}
}
