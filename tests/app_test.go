package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
)

// kvcounterApp is wadm's kvcounter example with the images changed to
// local files, plus an echo actor spread 80/20 over two zones.
const kvcounterApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    version: v1
    description: echo spread over two zones, and kvcounter behind HTTP
spec:
  components:
    - name: echo
      type: actor
      properties:
        image: file://./echo.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: 5
            spread:
              - name: east
                requirements:
                  zone: east
                weight: 80
              - name: west
                requirements:
                  zone: west
                weight: 20
    - name: kvcounter
      type: actor
      properties:
        image: file://./kvcounter.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread:
              - name: west
                requirements:
                  zone: west
        - type: linkdef
          properties:
            target: httpserver
            values:
              address: %s
        - type: linkdef
          properties:
            target: keyvalue
            values:
              BUCKET: shop_counts
    - name: httpserver
      type: capability
      properties:
        image: wasmcloud.azurecr.io/httpserver:0.17.0
        contract: wasmcloud:httpserver
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread:
              - requirements:
                  zone: west
    - name: keyvalue
      type: capability
      properties:
        image: wisp:keyvalue
        contract: wasmcloud:keyvalue
      traits:
        - type: daemonscaler
          properties:
            replicas: 1
`

// managed counts, by host name, the instances of an application's
// component and whether the host runs its provider.
func managed(t *testing.T, url string, comp string) map[string]int {
	t.Helper()
	out, _, code := run(t, url, "get", "inventory", "-o", "json", "--timeout", "2s")
	var invs []lattice.HostInventory
	if code != 0 || json.Unmarshal([]byte(out), &invs) != nil {
		return nil
	}
	m := map[string]int{}
	for _, inv := range invs {
		for _, a := range inv.Actors {
			if a.Annotations[lattice.AnnotationComponent] == comp && a.Annotations[lattice.AnnotationManagedBy] == lattice.ManagedByApps {
				m[inv.Host.Name] += a.Instances
			}
		}
		for _, p := range inv.Providers {
			if p.Annotations[lattice.AnnotationComponent] == comp && p.Annotations[lattice.AnnotationManagedBy] == lattice.ManagedByApps {
				m[inv.Host.Name]++
			}
		}
	}
	return m
}

func waitPlacement(t *testing.T, url, comp string, want map[string]int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	testwait.Eventually(t, within, func() error {
		if got := managed(t, url, comp); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s placed %v, want %v", comp, got, want)
		}
		return nil
	})
	return time.Since(start)
}

func appStatus(t *testing.T, url, name string) app.Status {
	t.Helper()
	var st app.Status
	if err := json.Unmarshal([]byte(mustRun(t, url, "app", "status", name, "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAppsPlaceHealAndCleanUp: three host processes in two zones; a
// manifest with an 80/20 spread, providers and links; a host killed with
// -9 (the one whose reconciler is active) has its share re-placed within
// 5 s; restarted, it takes its share back; undeploy removes all it started
// and nothing else.
func TestAppsPlaceHealAndCleanUp(t *testing.T) {
	a := startHost(t, "--name", "a", "--label", "zone=east", "--no-reconciler")
	cache := t.TempDir()
	spawnB := func(name string) *hostProc {
		return spawn(t, a.url, "--nats-url", a.url, "--name", name, "--label", "zone=east", "--cache-dir", cache)
	}
	b := spawnB("b")
	hostsByName(t, a.url, "default", 2)

	dir := t.TempDir()
	mustRun(t, a.url, "build", "./actors/echo", "-o", filepath.Join(dir, "echo.wasm"))
	mustRun(t, a.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", filepath.Join(dir, "kvcounter.wasm"))
	hello := filepath.Join(t.TempDir(), "hello.wasm")
	mustRun(t, a.url, "build", "./actors/hello-http", "--cap", "wasmcloud:httpserver", "-o", hello)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	manifestPath := filepath.Join(dir, "shop.yaml")
	os.WriteFile(manifestPath, []byte(fmt.Sprintf(kvcounterApp, addr)), 0o644)

	// Something started by hand, which the reconciler must leave alone.
	hosts := hostsByName(t, a.url, "default", 2)
	startOn(t, a.url, hello, hosts["a"].ID)

	// b's reconciler is the only one until c comes, so it is the active one.
	out := eventually(t, a.url, "app", "deploy", manifestPath)
	if !strings.Contains(out, "app shop version v1 is the deployed version") {
		t.Fatalf("deploy printed %q", out)
	}
	// b's reconciler finds the bucket the deploy made and reports (the
	// west share has no host yet) before c joins the election.
	testwait.Eventually(t, 30*time.Second, func() error {
		if out, errOut, code := run(t, a.url, "app", "status", "shop", "-o", "json"); code != 0 || !strings.Contains(out, `"reconciler": "b"`) {
			return fmt.Errorf("b's reconciler has not reported on the app: exit %d %s%s", code, out, errOut)
		}
		return nil
	})
	spawn(t, a.url, "--nats-url", a.url, "--name", "c", "--label", "zone=west", "--cache-dir", cache)
	waitPlacement(t, a.url, "echo", map[string]int{"a": 2, "b": 2, "c": 1}, 60*time.Second)
	waitPlacement(t, a.url, "kvcounter", map[string]int{"c": 1}, 30*time.Second)
	waitPlacement(t, a.url, "httpserver", map[string]int{"c": 1}, 30*time.Second)
	waitPlacement(t, a.url, "keyvalue", map[string]int{"a": 1, "b": 1, "c": 1}, 30*time.Second)
	var st app.Status
	testwait.Eventually(t, 30*time.Second, func() error {
		if st = appStatus(t, a.url, "shop"); st.Phase != app.PhaseDeployed {
			return fmt.Errorf("status = %+v", st)
		}
		return nil
	})
	if st.Reconciler != "b" || st.Version != "v1" || len(st.Links) != 2 {
		t.Fatalf("status = %+v; want reconciler b, v1, two links", st)
	}
	testwait.Eventually(t, 20*time.Second, func() error {
		if code, body, err := httpGet("http://" + addr + "/count"); err != nil || code != 200 || !strings.Contains(body, `"counter":`) {
			return fmt.Errorf("kvcounter through the app's HTTP link: %d %q %v", code, body, err)
		}
		return nil
	})

	// kill -9 the host whose reconciler is active: c's takes over and
	// moves b's two echo instances to a.
	b.cmd.Process.Signal(syscall.SIGKILL)
	healed := waitPlacement(t, a.url, "echo", map[string]int{"a": 4, "c": 1}, 30*time.Second)
	t.Logf("re-placed the share of a host killed with -9 (the active reconciler's) in %s", healed.Round(10*time.Millisecond))
	if healed > 5*time.Second {
		t.Errorf("healing took %s, want within 5s", healed)
	}
	if st := appStatus(t, a.url, "shop"); st.Reconciler != "c" {
		t.Errorf("reconciler after b died = %q, want c", st.Reconciler)
	}

	// b restarted (a new process, so a new host id) gets its share back.
	spawnB("b")
	waitPlacement(t, a.url, "echo", map[string]int{"a": 2, "b": 2, "c": 1}, 30*time.Second)
	waitPlacement(t, a.url, "keyvalue", map[string]int{"a": 1, "b": 1, "c": 1}, 30*time.Second)
	testwait.Eventually(t, 20*time.Second, func() error {
		if out := mustRun(t, a.url, "app", "status", "shop"); !strings.Contains(out, "version v1: deployed") || !strings.Contains(out, "a=2,b=2,c=1") {
			return fmt.Errorf("status after the restart:\n%s", out)
		}
		return nil
	})

	// Undeploy: everything it started goes, the hand-started actor stays.
	mustRun(t, a.url, "app", "undeploy", "shop")
	for _, comp := range []string{"echo", "kvcounter", "httpserver", "keyvalue"} {
		waitPlacement(t, a.url, comp, map[string]int{}, 30*time.Second)
	}
	inv := inventory(t, a.url, hosts["a"].ID)
	if len(inv.Actors) != 1 || inv.Actors[0].Name != "hello_http" {
		t.Fatalf("after undeploy host a runs %+v, want only the hand-started hello_http", inv.Actors)
	}
	testwait.Eventually(t, 20*time.Second, func() error {
		var links []lattice.Link
		json.Unmarshal([]byte(mustRun(t, a.url, "link", "get", "-o", "json")), &links)
		if st := appStatus(t, a.url, "shop"); len(links) != 0 || st.Phase != app.PhaseUndeployed || len(st.Links) != 0 {
			return fmt.Errorf("after undeploy: links %+v, status %+v", links, st)
		}
		return nil
	})
	var rows []map[string]any
	json.Unmarshal([]byte(mustRun(t, a.url, "app", "list", "-o", "json")), &rows)
	if len(rows) != 1 || rows[0]["status"] != "undeployed" || rows[0]["latest_version"] != "v1" {
		t.Fatalf("app list = %v", rows)
	}
	mustRun(t, a.url, "app", "delete", "shop")
	if out := mustRun(t, a.url, "app", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("app list after delete = %s", out)
	}
}

// TestAppBadInput: invalid manifests are refused with the line and field;
// an image that cannot be pulled and requirements no host matches fail
// their component (with backoff, not a busy loop) while the rest runs;
// racing deploys both land; versions are kept and checked.
func TestAppBadInput(t *testing.T) {
	h := startHost(t, "--label", "zone=east")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	bad := write("bad.yaml", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: bad
spec:
  components:
    - name: echo
      type: actor
      properties: {image: file:///nowhere/echo.wasm}
    - name: echo
      type: actor
      properties: {image: file:///nowhere/echo.wasm}
      traits:
        - type: linkdef
          properties: {target: httpd}
        - type: autoscaler
`)
	_, errOut, code := run(t, h.url, "app", "deploy", bad)
	if code != 7 || !strings.Contains(errOut, "bad.yaml:16:") || !strings.Contains(errOut, `unknown trait type "autoscaler"`) {
		t.Fatalf("bad manifest: exit %d, %q", code, errOut)
	}
	bad2 := write("bad2.yaml", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: bad}
spec:
  components:
    - name: echo
      type: actor
      properties: {image: file:///nowhere/echo.wasm}
    - name: echo
      type: actor
      properties: {image: file:///nowhere/echo.wasm}
      traits:
        - type: linkdef
          properties: {target: httpd}
    - name: kv
      type: capability
      properties: {image: wisp:keyvalue}
`)
	_, errOut, code = run(t, h.url, "app", "validate", bad2)
	for _, want := range []string{"bad2.yaml:9: component \"echo\": duplicate component name (first on line 6)",
		`bad2.yaml:13: component "echo": trait linkdef: target: "httpd": no component of that name`,
		`bad2.yaml:15: component "kv": properties.contract: missing`} {
		if code != 7 || !strings.Contains(errOut, want) {
			t.Errorf("validate: exit %d\n%s\nwants %q", code, errOut, want)
		}
	}
	if _, _, code := run(t, h.url, "app", "deploy", filepath.Join(dir, "missing.yaml")); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
	if _, _, code := run(t, h.url, "app", "status", "nosuch"); code != 3 {
		t.Errorf("status of an unknown app: exit %d, want 3", code)
	}

	mustRun(t, h.url, "build", "./actors/echo", "-o", filepath.Join(dir, "echo.wasm"))
	// martian is never placed (no host is on mars); two actors may not
	// share one image (wadm refuses that), so it has a copy.
	write("martian.wasm", readFile(t, filepath.Join(dir, "echo.wasm")))
	dead := fmt.Sprintf("127.0.0.1:%d/ghost:1.0.0", freePort(t))
	partial := write("partial.yaml", fmt.Sprintf(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: partial}
spec:
  components:
    - name: echo
      type: actor
      properties: {image: file://./echo.wasm}
    - name: ghost
      type: actor
      properties: {image: %s}
    - name: martian
      type: actor
      properties: {image: file://./martian.wasm}
      traits:
        - type: spreadscaler
          properties:
            replicas: 2
            spread:
              - requirements: {zone: mars}
`, dead))
	out, errOut, code := run(t, h.url, "app", "deploy", partial, "--wait", "60s")
	if code != 6 || !strings.Contains(errOut, "failed") {
		t.Fatalf("deploy of a partly broken app: exit %d\n%s%s", code, out, errOut)
	}
	// The status names both problems; echo runs anyway.
	var st app.Status
	testwait.Eventually(t, 30*time.Second, func() error {
		if st = appStatus(t, h.url, "partial"); !strings.Contains(st.Message, "ghost") || !strings.Contains(st.Message, "zone=mars") {
			return fmt.Errorf("status = %+v, want it to name ghost and zone=mars", st)
		}
		return nil
	})
	if st.Phase != app.PhaseFailed {
		t.Fatalf("phase = %s", st.Phase)
	}
	// The status does not wait for echo's start (the reconciler waits on
	// no component), so echo may still be compiling.
	if out := eventually(t, h.url, "call", "echo", "Echo.Reply", "still here"); out != "still here\n" {
		t.Fatalf("echo of the partly broken app = %q", out)
	}
	// The unpullable image is retried with backoff: over 6 s a busy loop
	// would fail every second.
	countFailed := func() int { return strings.Count(h.logs.String(), "actor failed to start") }
	before := countFailed()
	time.Sleep(6 * time.Second)
	if n := countFailed() - before; n > 3 {
		t.Errorf("%d failed starts of the unpullable image in 6s: the reconciler does not back off", n)
	}

	// Two deploys of the same app racing: both versions land, one is
	// deployed; the same version with other content is refused.
	race := func(v string) string {
		return write("race-"+v+".yaml", fmt.Sprintf("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: race\n  annotations: {version: %s}\nspec:\n  components:\n    - name: echo\n      type: actor\n      properties: {image: file://./echo.wasm}\n      traits:\n        - type: spreadscaler\n          properties: {replicas: 0}\n", v))
	}
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, codes[i] = run(t, h.url, "app", "deploy", race(fmt.Sprintf("v%d", i+1)))
		}()
	}
	wg.Wait()
	if fmt.Sprint(codes) != "[0 0 0 0]" {
		t.Fatalf("racing deploys exited %v", codes)
	}
	var hist []struct {
		Version  string `json:"version"`
		Deployed bool   `json:"deployed"`
	}
	json.Unmarshal([]byte(mustRun(t, h.url, "app", "history", "race", "-o", "json")), &hist)
	deployed := 0
	for _, v := range hist {
		if v.Deployed {
			deployed++
		}
	}
	if len(hist) != 4 || deployed != 1 {
		t.Fatalf("history after racing deploys = %+v", hist)
	}
	changed := write("race-changed.yaml", strings.Replace(readFile(t, race("v1")), "name: echo", "name: echo2", 1))
	if _, errOut, code := run(t, h.url, "app", "deploy", changed); code == 0 || !strings.Contains(errOut, "version exists") {
		t.Fatalf("same version, other content: exit %d, %q", code, errOut)
	}
	mustRun(t, h.url, "app", "deploy", "race", "--version", "v1", "--wait", "30s")
	if _, errOut, code := run(t, h.url, "app", "delete", "race", "--version", "v1"); code == 0 || !strings.Contains(errOut, "is deployed") {
		t.Fatalf("deleting the deployed version: exit %d, %q", code, errOut)
	}
	mustRun(t, h.url, "app", "delete", "race", "--version", "v2")
	if out := mustRun(t, h.url, "app", "get", "race", "--version", "v3"); !strings.Contains(out, "version: v3") {
		t.Fatalf("app get = %q", out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
