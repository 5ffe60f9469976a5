// Package tests holds end-to-end tests: the real wisp binary in separate
// processes, driven the way a user drives it.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

var (
	buildOnce sync.Once
	wispBin   string
	buildErr  error
)

// wisp builds the CLI once per test run. Every test here runs it in
// processes of its own, so under -short they are all skipped here.
func wisp(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: end-to-end tests run the wisp binary in processes of their own")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wisp-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		wispBin = filepath.Join(dir, "wisp")
		// The binary has the engines this test binary has (buildTags).
		out, err := exec.Command("go", "build", "-tags", buildTags, "-o", wispBin, "./cmd/wisp").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/wisp: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return wispBin
}

func init() {
	// Tests run in tests/; the build and the CLI work from the root.
	os.Chdir(testwasm.Root())
}

// freePort returns a free port on 127.0.0.1 that no earlier call in this
// process returned: a port just closed may be handed out again at once, and
// a README session once got one port for two of its placeholders.
func freePort(t *testing.T) int {
	t.Helper()
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port
		}
	}
}

// givenPorts holds the ports freePort returned.
var givenPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// startProcess starts cmd, a process the test needs beside wisp's (a
// scraper, the dashboard), with its output in the buffer it returns; the
// process is killed when the test ends, and its output shown if the test
// failed.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) *syncBuffer {
	t.Helper()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	return logs
}

// hostProc is a `wisp up` process.
type hostProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	url  string
	done chan error
}

func startHost(t *testing.T, extra ...string) *hostProc {
	t.Helper()
	return startHostEnv(t, nil, extra...)
}

// startHostEnv starts a host with extra environment variables. Each host
// has its own compiled-code and artifact caches.
func startHostEnv(t *testing.T, env []string, extra ...string) *hostProc {
	t.Helper()
	port := freePort(t)
	logs := &syncBuffer{}
	args := append([]string{"up", "--nats-port", fmt.Sprint(port), "--cache-dir", t.TempDir(), "--js-dir", t.TempDir()}, extra...)
	cmd := exec.Command(wisp(t), args...)
	cmd.Env = append(testEnv(t), "WISP_OCI_CACHE="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostProc{cmd: cmd, logs: logs, url: fmt.Sprintf("nats://127.0.0.1:%d", port), done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("wisp up output:\n%s", logs.String())
		}
	})
	testwait.Eventually(t, 20*time.Second, func() error {
		cr := credsOf(t, lattice.DefaultLattice, auth.AdminUser)
		if !fileExists(cr.CredsFile) {
			cr = lattice.Credentials{} // no auth store yet, or --insecure-no-auth
		}
		c, err := lattice.Connect(h.url, lattice.WithCredentials(cr))
		if err != nil {
			return fmt.Errorf("wisp up does not answer pings: %w", err)
		}
		defer c.Close()
		if _, err = c.Hosts(context.Background()); err != nil {
			return fmt.Errorf("wisp up does not answer pings: %w", err)
		}
		return nil
	})
	return h
}

// syncBuffer collects a process's output. The buffer is a field, not
// embedded: exec would use an embedded Buffer's ReadFrom and skip the lock.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	keysDirsMu sync.Mutex
	keysDirs   = map[string]string{} // by top-level test name
)

// keysDir is the key store (WISP_KEYS_DIR) of every wisp command a test
// runs: a temporary directory per test, so that `wisp build` and `wisp
// claims sign` never write keys into the user's configuration directory.
func keysDir(t *testing.T) string {
	t.Helper()
	keysDirsMu.Lock()
	defer keysDirsMu.Unlock()
	// Subtests share their top-level test's directory: its hosts, its
	// auth store and its context.
	root, _, _ := strings.Cut(t.Name(), "/")
	if d, ok := keysDirs[root]; ok {
		return d
	}
	d := filepath.Join(t.TempDir(), "keys")
	keysDirs[root] = d
	t.Cleanup(func() {
		keysDirsMu.Lock()
		defer keysDirsMu.Unlock()
		delete(keysDirs, root)
	})
	return d
}

// testEnv is the environment of every wisp process a test runs: its key
// store (keysDir) and its configuration directory (WISP_CONFIG_DIR), where
// the first `wisp up` makes the auth store, so that every process of a
// test shares one operator and the CLI connects as the lattice's admin;
// and the run's cache folder (cacheHome) in place of the user's.
func testEnv(t *testing.T) []string {
	return append(os.Environ(), "WISP_KEYS_DIR="+keysDir(t), "WISP_CONFIG_DIR="+testConfigDir(t), "XDG_CACHE_HOME="+cacheHome)
}

func testConfigDir(t *testing.T) string { return filepath.Join(keysDir(t), "..", "config") }

// credsOf are the credentials of one of the auth store's own users of
// lattice L (auth.AdminUser, HostUser, ProviderUser, LeafUser).
// With a host started with --tls auto, they trust its CA.
func credsOf(t *testing.T, L, user string) lattice.Credentials {
	c := lattice.Credentials{CredsFile: filepath.Join(testConfigDir(t), "auth", "lattices", L, "creds", user+".creds")}
	if ca := filepath.Join(testConfigDir(t), "tls", "ca.pem"); fileExists(ca) {
		c.TLSCAFile = ca
	}
	return c
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// natsAs connects to url as the store's user of the default lattice, the
// way an app with that user's .creds file does.
func natsAs(t *testing.T, url, user string) *nats.Conn {
	t.Helper()
	opts, err := credsOf(t, lattice.DefaultLattice, user).NATSOptions()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// run runs the CLI against url and returns stdout, stderr and the exit code.
// Its key store is keysDir(t).
func run(t *testing.T, url string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, nil, url, args...)
}

// runEnv is run with extra environment variables. Unless env says
// otherwise, the CLI's artifact cache is one per test and it reads no
// Docker credentials.
func runEnv(t *testing.T, env []string, url string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(wisp(t), args...)
	cmd.Env = append(testEnv(t), "WISP_NATS_URL="+url,
		"WISP_OCI_CACHE="+filepath.Join(keysDir(t), "..", "oci"), "DOCKER_CONFIG="+filepath.Join(keysDir(t), "..", "docker"))
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func mustRun(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, url, args...)
	if code != 0 {
		t.Fatalf("wisp %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestSpineEndToEnd walks the README's quickstart with real processes: up,
// build, start with 4 instances, call through the CLI and through plain
// nats.go with 64 concurrent callers, inventory, then a drained shutdown.
func TestSpineEndToEnd(t *testing.T) {
	h := startHost(t)
	module := filepath.Join(t.TempDir(), "echo.wasm")
	if got := strings.TrimSpace(mustRun(t, h.url, "build", "./actors/echo", "-o", module)); got != module {
		t.Fatalf("build printed %q, want %q", got, module)
	}
	mustRun(t, h.url, "start", "actor", module, "--count", "4")
	if out := mustRun(t, h.url, "call", "echo", "Echo.Reply", "hello"); out != "hello\n" {
		t.Fatalf("call printed %q", out)
	}

	nc := natsAs(t, h.url, auth.AdminUser)
	payload := bytes.Repeat([]byte("k"), 1024)
	var wg sync.WaitGroup
	var failures sync.Map
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for n := 0; n < 25; n++ {
				msg := nats.NewMsg("wisp.rpc.default.echo")
				msg.Header.Set("Wisp-Operation", "Echo.Reply")
				msg.Data = payload
				reply, err := nc.RequestMsg(msg, 10*time.Second)
				if err != nil || !bytes.Equal(reply.Data, payload) {
					failures.Store(c, fmt.Sprintf("caller %d: %v", c, err))
					return
				}
			}
		}(c)
	}
	wg.Wait()
	failures.Range(func(_, v any) bool { t.Error(v); return true })

	var invs []lattice.HostInventory
	if err := json.Unmarshal([]byte(mustRun(t, h.url, "get", "inventory", "-o", "json")), &invs); err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || len(invs[0].Actors) != 1 || invs[0].Actors[0].Name != "echo" || invs[0].Actors[0].Instances != 4 {
		t.Fatalf("inventory = %+v", invs)
	}

	// SIGINT drains: the process exits 0 and says so.
	h.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("wisp up exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("wisp up did not exit after SIGINT")
	}
	h.done <- nil // for the cleanup
	if !strings.Contains(h.logs.String(), "host stopped") {
		t.Fatalf("no drain in the logs:\n%s", h.logs)
	}
}

// TestCLIExitCodes checks the codes scripts rely on.
func TestCLIExitCodes(t *testing.T) {
	h := startHost(t)
	dead := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	start := time.Now()
	if _, errOut, code := run(t, dead, "call", "echo", "Echo.Reply", "x"); code != 4 || !strings.Contains(errOut, "no NATS server") {
		t.Fatalf("no server: exit %d, %q", code, errOut)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("a dead NATS URL took %s to fail", time.Since(start))
	}
	if _, errOut, code := run(t, h.url, "call", "ghost", "Echo.Reply"); code != 3 || !strings.Contains(errOut, "actor not running") {
		t.Fatalf("missing actor: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, h.url, "call", "only-one-arg"); code != 2 {
		t.Fatalf("bad usage: exit %d", code)
	}
	if _, _, code := run(t, h.url, "get", "hosts", "--bogus"); code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.wasm")
	os.WriteFile(bad, []byte("not wasm"), 0o644)
	if _, errOut, code := run(t, h.url, "start", "actor", bad); code != 6 || !strings.Contains(errOut, "not a valid WebAssembly module") {
		t.Fatalf("bad module: exit %d, %q", code, errOut)
	}
	module := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, h.url, "build", "./actors/echo", "-o", module)
	mustRun(t, h.url, "start", "actor", module)
	if _, errOut, code := run(t, h.url, "call", "echo", "No.Such"); code != 6 || !strings.Contains(errOut, `unknown operation "No.Such"`) {
		t.Fatalf("unknown operation: exit %d, %q", code, errOut)
	}
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, bytes.Repeat([]byte("x"), 2<<20), 0o644)
	if _, errOut, code := run(t, h.url, "call", "echo", "Echo.Reply", "--data-file", big); code != 6 || !strings.Contains(errOut, "payload too large") {
		t.Fatalf("huge payload: exit %d, %q", code, errOut)
	}
	mustRun(t, h.url, "stop", "actor", "echo")
	if _, _, code := run(t, h.url, "call", "echo", "Echo.Reply"); code != 3 {
		t.Fatalf("stopped actor: exit %d", code)
	}
}

// TestUpDemo is the README's first command: `wisp up --demo` builds, signs
// and starts the echo actor, and `wisp call` reaches it.
func TestUpDemo(t *testing.T) {
	h := startHost(t, "--demo")
	testwait.Eventually(t, 2*time.Minute, func() error {
		out, errOut, code := run(t, h.url, "call", "echo", "Echo.Reply", "hello")
		switch {
		case code == 3: // not running yet
			return fmt.Errorf("call: exit 3, %s", errOut)
		case code != 0:
			t.Fatalf("call: exit %d, %s", code, errOut)
		case out != "hello\n":
			t.Fatalf("call printed %q", out)
		}
		return nil
	})
	if !strings.Contains(h.logs.String(), "demo: echo actor running") {
		t.Fatalf("no demo banner:\n%s", h.logs)
	}
	if _, err := os.Stat(filepath.Join(keysDir(t), "echo_module.nk")); err != nil {
		t.Fatalf("the demo did not sign with the key store's keys: %v", err)
	}
}

// TestSecondHostJoinsWithNatsURL: `wisp up --nats-url` joins the lattice of
// another host's embedded server; `wisp up` pointed at nothing fails fast.
func TestSecondHostJoinsWithNatsURL(t *testing.T) {
	first := startHost(t)
	second := exec.Command(wisp(t), "up", "--nats-url", first.url, "--name", "joiner", "--cache-dir", t.TempDir())
	second.Env = testEnv(t)
	logs := &syncBuffer{}
	second.Stdout, second.Stderr = logs, logs
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { second.Process.Kill(); second.Wait() }()
	testwait.Eventually(t, 20*time.Second, func() error {
		var hosts []lattice.HostSummary
		json.Unmarshal([]byte(mustRun(t, first.url, "get", "hosts", "-o", "json")), &hosts)
		if len(hosts) != 2 {
			return fmt.Errorf("%d hosts answer pings, want 2; the second one's output:\n%s", len(hosts), logs)
		}
		return nil
	})
	start := time.Now()
	_, errOut, code := run(t, first.url, "up", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)))
	if code != 4 || !strings.Contains(errOut, "no NATS server") {
		t.Fatalf("up --nats-url to nothing: exit %d, %q", code, errOut)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("up --nats-url to nothing took %s", time.Since(start))
	}
}
