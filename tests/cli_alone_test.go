package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wisp-dev/wisp/lattice"
)

var (
	cliAloneOnce sync.Once
	cliAloneBin  string
	cliAloneErr  error
)

// cliAlone builds the CLI alone (-tags wispcli, no cgo) once per test run.
func cliAlone(t *testing.T) string {
	t.Helper()
	wisp(t) // skipped under -short, as every test here
	cliAloneOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wisp-cli-")
		if err != nil {
			cliAloneErr = err
			return
		}
		cliAloneBin = filepath.Join(dir, "wisp")
		cmd := exec.Command("go", "build", "-tags", "wispcli", "-o", cliAloneBin, "./cmd/wisp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			cliAloneErr = fmt.Errorf("go build -tags wispcli ./cmd/wisp: %v\n%s", err, out)
		}
	})
	if cliAloneErr != nil {
		t.Fatal(cliAloneErr)
	}
	return cliAloneBin
}

// TestCLIAloneLinksNoHost checks that the CLI alone links none of what
// runs a lattice: no engine, no NATS server, no provider, no host.
func TestCLIAloneLinksNoHost(t *testing.T) {
	wisp(t)
	out, err := exec.Command("go", "list", "-deps", "-tags", "wispcli", "./cmd/wisp").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/tetratelabs/wazero", "github.com/bytecodealliance/wasmtime-go",
			"github.com/nats-io/nats-server", "github.com/wisp-dev/wisp/host", "github.com/wisp-dev/wisp/host/engine",
			"github.com/wisp-dev/wisp/provider/", "github.com/wisp-dev/wisp/lattice/natsserver",
			"github.com/prometheus/client_golang", "go.opentelemetry.io/otel/sdk",
		} {
			if dep == banned || strings.HasPrefix(dep, banned) && (strings.HasSuffix(banned, "/") || !strings.HasPrefix(banned, "github.com/wisp-dev/") && strings.HasPrefix(dep, banned+"/")) {
				t.Errorf("the CLI alone links %s", dep)
			}
		}
	}
}

// TestCLIAloneDrivesASecureLattice runs the CLI alone against a full
// wisp's host with auth on: build, start, call, inventory, stop, and the
// verbs it does not have fail with a reason.
func TestCLIAloneDrivesASecureLattice(t *testing.T) {
	bin := cliAlone(t)
	h := startHost(t)
	runAlone := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(testEnv(t), "WISP_NATS_URL="+h.url)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return stdout.String(), stderr.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), 0
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := runAlone(args...)
		if code != 0 {
			t.Fatalf("wisp (CLI alone) %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	if v := must("version"); !strings.Contains(v, "CLI alone") {
		t.Errorf("version does not say it is the CLI alone: %q", v)
	}
	module := filepath.Join(t.TempDir(), "echo.wasm")
	must("build", "./actors/echo", "-o", module)
	must("start", "actor", module)
	if out := must("call", "echo", "Echo.Reply", "hello"); out != "hello\n" {
		t.Fatalf("call printed %q", out)
	}
	var inv []lattice.HostInventory
	if err := json.Unmarshal([]byte(must("get", "inventory", "-o", "json")), &inv); err != nil || len(inv) != 1 || len(inv[0].Actors) != 1 {
		t.Fatalf("get inventory -o json = %+v (%v)", inv, err)
	}
	must("start", "provider", "keyvalue")
	if _, errOut, code := runAlone("start", "provider", "nosuch"); code != 2 || !strings.Contains(errOut, "built in are coap, httpserver, keyvalue, messaging, mqtt") {
		t.Errorf("start provider nosuch: exit %d, %q", code, errOut)
	}
	must("stop", "actor", "echo")
	if _, _, code := runAlone("call", "echo", "Echo.Reply", "hello"); code != 3 {
		t.Errorf("call after stop: exit %d, want 3 (not found)", code)
	}

	for _, verb := range [][]string{{"up"}, {"ui"}, {"provider", "run", "mqtt"}, {"device", "sim", "--name", "d"}} {
		_, errOut, code := runAlone(verb...)
		if code != 1 || !strings.Contains(errOut, "the CLI alone") || !strings.Contains(errOut, "go build ./cmd/wisp") {
			t.Errorf("wisp %s on the CLI alone: exit %d, %q", strings.Join(verb, " "), code, errOut)
		}
	}
}
