package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
)

// httpGet returns the status and body of a GET, or an error.
func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestKVCounterWithProviders walks docs/providers.md with real processes:
// a host runs the signed kvcounter actor and the httpserver and keyvalue
// providers, links are put with the CLI, HTTP requests count, and
// deleting the httpserver link closes its listener.
func TestKVCounterWithProviders(t *testing.T) {
	h := startHost(t)
	module := filepath.Join(t.TempDir(), "kvcounter.wasm")
	mustRun(t, h.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", module)
	mustRun(t, h.url, "start", "actor", module, "--count", "2")
	mustRun(t, h.url, "start", "provider", "httpserver")
	mustRun(t, h.url, "start", "provider", "keyvalue")
	if _, errOut, code := run(t, h.url, "start", "provider", "keyvalue"); code == 0 {
		t.Fatalf("a second keyvalue provider under the same link name started: %s", errOut)
	}
	if _, errOut, code := run(t, h.url, "start", "provider", "ftp"); code != 2 || !strings.Contains(errOut, "no provider named") {
		t.Fatalf("unknown provider: exit %d, %q", code, errOut)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, h.url, "link", "put", "kvcounter", "httpserver", "wasmcloud:httpserver", "address="+addr)
	mustRun(t, h.url, "link", "put", "kvcounter", "keyvalue", "wasmcloud:keyvalue", "BUCKET=e2e_counts")

	// Links reach the providers through the link bucket's watch.
	var body string
	testwait.Eventually(t, 20*time.Second, func() error {
		status, b, err := httpGet("http://" + addr + "/hello")
		if err != nil || status != 200 {
			return fmt.Errorf("kvcounter over HTTP: %d %q %v", status, b, err)
		}
		body = b
		return nil
	})
	if body != "{\"counter\":1}\n" {
		t.Fatalf("first request = %q", body)
	}
	if _, b, _ := httpGet("http://" + addr + "/hello"); b != "{\"counter\":2}\n" {
		t.Fatalf("second request = %q", b)
	}

	var invs []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, h.url, "get", "inventory", "-o", "json")), &invs)
	if len(invs) != 1 || len(invs[0].Providers) != 2 {
		t.Fatalf("inventory providers = %+v", invs)
	}
	for _, p := range invs[0].Providers {
		if p.Links != 1 {
			t.Fatalf("provider %s has %d links, want 1", p.Name, p.Links)
		}
	}
	if out := mustRun(t, h.url, "get", "inventory"); !strings.Contains(out, "wasmcloud:httpserver") {
		t.Fatalf("inventory table lists no providers:\n%s", out)
	}

	// Deleting the link closes the listener.
	mustRun(t, h.url, "link", "del", "kvcounter", "wasmcloud:httpserver")
	testwait.Eventually(t, 20*time.Second, func() error {
		if _, _, err := httpGet("http://" + addr + "/hello"); err == nil {
			return errors.New("the listener is still open after link del")
		}
		return nil
	})
	mustRun(t, h.url, "stop", "provider", "keyvalue")
	if _, _, code := run(t, h.url, "stop", "provider", "keyvalue"); code != 3 {
		t.Fatalf("stop of a provider no host runs: exit %d", code)
	}
}

// startProviderProc runs `wisp provider run` joined to url.
func startProviderProc(t *testing.T, url string, args ...string) *hostProc {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(wisp(t), append([]string{"provider", "run", "--nats-url", url}, args...)...)
	cmd.Env = testEnv(t)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &hostProc{cmd: cmd, logs: logs, url: url, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("wisp provider run %v output:\n%s", args, logs.String())
		}
	})
	return p
}

// TestProvidersInTheirOwnProcesses: the keyvalue and httpserver providers
// run as `wisp provider run` processes; calls cross NATS both ways, the
// processes show as hosts with wisp.role=provider and never take actors.
func TestProvidersInTheirOwnProcesses(t *testing.T) {
	h := startHost(t)
	module := filepath.Join(t.TempDir(), "kvcounter.wasm")
	mustRun(t, h.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", module)
	startProviderProc(t, h.url, "keyvalue", "--name", "kv-proc")
	startProviderProc(t, h.url, "httpserver", "--name", "web-proc")
	testwait.Eventually(t, 20*time.Second, func() error {
		var hosts []lattice.HostSummary
		json.Unmarshal([]byte(mustRun(t, h.url, "get", "hosts", "-o", "json")), &hosts)
		roles := 0
		for _, hs := range hosts {
			if hs.Labels["wisp.role"] == "provider" {
				roles++
			}
		}
		if roles != 2 {
			return fmt.Errorf("%d provider processes among the hosts, want 2: %+v", roles, hosts)
		}
		return nil
	})
	// The auction gives the actor to the only host that takes actors.
	mustRun(t, h.url, "start", "actor", module, "--count", "2")
	var invs []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, h.url, "get", "inventory", "-o", "json")), &invs)
	for _, inv := range invs {
		if inv.Host.Labels["wisp.role"] == "provider" && len(inv.Actors) > 0 {
			t.Fatalf("a provider process took an actor: %+v", inv)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, h.url, "link", "put", "kvcounter", "httpserver", "wasmcloud:httpserver", "address="+addr)
	mustRun(t, h.url, "link", "put", "kvcounter", "keyvalue", "wasmcloud:keyvalue")
	want := 1
	testwait.Eventually(t, 20*time.Second, func() error {
		for ; want <= 3; want++ {
			status, b, err := httpGet("http://" + addr + "/x")
			if err != nil || status != 200 {
				return fmt.Errorf("kvcounter through provider processes: %d %q %v", status, b, err)
			}
			if b != fmt.Sprintf("{\"counter\":%d}\n", want) {
				t.Fatalf("request %d = %q", want, b)
			}
		}
		return nil
	})
}
