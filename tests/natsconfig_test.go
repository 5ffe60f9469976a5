package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
)

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

// natsServer builds the nats-server of go.mod once per run: an operator's
// own server, outside any wisp process.
func natsServer(t *testing.T) string {
	t.Helper()
	natsServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nats-server-")
		if err != nil {
			natsServerErr = err
			return
		}
		natsServerBin = filepath.Join(dir, "nats-server")
		if out, err := exec.Command("go", "build", "-o", natsServerBin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
			natsServerErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

// TestOperatorsOwnNATSServer: `wisp nats-config` is enough for a plain
// nats-server to enforce wisp's users: it refuses anonymous clients, a host
// joins it with credentials made by `wisp creds create --role host`, the
// admin drives the lattice, and a revocation reaches the running server.
func TestOperatorsOwnNATSServer(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "wisp.conf")
	out := mustRun(t, "", "nats-config", "--lattice", "default", "--jwt-dir", filepath.Join(dir, "jwt"))
	if !strings.Contains(out, "operator:") || !strings.Contains(out, "resolver_preload") {
		t.Fatalf("nats-config printed %q", out)
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if err := os.WriteFile(conf, []byte(out+fmt.Sprintf("\nhost: 127.0.0.1\nport: %d\njetstream: {store_dir: %q}\n", port, filepath.Join(dir, "js"))), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := exec.Command(natsServer(t), "-c", conf)
	srv.Stdout, srv.Stderr = logs, logs
	dieWithTest(srv)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("nats-server output:\n%s", logs)
		}
	})
	testwait.Eventually(t, 20*time.Second, func() error {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("the operator's server took an anonymous client")
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			return fmt.Errorf("nats-server not up (refusing anonymous clients): %w", err)
		}
		return nil
	})

	creds := filepath.Join(dir, "edge-1.creds")
	mustRun(t, url, "creds", "create", "edge-1", "--role", "host", "-o", creds)
	spawn(t, url, "--name", "edge-1", "--nats-url", url, "--nats-creds", creds, "--cache-dir", t.TempDir())
	hostsByName(t, url, "default", 1)
	echo := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, url, "build", "./actors/echo", "-o", echo)
	mustRun(t, url, "start", "actor", echo)
	if got := mustRun(t, url, "call", "echo", "Echo.Reply", "via nats-server"); got != "via nats-server\n" {
		t.Fatalf("call = %q", got)
	}

	app := filepath.Join(dir, "app.creds")
	mustRun(t, url, "creds", "create", "app", "--role", "caller", "--allow-call", "echo", "-o", app)
	closed := make(chan struct{})
	nc, err := nats.Connect(url, nats.UserCredentials(app), nats.CustomInboxPrefix("_INBOX.app"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	mustRun(t, url, "creds", "revoke", "app")
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the operator's server kept the revoked user connected")
	}
}
