package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice/app"
)

// TestExternalBlobstoreProvider walks examples/blobstore-fs: a manifest
// naming a contract wisp does not build in deploys and waits for a
// provider; the example's provider, a process of its own built on the
// public provider and runner packages with provider credentials, serves
// it; the application is then deployed and the wasmCloud-shaped actor
// stores and reads files through it.
func TestExternalBlobstoreProvider(t *testing.T) {
	h := startHost(t)
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mustRun(t, h.url, "build", "./examples/blobstore-fs/files", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:blobstore",
		"-o", filepath.Join(dir, "build", "files.wasm"))
	manifest := strings.NewReplacer("127.0.0.1:8088", addr, "/tmp/wisp-blobs", blobs).Replace(readFile(t, "examples/blobstore-fs/app.yaml"))
	manifestPath := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(manifestPath, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, h.url, "app", "deploy", manifestPath)
	waitStatus := func(want func(app.Status) bool, what string) {
		t.Helper()
		testwait.Eventually(t, 30*time.Second, func() error {
			if st := appStatus(t, h.url, "files"); !want(st) {
				return fmt.Errorf("status not %s: %+v", what, st)
			}
			return nil
		})
	}
	waitStatus(func(st app.Status) bool {
		return st.Phase == app.PhaseReconciling && st.Message == "waiting for a provider of wasmcloud:blobstore (link default)"
	}, "waiting for the provider")

	creds := filepath.Join(dir, "blobfs.creds")
	mustRun(t, h.url, "creds", "create", "blobfs", "--role", "provider", "--contract", "wasmcloud:blobstore", "-o", creds)
	bin := filepath.Join(dir, "blobstore-fs")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/blobstore-fs/provider").CombinedOutput(); err != nil {
		t.Fatalf("build the provider: %v\n%s", err, out)
	}
	logs := &syncBuffer{}
	prov := exec.Command(bin, "--nats-url", h.url, "--nats-creds", creds, "--root", filepath.Join(dir, "unused"))
	prov.Stdout, prov.Stderr = logs, logs
	dieWithTest(prov)
	if err := prov.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prov.Process.Kill()
		prov.Wait()
		if t.Failed() {
			t.Logf("provider output:\n%s", logs)
		}
	})
	waitStatus(func(st app.Status) bool { return st.Phase == app.PhaseDeployed }, "deployed")

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The link reaches the provider a moment after the status settles.
	testwait.Eventually(t, 20*time.Second, func() error {
		if code, body := do("PUT", "/files/hello.txt", "hello blobs"); code != 201 {
			return fmt.Errorf("PUT: %d %q", code, body)
		}
		return nil
	})
	if code, body := do("GET", "/files/hello.txt", ""); code != 200 || body != "hello blobs" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if code, body := do("GET", "/files", ""); code != 200 || body != "hello.txt\n" {
		t.Fatalf("list: %d %q", code, body)
	}
	matches, _ := filepath.Glob(filepath.Join(blobs, "*", "files", "hello.txt"))
	if len(matches) != 1 {
		t.Fatalf("the object is not on disk under the link's ROOT %s", blobs)
	}
	if code, _ := do("GET", "/files/..%2F..%2Fetc%2Fpasswd", ""); code == 200 {
		t.Fatal("a name that leaves the actor's directory was served")
	}
	if code, _ := do("DELETE", "/files/hello.txt", ""); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, _ := do("GET", "/files/hello.txt", ""); code != 404 {
		t.Fatalf("GET after DELETE: %d", code)
	}
}
