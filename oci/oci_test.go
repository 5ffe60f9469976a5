package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// testRegistry is an in-process registry on 127.0.0.1 that records the
// requests it serves.
type testRegistry struct {
	host string
	mu   sync.Mutex
	reqs []string
}

func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	return startTestRegistry(t, wrap)
}

func newRegistryB(b *testing.B) *testRegistry { return startTestRegistry(b, nil) }

func startTestRegistry(t testing.TB, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, r.Method+" "+r.URL.Path)
		tr.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

// requests returns and forgets the requests served so far.
func (tr *testRegistry) requests() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.reqs
	tr.reqs = nil
	return r
}

func (tr *testRegistry) ref(repoTag string) string { return tr.host + "/" + repoTag }

// module returns a small valid Wasm module with a unique custom section.
func module(t testing.TB, extra int) []byte {
	t.Helper()
	payload := make([]byte, 16+extra)
	rand.Read(payload)
	name := "x"
	sec := append([]byte{byte(len(name))}, name...)
	sec = append(sec, payload...)
	m := append([]byte{}, wasmMagic...)
	m = append(m, 1, 0, 0, 0, 0) // version 1, custom section id 0
	m = append(m, uleb(len(sec))...)
	return append(m, sec...)
}

func uleb(n int) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithCacheDir(t.TempDir()), WithRetry(3, 5*time.Millisecond), WithDockerConfig(filepath.Join(t.TempDir(), "config.json"))}, opts...)
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	mod := module(t, 1000)
	var events []Progress
	pusher := newClient(t, WithProgress(func(p Progress) { events = append(events, p) }))
	ref := reg.ref("demo/echo:0.1.0")
	p, err := pusher.Push(ctx, ref, mod, map[string]string{AnnotationTitle: "echo", AnnotationVersion: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Digest, "sha256:") || p.Reference != ref {
		t.Fatalf("pushed %+v", p)
	}
	last := events[len(events)-1]
	if last.Op != "push" || last.MediaType != MediaTypeWasmLayer || last.Done != int64(len(mod)) || last.Total != int64(len(mod)) {
		t.Fatalf("last progress %+v", last)
	}

	a, err := newClient(t).Pull(ctx, ref, IfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Module, mod) || a.Digest != p.Digest || a.Cached {
		t.Fatalf("pulled digest %s cached %v, module equal %v", a.Digest, a.Cached, bytes.Equal(a.Module, mod))
	}
	if a.Manifest.Config.MediaType != MediaTypeActorConfig || a.Layer.MediaType != MediaTypeWasmLayer ||
		a.Manifest.Annotations[AnnotationTitle] != "echo" || a.Manifest.Annotations[AnnotationVersion] != "0.1.0" {
		t.Fatalf("manifest %+v", a.Manifest)
	}
}

func TestPullServesCacheWithoutAskingRegistry(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	ref := reg.ref("demo/echo:1")
	if _, err := newClient(t).Push(ctx, ref, module(t, 10), nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if _, err := c.Pull(ctx, ref, IfNotPresent); err != nil {
		t.Fatal(err)
	}
	reg.requests()
	a, err := c.Pull(ctx, ref, IfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Cached {
		t.Fatal("second pull not served from cache")
	}
	if r := reg.requests(); len(r) != 0 {
		t.Fatalf("second pull asked the registry: %v", r)
	}
	// The cache is a valid OCI image layout.
	for _, f := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(c.Cache().Dir(), f)); err != nil {
			t.Fatal(err)
		}
	}
	var idx ocispec.Index
	b, _ := os.ReadFile(filepath.Join(c.Cache().Dir(), "index.json"))
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != ref {
		t.Fatalf("index.json: %s (%v)", b, err)
	}
}

func TestRefreshFollowsMovedTagAndPinnedDigestDoesNot(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	ref := reg.ref("demo/echo:1")
	v1, v2 := module(t, 10), module(t, 20)
	pusher := newClient(t)
	p1, err := pusher.Push(ctx, ref, v1, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	if _, err := c.Pull(ctx, ref, IfNotPresent); err != nil {
		t.Fatal(err)
	}
	if _, err := pusher.Push(ctx, ref, v2, nil); err != nil {
		t.Fatal(err)
	}
	reg.requests()
	a, err := c.Pull(ctx, ref, IfNotPresent)
	if err != nil || !bytes.Equal(a.Module, v1) {
		t.Fatalf("cached pull: %v, got v1 %v", err, a != nil && bytes.Equal(a.Module, v1))
	}
	a, err = c.Pull(ctx, ref, Always)
	if err != nil || !bytes.Equal(a.Module, v2) || a.Cached {
		t.Fatalf("refresh: %v, got v2 %v", err, a != nil && bytes.Equal(a.Module, v2))
	}
	// Only the new layer was downloaded; the config blob was cached.
	var blobGets int
	for _, r := range reg.requests() {
		if strings.HasPrefix(r, "GET ") && strings.Contains(r, "/blobs/") {
			blobGets++
		}
	}
	if blobGets != 1 {
		t.Fatalf("refresh downloaded %d blobs, want 1 (the new layer)", blobGets)
	}

	// A digest reference gets v1 however the tag moved, first from the
	// registry (new cache), then from the cache with no request at all.
	pinned := reg.ref("demo/echo@" + p1.Digest)
	fresh := newClient(t)
	a, err = fresh.Pull(ctx, pinned, Always)
	if err != nil || !bytes.Equal(a.Module, v1) {
		t.Fatalf("pinned pull: %v", err)
	}
	for _, r := range reg.requests() {
		if strings.HasSuffix(r, "/manifests/1") {
			t.Fatalf("pinned pull resolved the tag: %s", r)
		}
	}
	a, err = fresh.Pull(ctx, pinned, Always)
	if err != nil || !a.Cached || !bytes.Equal(a.Module, v1) {
		t.Fatalf("second pinned pull: %v cached=%v", err, a != nil && a.Cached)
	}
	if r := reg.requests(); len(r) != 0 {
		t.Fatalf("pinned pull of a cached digest asked the registry: %v", r)
	}
}

func TestLatestRefused(t *testing.T) {
	for _, ref := range []string{"127.0.0.1:5000/demo/echo", "127.0.0.1:5000/demo/echo:latest"} {
		if _, err := ParseReference(ref, false); !errors.Is(err, ErrLatest) || !strings.Contains(err.Error(), "--allow-latest") {
			t.Errorf("%s: %v, want ErrLatest naming --allow-latest", ref, err)
		}
		r, err := ParseReference(ref, true)
		if err != nil || r.Tag != "latest" {
			t.Errorf("%s with allowLatest: %+v %v", ref, r, err)
		}
	}
	reg := newRegistry(t, nil)
	_, err := newClient(t).Push(context.Background(), reg.ref("demo/echo:latest"), module(t, 1), nil)
	if !errors.Is(err, ErrLatest) {
		t.Fatalf("push latest: %v", err)
	}
	if r := reg.requests(); len(r) != 0 {
		t.Fatalf("refused push reached the registry: %v", r)
	}
	if _, err := ParseReference("not a ref", false); err == nil {
		t.Fatal("bad reference accepted")
	}
}

func TestMissingTag(t *testing.T) {
	reg := newRegistry(t, nil)
	c := newClient(t)
	if _, err := c.Push(context.Background(), reg.ref("demo/echo:1"), module(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{reg.ref("demo/echo:2"), reg.ref("demo/nothing:1")} {
		_, err := c.Pull(context.Background(), ref, IfNotPresent)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), ref) {
			t.Errorf("%s: %v, want ErrNotFound naming the reference", ref, err)
		}
	}
}

// pushRaw pushes a manifest with the given layers, as other tools might.
func pushRaw(t *testing.T, reg *testRegistry, repoTag string, layers map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	name, tag, _ := strings.Cut(repoTag, ":")
	repo, err := remote.NewRepository(reg.host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	config := []byte("{}")
	cd := content.NewDescriptorFromBytes("application/vnd.oci.image.config.v1+json", config)
	if err := repo.Push(ctx, cd, bytes.NewReader(config)); err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd}
	for mt, b := range layers {
		d := content.NewDescriptorFromBytes(mt, b)
		if err := repo.Push(ctx, d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		m.Layers = append(m.Layers, d)
	}
	mb, _ := json.Marshal(m)
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	if err := repo.PushReference(ctx, md, bytes.NewReader(mb), tag); err != nil {
		t.Fatal(err)
	}
}

func tarOf(t *testing.T, files map[string][]byte, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w = &buf
	var zw *gzip.Writer
	tw := tar.NewWriter(w)
	if gz {
		zw = gzip.NewWriter(w)
		tw = tar.NewWriter(zw)
	}
	for name, b := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func TestPlainOCILayersAccepted(t *testing.T) {
	reg := newRegistry(t, nil)
	mod := module(t, 100)
	cases := map[string]map[string][]byte{
		"raw:1":     {MediaTypeTarLayer: mod}, // what `oras push ref file.wasm` writes
		"tar:1":     {MediaTypeTarLayer: tarOf(t, map[string][]byte{"actor.wasm": mod}, false)},
		"targzip:1": {MediaTypeTarGzipLayer: tarOf(t, map[string][]byte{"dist/actor.wasm": mod}, true)},
	}
	for repoTag, layers := range cases {
		pushRaw(t, reg, "plain/"+repoTag, layers)
		a, err := newClient(t).Pull(context.Background(), reg.ref("plain/"+repoTag), IfNotPresent)
		if err != nil {
			t.Errorf("%s: %v", repoTag, err)
			continue
		}
		if !bytes.Equal(a.Module, mod) {
			t.Errorf("%s: wrong module", repoTag)
		}
	}
}

func TestNotAnActorRefused(t *testing.T) {
	reg := newRegistry(t, nil)
	cases := map[string]map[string][]byte{
		"text:1":      {"text/plain": []byte("hello")},
		"tarnowasm:1": {MediaTypeTarLayer: tarOf(t, map[string][]byte{"README": []byte("hi")}, false)},
		"badwasm:1":   {MediaTypeWasmLayer: []byte("definitely not wasm")},
		"twowasm:1":   {MediaTypeTarLayer: tarOf(t, map[string][]byte{"a.wasm": module(t, 1), "b.wasm": module(t, 1)}, false)},
		// Decompression stops at the first entry that is not a module.
		"readme:1":  {MediaTypeTarLayer: tarOf(t, map[string][]byte{"README": []byte("hi"), "actor.wasm": module(t, 1)}, false)},
		"notwasm:1": {MediaTypeTarGzipLayer: tarOf(t, map[string][]byte{"actor.wasm": []byte("text, not a module")}, true)},
	}
	for repoTag, layers := range cases {
		pushRaw(t, reg, "bad/"+repoTag, layers)
		c := newClient(t)
		_, err := c.Pull(context.Background(), reg.ref("bad/"+repoTag), IfNotPresent)
		if !errors.Is(err, ErrNotActor) {
			t.Errorf("%s: %v, want ErrNotActor", repoTag, err)
			continue
		}
		t.Logf("%s: %v", repoTag, err)
		if _, ok, _ := c.Cache().resolve(context.Background(), reg.ref("bad/"+repoTag)); ok {
			t.Errorf("%s: refused artifact was tagged in the cache", repoTag)
		}
	}
	if _, err := newClient(t).Push(context.Background(), reg.ref("bad/push:1"), []byte("text"), nil); !errors.Is(err, ErrNotActor) {
		t.Fatalf("push of a non-module: %v", err)
	}
}

// tamper serves blob downloads with one byte changed.
func tamper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		if len(b) > 8 {
			b[len(b)-1] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(b)
	})
}

func TestTamperedBlobRefused(t *testing.T) {
	reg := newRegistry(t, tamper)
	ref := reg.ref("demo/echo:1")
	if _, err := newClient(t).Push(context.Background(), ref, module(t, 100), nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	_, err := c.Pull(context.Background(), ref, IfNotPresent)
	if !errors.Is(err, ErrDigest) {
		t.Fatalf("tampered layer: %v, want ErrDigest", err)
	}
	assertNoEntry(t, c, ref)
}

// assertNoEntry checks that nothing was cached for ref: no tag, no blob
// besides the small config, no partial download.
func assertNoEntry(t *testing.T, c *Client, ref string) {
	t.Helper()
	if _, ok, err := c.Cache().resolve(context.Background(), ref); ok || err != nil {
		t.Errorf("cache has %s (err %v)", ref, err)
	}
	ents, _ := os.ReadDir(filepath.Join(c.Cache().Dir(), "ingest"))
	if len(ents) != 0 {
		t.Errorf("partial downloads left in ingest/: %d (%s)", len(ents), ents[0].Name())
	}
	blobs, _ := os.ReadDir(filepath.Join(c.Cache().Dir(), "blobs", "sha256"))
	for _, b := range blobs {
		info, _ := b.Info()
		if info.Size() > 10 {
			t.Errorf("blob %s (%d bytes) cached", b.Name(), info.Size())
		}
	}
}

func TestOversizedLayerRefusedBeforeDownload(t *testing.T) {
	reg := newRegistry(t, nil)
	ref := reg.ref("demo/big:1")
	if _, err := newClient(t).Push(context.Background(), ref, module(t, 4096), nil); err != nil {
		t.Fatal(err)
	}
	reg.requests()
	c := newClient(t, WithMaxLayerSize(1024))
	_, err := c.Pull(context.Background(), ref, IfNotPresent)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit is 1024") {
		t.Fatalf("oversized: %v", err)
	}
	for _, r := range reg.requests() {
		if strings.Contains(r, "/blobs/") {
			t.Fatalf("downloaded a blob of a refused artifact: %s", r)
		}
	}
	assertNoEntry(t, c, ref)
}

// cutOnce cuts the first download of a blob larger than 1 KiB halfway.
func cutOnce(next http.Handler) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		cut := false
		if len(b) > 1024 {
			once.Do(func() { cut = true })
		}
		if !cut {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(b)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
}

func TestInterruptedDownloadRestartsCleanly(t *testing.T) {
	mod := module(t, 64<<10)
	// Retries on: the cut transfer starts again and the pull succeeds.
	reg := newRegistry(t, cutOnce)
	ref := reg.ref("demo/echo:1")
	if _, err := newClient(t).Push(context.Background(), ref, mod, nil); err != nil {
		t.Fatal(err)
	}
	a, err := newClient(t).Pull(context.Background(), ref, IfNotPresent)
	if err != nil || !bytes.Equal(a.Module, mod) {
		t.Fatalf("pull after a cut transfer: %v", err)
	}

	// No retries: the pull fails, leaves nothing, and the next one works.
	reg = newRegistry(t, cutOnce)
	ref = reg.ref("demo/echo:1")
	if _, err := newClient(t).Push(context.Background(), ref, mod, nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, WithRetry(1, time.Millisecond))
	if _, err := c.Pull(context.Background(), ref, IfNotPresent); err == nil {
		t.Fatal("cut transfer without retries succeeded")
	} else {
		t.Logf("cut transfer: %v", err)
	}
	assertNoEntry(t, c, ref)
	a, err = c.Pull(context.Background(), ref, IfNotPresent)
	if err != nil || !bytes.Equal(a.Module, mod) {
		t.Fatalf("pull after a failed one: %v", err)
	}
}

func TestRegistryDown(t *testing.T) {
	// Nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t)
	_, err = c.Pull(context.Background(), addr+"/demo/echo:1", IfNotPresent)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("pull from a dead registry: %v", err)
	}
	assertNoEntry(t, c, addr+"/demo/echo:1")

	// Something accepts and hangs up: the client retries with backoff.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepts := 0
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepts++
			mu.Unlock()
			conn.Close()
		}
	}()
	_, err = newClient(t, WithRetry(3, time.Millisecond)).Pull(context.Background(), ln.Addr().String()+"/demo/echo:1", IfNotPresent)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("pull from a registry that hangs up: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if accepts < 3 {
		t.Fatalf("%d connections, want at least 3 (retries)", accepts)
	}
}

// basicAuth requires user:pass.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("Www-Authenticate", `Basic realm="wisp-test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, basicAuth("wisp", "s3cret"))
	ref := reg.ref("demo/echo:1")
	if _, err := newClient(t).Push(ctx, ref, module(t, 1), nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("push without credentials: %v", err)
	}
	if _, err := newClient(t, WithBasicAuth("wisp", "wrong")).Push(ctx, ref, module(t, 1), nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("push with a wrong password: %v", err)
	}
	if _, err := newClient(t, WithBasicAuth("wisp", "s3cret")).Push(ctx, ref, module(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(t, WithBasicAuth("wisp", "wrong")).Pull(ctx, ref, IfNotPresent); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("pull with a wrong password: %v", err)
	}
	// The Docker config, as `docker login` writes it.
	cfg := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("wisp:s3cret"))
	os.WriteFile(cfg, []byte(`{"auths":{"`+reg.host+`":{"auth":"`+auth+`"}}}`), 0o600)
	c, err := New(WithCacheDir(t.TempDir()), WithDockerConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pull(ctx, ref, IfNotPresent); err != nil {
		t.Fatalf("pull with Docker config credentials: %v", err)
	}
	// A credential helper, as Docker Desktop or ecr-login install them:
	// docker-credential-<name> get reads the server on stdin.
	bin := t.TempDir()
	helper := "#!/bin/sh\nread server\n[ \"$server\" = \"" + reg.host + "\" ] || exit 1\n" +
		`echo '{"ServerURL":"'"$server"'","Username":"wisp","Secret":"s3cret"}'` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-wisptest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.WriteFile(cfg, []byte(`{"credsStore":"wisptest"}`), 0o600)
	c, err = New(WithCacheDir(t.TempDir()), WithDockerConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pull(ctx, ref, IfNotPresent); err != nil {
		t.Fatalf("pull with a credential helper: %v", err)
	}

	os.WriteFile(cfg, []byte(`{not json`), 0o600)
	if _, err := New(WithDockerConfig(cfg)); err == nil || !strings.Contains(err.Error(), "docker credential config") {
		t.Fatalf("malformed Docker config: %v", err)
	}
}

func TestDamagedCacheIsFetchedAgain(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	ref := reg.ref("demo/echo:1")
	mod := module(t, 500)
	if _, err := newClient(t).Push(ctx, ref, mod, nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t)
	a, err := c.Pull(ctx, ref, IfNotPresent)
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(c.Cache().Dir(), "blobs", "sha256", a.Layer.Digest.Encoded())
	os.Chmod(blob, 0o600)
	b, _ := os.ReadFile(blob)
	b[len(b)-1] ^= 1
	if err := os.WriteFile(blob, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err = c.Pull(ctx, ref, IfNotPresent)
	if err != nil || !bytes.Equal(a.Module, mod) || a.Cached {
		t.Fatalf("pull over a damaged cache: %v", err)
	}
}

func TestConcurrentPullsShareOneCache(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, nil)
	dir := t.TempDir()
	var refs []string
	for i := range 4 {
		ref := reg.ref(fmt.Sprintf("demo/a%d:1", i))
		if _, err := newClient(t).Push(ctx, ref, module(t, 2000), nil); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, WithCacheDir(dir))
			_, err := c.Pull(ctx, refs[i%4], IfNotPresent)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ref := range refs {
		if _, ok, err := NewCache(dir).resolve(ctx, ref); !ok || err != nil {
			t.Fatalf("%s missing from the shared cache (%v)", ref, err)
		}
	}
}

func TestHTTPSRegistryOnThisMachine(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	c := newClient(t)
	ref := host + "/demo/echo:1"
	if _, err := c.Push(context.Background(), ref, module(t, 1), nil); err != nil {
		t.Fatalf("push over HTTPS with a self-signed certificate on loopback: %v", err)
	}
	if plain, _ := c.plainHTTP(context.Background(), host); plain {
		t.Fatal("used plain HTTP for an HTTPS registry")
	}
}

func TestInsecureRules(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.0.0.2": true, "[::1]:5000": true,
		"registry.example.com:5000": false, "ghcr.io": false, "10.0.0.1:5000": false,
	} {
		if got := IsLocalRegistry(host); got != want {
			t.Errorf("IsLocalRegistry(%s) = %v", host, got)
		}
	}
	c := newClient(t, WithAllowedInsecure("registry.lan:5000"))
	if !c.insecureAllowed("registry.lan:5000") || c.insecureAllowed("ghcr.io") || !c.insecureAllowed("localhost:5000") {
		t.Fatal("allowed-insecure list not honoured")
	}
	if !newClient(t, WithInsecure(true)).insecureAllowed("ghcr.io") {
		t.Fatal("--insecure not honoured")
	}
	if err := classify(fmt.Errorf("get: %w", http.ErrSchemeMismatch)); !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("HTTP answer to HTTPS: %v", err)
	}
}

func TestLooksLikeReference(t *testing.T) {
	for s, want := range map[string]bool{
		"localhost:5000/demo/echo:0.1.0":      true,
		"ghcr.io/wisp/echo:1":                 true,
		"127.0.0.1:5000/echo@sha256:abc":      true,
		"./actors/echo/build/echo.wasm":       false,
		"/tmp/echo.wasm":                      false,
		"echo.wasm":                           false,
		"build/echo.wasm":                     false,
		"actors/echo":                         false,
		"file:///tmp/x":                       false,
		"registry.example.com/demo/echo.wasm": false,
	} {
		if got := LooksLikeReference(s); got != want {
			t.Errorf("LooksLikeReference(%q) = %v", s, got)
		}
	}
}
