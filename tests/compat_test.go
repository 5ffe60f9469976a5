package tests

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
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
	// Hosts by name and by the id prefix logs print, not only by id.
	var inv []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, a.url, "get", "inventory", hosts["b"].ID[:8], "-o", "json")), &inv)
	if len(inv) != 1 || inv[0].Host.ID != hosts["b"].ID {
		t.Fatalf("inventory by id prefix = %+v", inv)
	}
	json.Unmarshal([]byte(mustRun(t, a.url, "get", "inventory", "a", "-o", "json")), &inv)
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

// sharedHTTPApp is an application whose actor (its own copy of hello-http,
// under the alias given) is served by the httpserver provider on addr.
const sharedHTTPApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: %[1]s
spec:
  components:
    - name: %[1]s
      type: actor
      properties:
        image: file://%[2]s
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
        - type: linkdef
          properties:
            target: httpserver
            values:
              address: %[3]s
    - name: httpserver
      type: capability
      properties:
        image: wasmcloud.azurecr.io/httpserver:0.17.0
        contract: wasmcloud:httpserver
      traits:
        - type: daemonscaler
          properties:
            replicas: 1
`

// TestAppsShareAProviderThatRuns: two applications that both need
// httpserver deploy on a host that runs it already (started by hand with
// wisp up --provider), and both answer HTTP through it, as wadm shares
// providers.
func TestAppsShareAProviderThatRuns(t *testing.T) {
	h := startHost(t, "--provider", "httpserver")
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello.wasm")
	mustRun(t, h.url, "build", "./actors/hello-http", "--cap", "wasmcloud:httpserver", "-o", hello)
	for _, name := range []string{"shop", "blog"} {
		signed := filepath.Join(dir, name+".wasm")
		mustRun(t, h.url, "claims", "sign", hello, "--name", name, "--alias", name, "--cap", "wasmcloud:httpserver", "-o", signed)
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		manifestPath := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(manifestPath, []byte(fmt.Sprintf(sharedHTTPApp, name, signed, addr)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := run(t, h.url, "app", "deploy", manifestPath, "--wait", "60s"); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s%s", name, code, out, errOut)
		}
		testwait.Eventually(t, 20*time.Second, func() error {
			if code, body, err := httpGet("http://" + addr + "/"); err != nil || code != 200 {
				return fmt.Errorf("%s over HTTP: %d %q %v", name, code, body, err)
			}
			return nil
		})
	}
	var inv []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, h.url, "get", "inventory", "-o", "json")), &inv)
	if n := len(inv[0].Providers); n != 1 {
		t.Fatalf("the host runs %d providers, want the one started by hand, shared: %+v", n, inv[0].Providers)
	}
}

// TestARefusedLinkSaysSoAndRecovers: a link the httpserver provider
// cannot apply (its port is in use) makes `wisp link put` exit 6 with the
// reason, shows as failed in `wisp link get`, and is applied by itself once
// the port is free.
func TestARefusedLinkSaysSoAndRecovers(t *testing.T) {
	h := startHost(t, "--provider", "httpserver")
	hello := filepath.Join(t.TempDir(), "hello.wasm")
	mustRun(t, h.url, "build", "./actors/hello-http", "--cap", "wasmcloud:httpserver", "-o", hello)
	mustRun(t, h.url, "start", "actor", hello)
	squatter, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := squatter.Addr().String()
	_, errOut, code := run(t, h.url, "link", "put", "hello_http", "httpserver", "wasmcloud:httpserver", "address="+addr)
	if code != 6 || !strings.Contains(errOut, "refused by provider httpserver") || !strings.Contains(errOut, "address already in use") {
		squatter.Close()
		t.Fatalf("link put on a port in use: exit %d, %q", code, errOut)
	}
	var ls []struct {
		lattice.Link
		State string `json:"state"`
	}
	json.Unmarshal([]byte(mustRun(t, h.url, "link", "get", "-o", "json")), &ls)
	if len(ls) != 1 || !strings.HasPrefix(ls[0].State, "failed: ") || !strings.Contains(ls[0].State, "address already in use") {
		squatter.Close()
		t.Fatalf("link get = %+v", ls)
	}
	if out := mustRun(t, h.url, "get", "providers"); !strings.Contains(out, "unhealthy: 1 of 1 links refused") {
		squatter.Close()
		t.Fatalf("get providers while the port is taken:\n%s", out)
	}
	squatter.Close() // the port is free: the host hands the link again
	testwait.Eventually(t, 30*time.Second, func() error {
		if code, body, err := httpGet("http://" + addr + "/?name=again"); err != nil || code != 200 || !strings.Contains(body, "again") {
			return fmt.Errorf("the link is not applied once the port is free: %d %q %v", code, body, err)
		}
		return nil
	})
	json.Unmarshal([]byte(mustRun(t, h.url, "link", "get", "-o", "json")), &ls)
	if len(ls) != 1 || ls[0].State != "applied" {
		t.Fatalf("link get after recovery = %+v", ls)
	}
	if out := mustRun(t, h.url, "get", "providers", "--no-headers"); !strings.Contains(out, "healthy") || strings.Contains(out, "unhealthy") {
		t.Fatalf("get providers after recovery:\n%s", out)
	}
	// A link no running provider serves says so, and succeeds.
	if out := mustRun(t, h.url, "link", "put", "hello_http", "nobody", "wasmcloud:httpserver", "--link-name", "spare", "address=127.0.0.1:1"); !strings.Contains(out, "no provider of wasmcloud:httpserver serves link name spare yet") {
		t.Fatalf("link put with no provider = %q", out)
	}
}

// TestUpFreshStartsEmpty: the embedded server keeps the lattice's state in
// its JetStream store across restarts, and says so; --fresh starts with none.
func TestUpFreshStartsEmpty(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	js := t.TempDir()
	args := []string{"--nats-port", fmt.Sprint(port), "--js-dir", js, "--cache-dir", t.TempDir()}
	first := spawn(t, url, args...)
	hostsByName(t, url, "default", 1)
	manifestPath := filepath.Join(t.TempDir(), "keep.yaml")
	os.WriteFile(manifestPath, []byte("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: keep}\nspec:\n  components:\n    - name: echo\n      type: actor\n      properties: {image: file:///nowhere/echo.wasm}\n"), 0o644)
	mustRun(t, url, "app", "put", manifestPath)
	first.stop(t)
	if !strings.Contains(first.logs.String(), "JetStream store "+js+" keeps the lattice's links, apps and events") {
		t.Fatalf("wisp up did not say where the state is kept:\n%s", first.logs)
	}
	again := spawn(t, url, args...)
	hostsByName(t, url, "default", 1)
	if out := mustRun(t, url, "app", "list"); !strings.Contains(out, "keep") {
		t.Fatalf("after a restart the stored app is gone: %q", out)
	}
	again.stop(t)
	fresh := spawn(t, url, append(args, "--fresh")...)
	hostsByName(t, url, "default", 1)
	if out := mustRun(t, url, "app", "list", "--no-headers"); strings.Contains(out, "keep") {
		t.Fatalf("--fresh kept the stored app: %q", out)
	}
	if !strings.Contains(fresh.logs.String(), "--fresh: started with an empty JetStream store") {
		t.Fatalf("--fresh said nothing:\n%s", fresh.logs)
	}
}
