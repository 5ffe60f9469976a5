package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wisp-dev/wisp/lattice"
)

// TestHostPolicyEndToEnd: a default host refuses unsigned and tampered
// modules and runs what `wisp build` signed; --allowed-issuers and
// --allow-unsigned change that; inventory shows the claims.
func TestHostPolicyEndToEnd(t *testing.T) {
	h := startHost(t)
	dir := t.TempDir()
	signed := filepath.Join(dir, "echo.wasm")
	unsigned := filepath.Join(dir, "plain.wasm")
	mustRun(t, h.url, "build", "./actors/echo", "-o", signed)
	mustRun(t, h.url, "build", "./actors/echo", "-o", unsigned, "--no-sign")

	if _, errOut, code := run(t, h.url, "start", "actor", unsigned); code != 6 || !strings.Contains(errOut, "not signed") {
		t.Fatalf("unsigned on a default host: exit %d, %q", code, errOut)
	}
	b, _ := os.ReadFile(signed)
	i := strings.Index(string(b), "Echo.Reply") // a data segment: covered by the hash
	b[i] = 'e'
	tampered := filepath.Join(dir, "tampered.wasm")
	os.WriteFile(tampered, b, 0o644)
	if _, errOut, code := run(t, h.url, "start", "actor", tampered); code != 6 || !strings.Contains(errOut, "hash does not match") {
		t.Fatalf("tampered: exit %d, %q", code, errOut)
	}

	mustRun(t, h.url, "start", "actor", signed)
	if out := mustRun(t, h.url, "call", "echo", "Echo.Reply", "signed"); out != "signed\n" {
		t.Fatalf("call = %q", out)
	}
	var invs []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, h.url, "get", "inventory", "-o", "json")), &invs)
	a := invs[0].Actors[0]
	if a.Name != "echo" || !strings.HasPrefix(a.Key, "M") || !strings.HasPrefix(a.Issuer, "A") {
		t.Fatalf("inventory actor = %+v", a)
	}
	if out := mustRun(t, h.url, "get", "inventory"); !strings.Contains(out, a.Key) {
		t.Fatalf("inventory table does not show the module key:\n%s", out)
	}
	if out := mustRun(t, h.url, "call", a.Key, "Echo.Reply", "by key"); out != "by key\n" {
		t.Fatalf("call by module key = %q", out)
	}

	// A host that trusts only another account refuses the same module.
	var stranger struct {
		PublicKey string `json:"public_key"`
	}
	json.Unmarshal([]byte(mustRun(t, h.url, "keys", "gen", "account", "-o", "json")), &stranger)
	other := startHost(t, "--allowed-issuers", stranger.PublicKey)
	if _, errOut, code := run(t, other.url, "start", "actor", signed); code != 6 || !strings.Contains(errOut, "issuer is not allowed") {
		t.Fatalf("foreign issuer: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, other.url, "up", "--allowed-issuers", "not-a-key"); code != 2 {
		t.Fatalf("bad --allowed-issuers: exit %d", code)
	}

	// A development host runs unsigned modules, and says so loudly.
	dev := startHost(t, "--allow-unsigned")
	mustRun(t, dev.url, "start", "actor", unsigned)
	if out := mustRun(t, dev.url, "call", "plain", "Echo.Reply", "dev"); out != "dev\n" {
		t.Fatalf("unsigned call = %q", out)
	}
	if !strings.Contains(dev.logs.String(), "--allow-unsigned") {
		t.Fatalf("no warning in the logs:\n%s", dev.logs)
	}
}
