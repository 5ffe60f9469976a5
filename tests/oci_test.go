package tests

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/oci"
)

// registryProc is a Debian docker-registry (distribution 2.8) process.
type registryProc struct {
	addr string
	cmd  *exec.Cmd
	done chan error
}

// startRegistry runs docker-registry on a free 127.0.0.1 port with a
// throwaway config and storage; with user set, it requires that user and
// password (htpasswd).
func startRegistry(t *testing.T, user, password string) *registryProc {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-registry is not installed: .ci/run installs Debian's docker-registry package")
		}
		t.Skip("docker-registry is not installed (Debian package docker-registry; bash .ci/run installs it)")
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: wisp-test-secret
`, filepath.Join(dir, "data"), addr)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600)
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: wisp-test\n    path: %s\n", htpasswd)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &registryProc{addr: addr, cmd: cmd, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	testwait.Eventually(t, 15*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err != nil {
			return fmt.Errorf("docker-registry did not come up: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("docker-registry did not come up: %s", resp.Status)
		}
		return nil
	})
	return r
}

func (r *registryProc) stop() {
	if r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		<-r.done
		r.cmd.ProcessState = &os.ProcessState{}
	}
}

// signedEcho builds the echo actor and signs it with a name and version.
func signedEcho(t *testing.T, url, dir string) (signed, unsigned string) {
	t.Helper()
	unsigned = filepath.Join(dir, "echo.wasm")
	signed = filepath.Join(dir, "echo_s.wasm")
	mustRun(t, url, "build", "./actors/echo", "-o", unsigned, "--no-sign")
	mustRun(t, url, "claims", "sign", unsigned, "--name", "echo", "--alias", "echo", "--ver", "0.1.0", "--rev", "1", "-o", signed)
	return signed, unsigned
}

// TestOCIEndToEnd walks the registry workflow with real processes: a
// Debian docker-registry, `wisp push`/`pull`/`inspect`, skopeo reading what
// wisp pushed, and `wisp up` hosts that pull, verify and run by reference.
func TestOCIEndToEnd(t *testing.T) {
	reg := startRegistry(t, "", "")
	h := startHost(t)
	signed, unsigned := signedEcho(t, h.url, t.TempDir())
	ref := reg.addr + "/demo/echo:0.1.0"

	out, errOut, code := run(t, h.url, "push", ref, signed)
	if code != 0 || !strings.Contains(out, "Digest: sha256:") {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "push ") || !strings.Contains(errOut, " done in ") {
		t.Fatalf("push showed no progress: %q", errOut)
	}
	digest := strings.TrimSpace(out[strings.Index(out, "sha256:"):])

	// A client nobody here wrote reads what wisp pushed.
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect: %v", err)
	}
	sum := sha256.Sum256(raw)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		t.Fatalf("skopeo's manifest hashes to %x, wisp printed %s", sum, digest)
	}
	var m struct {
		Config      struct{ MediaType string }
		Layers      []struct{ MediaType, Digest string }
		Annotations map[string]string
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	mod, _ := os.ReadFile(signed)
	modSum := sha256.Sum256(mod)
	if m.Config.MediaType != oci.MediaTypeActorConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != oci.MediaTypeWasmLayer ||
		m.Layers[0].Digest != "sha256:"+hex.EncodeToString(modSum[:]) ||
		m.Annotations[oci.AnnotationTitle] != "echo" || m.Annotations[oci.AnnotationVersion] != "0.1.0" {
		t.Fatalf("manifest as skopeo reads it: %s", raw)
	}

	// Pull: from the registry, then from the cache.
	pulled := filepath.Join(t.TempDir(), "pulled.wasm")
	out = mustRun(t, h.url, "pull", ref, "-o", pulled)
	if !strings.Contains(out, "from registry") || !strings.Contains(out, "Claims: echo") {
		t.Fatalf("pull: %s", out)
	}
	if b, _ := os.ReadFile(pulled); string(b) != string(mod) {
		t.Fatal("pulled module differs from the pushed one")
	}
	if out = mustRun(t, h.url, "pull", ref, "-o", pulled); !strings.Contains(out, "from cache") {
		t.Fatalf("second pull: %s", out)
	}

	var in struct {
		Digest string
		Claims struct {
			Name  string
			Valid bool
		}
	}
	json.Unmarshal([]byte(mustRun(t, h.url, "inspect", ref, "-o", "json")), &in)
	if in.Digest != digest || in.Claims.Name != "echo" || !in.Claims.Valid {
		t.Fatalf("inspect: %+v", in)
	}
	if out = mustRun(t, h.url, "inspect", ref); !strings.Contains(out, digest) || !strings.Contains(out, "org.opencontainers.image.title=echo") {
		t.Fatalf("inspect table:\n%s", out)
	}

	// The host pulls, verifies and runs it.
	mustRun(t, h.url, "start", "actor", ref, "--count", "2")
	if out = mustRun(t, h.url, "call", "echo", "Echo.Reply", "from a registry"); out != "from a registry\n" {
		t.Fatalf("call = %q", out)
	}
	if !strings.Contains(h.logs.String(), "actor module pulled") {
		t.Fatal("host log does not show the pull")
	}

	// Refusals, with exit codes scripts can trust.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"push", reg.addr + "/demo/echo:latest", signed}, 2, "--allow-latest"},
		{[]string{"push", reg.addr + "/demo/echo", signed}, 2, "no tag"},
		{[]string{"push", reg.addr + "/demo/echo:0.2.0", unsigned}, 7, "not signed"},
		{[]string{"pull", reg.addr + "/demo/echo:9.9.9"}, 3, "not found"},
		{[]string{"start", "actor", reg.addr + "/demo/echo:latest"}, 6, "--allow-latest"},
	} {
		_, errOut, code := run(t, h.url, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("wisp %s: exit %d (want %d), %q (want %q)", strings.Join(c.args, " "), code, c.code, errOut, c.want)
		}
	}

	// The tag moves to an unsigned module (pushed by another client): a
	// host that has not cached it refuses it; the first host keeps
	// serving the signed one it cached.
	c, err := oci.New(oci.WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(unsigned)
	if _, err := c.Push(context.Background(), ref, plain, nil); err != nil {
		t.Fatal(err)
	}
	fresh := startHost(t)
	if _, errOut, code := run(t, fresh.url, "start", "actor", ref); code != 6 || !strings.Contains(errOut, "not signed") {
		t.Fatalf("start of a tag moved to an unsigned module: exit %d, %q", code, errOut)
	}
	// Pinned by digest, the signed artifact still starts anywhere.
	mustRun(t, fresh.url, "start", "actor", reg.addr+"/demo/echo@"+digest)

	// With the registry gone, cached artifacts still start and pulls fail
	// clearly.
	reg.stop()
	mustRun(t, h.url, "stop", "actor", "echo")
	mustRun(t, h.url, "start", "actor", ref)
	if _, errOut, code := run(t, h.url, "pull", ref, "--refresh", "-o", pulled); code != 8 || !strings.Contains(errOut, "registry unreachable") {
		t.Fatalf("pull from a stopped registry: exit %d, %q", code, errOut)
	}
}

// TestOCIRegistryCredentials: a registry that requires a password refuses
// pushes and pulls without it or with a wrong one (exit 8), accepts
// --user/--password, the Docker config `docker login` writes, and hosts
// given WISP_REGISTRY_USER/WISP_REGISTRY_PASSWORD.
func TestOCIRegistryCredentials(t *testing.T) {
	reg := startRegistry(t, "wisp", "s3cret")
	h := startHost(t)
	signed, _ := signedEcho(t, h.url, t.TempDir())
	ref := reg.addr + "/demo/echo:0.1.0"

	if _, errOut, code := run(t, h.url, "push", ref, signed); code != 8 || !strings.Contains(errOut, "credentials") {
		t.Fatalf("push without credentials: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, h.url, "push", ref, signed, "--user", "wisp", "--password", "wrong"); code != 8 || !strings.Contains(errOut, "credentials") {
		t.Fatalf("push with a wrong password: exit %d, %q", code, errOut)
	}
	mustRun(t, h.url, "push", ref, signed, "--user", "wisp", "--password", "s3cret")

	docker := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("wisp:s3cret"))
	os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths":{"`+reg.addr+`":{"auth":"`+auth+`"}}}`), 0o600)
	if _, errOut, code := runEnv(t, []string{"DOCKER_CONFIG=" + docker}, h.url, "pull", ref, "-o", filepath.Join(t.TempDir(), "x.wasm")); code != 0 {
		t.Fatalf("pull with Docker config credentials: exit %d, %q", code, errOut)
	}

	if _, errOut, code := run(t, h.url, "start", "actor", ref); code != 6 || !strings.Contains(errOut, "credentials") {
		t.Fatalf("start on a host without credentials: exit %d, %q", code, errOut)
	}
	withCreds := startHostEnv(t, []string{"WISP_REGISTRY_USER=wisp", "WISP_REGISTRY_PASSWORD=s3cret"})
	mustRun(t, withCreds.url, "start", "actor", ref)
	if out := mustRun(t, withCreds.url, "call", "echo", "Echo.Reply", "authed"); out != "authed\n" {
		t.Fatalf("call = %q", out)
	}
	if strings.Contains(withCreds.logs.String(), "s3cret") {
		t.Fatal("the host logged the registry password")
	}
}
