package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
)

// crossTarget is a platform wisp is cross-built for and run under qemu.
type crossTarget struct {
	name   string // subtest name
	goarch string
	goarm  string
	qemu   string // qemu-user-static binary that runs it
	engine string // the engine it must pick on its own
}

var crossTargets = []crossTarget{
	{name: "arm64", goarch: "arm64", qemu: "qemu-aarch64-static", engine: "wazero/compiler"},
	{name: "armv7", goarch: "arm", goarm: "7", qemu: "qemu-arm-static", engine: "wazero/interpreter"},
}

var (
	crossMu   sync.Mutex
	crossBins = map[string]string{}
)

// crossWisp builds the CLI for target once per test run.
func crossWisp(t *testing.T, target crossTarget) string {
	t.Helper()
	crossMu.Lock()
	defer crossMu.Unlock()
	if bin, ok := crossBins[target.name]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "wisp-cross-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "wisp-"+target.name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/wisp")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+target.goarch, "GOARM="+target.goarm, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross build for %s: %v\n%s", target.name, err, out)
	}
	crossBins[target.name] = bin
	return bin
}

// needTool finds a Debian-packaged tool a test needs: outside CI a missing
// one skips the test, in CI it fails it (.ci/run installs it).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: .ci/run installs Debian's %s package", name, pkg)
		}
		t.Skipf("%s is not installed (Debian package %s; bash .ci/run installs it)", name, pkg)
	}
	return p
}

// TestPiHostsUnderQEMU runs real linux/arm64 and linux/armv7 wisp binaries
// under qemu-user-static: each joins the lattice of an amd64 host, reports
// its architecture and the engine it picked, and answers calls to the same
// signed echo actor.
func TestPiHostsUnderQEMU(t *testing.T) {
	cloud := startHost(t, "--name", "cloud")
	dir := t.TempDir()
	echo := filepath.Join(dir, "echo.wasm")
	mustRun(t, cloud.url, "build", "./actors/echo", "-o", echo)

	for _, target := range crossTargets {
		t.Run(target.name, func(t *testing.T) {
			qemu := needTool(t, target.qemu, "qemu-user-static")
			bin := crossWisp(t, target)
			name := "pi-" + target.name
			// A Pi joins with credentials of its own, made where the
			// lattice's auth store is.
			creds := filepath.Join(t.TempDir(), name+".creds")
			mustRun(t, cloud.url, "creds", "create", name, "--role", "host", "-o", creds)
			logs := &syncBuffer{}
			cmd := exec.Command(qemu, bin, "up", "--nats-url", cloud.url, "--nats-creds", creds, "--name", name,
				"--cache-dir", t.TempDir(), "--oci-cache-dir", t.TempDir(), "--label", "tier=pi")
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-done
				if t.Failed() {
					t.Logf("%s output:\n%s", name, logs.String())
				}
			})

			pi := waitForHost(t, cloud.url, name, 2*time.Minute)
			if pi.Labels["wisp.arch"] != target.goarch || pi.Labels["wisp.engine"] != target.engine || pi.Labels["tier"] != "pi" {
				t.Fatalf("labels of %s: %v", name, pi.Labels)
			}
			// Emulated, the arm64 compiler takes a while on the 2.7 MB module.
			mustRun(t, cloud.url, "start", "actor", echo, "--host", pi.ID, "--timeout", "5m")
			defer mustRun(t, cloud.url, "stop", "actor", "echo", "--host", pi.ID)
			for i := range 3 {
				msg := fmt.Sprintf("hello %s #%d", target.name, i)
				if out := mustRun(t, cloud.url, "call", "echo", "Echo.Reply", msg, "--timeout", "30s"); out != msg+"\n" {
					t.Fatalf("call = %q", out)
				}
			}
			var invs []lattice.HostInventory
			json.Unmarshal([]byte(mustRun(t, cloud.url, "get", "inventory", pi.ID, "-o", "json")), &invs)
			if len(invs) != 1 || len(invs[0].Actors) != 1 || invs[0].Actors[0].Name != "echo" {
				t.Fatalf("inventory of %s: %+v", name, invs)
			}
		})
	}
}

// waitForHost waits until a host with this friendly name answers pings.
func waitForHost(t *testing.T, url, name string, within time.Duration) lattice.HostSummary {
	t.Helper()
	var found lattice.HostSummary
	testwait.Eventually(t, within, func() error {
		var hosts []lattice.HostSummary
		out, errOut, code := run(t, url, "get", "hosts", "-o", "json")
		if code != 0 {
			return fmt.Errorf("get hosts: exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &hosts); err != nil {
			return fmt.Errorf("get hosts: %w", err)
		}
		for _, h := range hosts {
			if h.Name == name {
				found = h
				return nil
			}
		}
		return fmt.Errorf("host %s has not joined: %d other hosts", name, len(hosts))
	})
	return found
}
