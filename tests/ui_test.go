package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/wisp-dev/wisp/internal/testwait"
)

// uiApp is a small application for the dashboard's apps view: kvcounter
// linked to the built-in keyvalue provider.
const uiApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: counter
  annotations:
    version: v1
    description: kvcounter with its keyvalue provider
spec:
  components:
    - name: kvcounter
      type: actor
      properties:
        image: file://%s
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread:
              - requirements:
                  site: hub
        - type: linkdef
          properties:
            target: keyvalue
            values:
              BUCKET: ui_counts
    - name: keyvalue
      type: capability
      properties:
        image: wisp:keyvalue
        contract: wasmcloud:keyvalue
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread:
              - requirements:
                  site: hub
`

// uiProc is a `wisp ui` process.
type uiProc struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
}

// startUI runs `wisp ui` against the lattice at natsURL, with the test's
// context (its auth store's admin), plus extra flags.
func startUI(t *testing.T, natsURL string, extra ...string) *uiProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(wisp(t), append([]string{"ui", "--listen", addr, "--refresh", "2s"}, extra...)...)
	cmd.Env = append(testEnv(t), "WISP_NATS_URL="+natsURL)
	logs := startProcess(t, "wisp ui", cmd)
	p := &uiProc{cmd: cmd, url: "http://" + addr + "/", logs: logs}
	testwait.Eventually(t, 20*time.Second, func() error {
		r, err := http.Get(p.url + "api/snapshot")
		if err != nil {
			return fmt.Errorf("wisp ui does not answer: %w", err)
		}
		r.Body.Close()
		return nil
	})
	return p
}

// browser starts Debian's chromium, headless, for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := needTool(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser actions with a deadline.
func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func eval[T any](ctx context.Context, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// mustEval is eval that fails the test on an error.
func mustEval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := eval[T](ctx, expr)
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// pageText is the text of the element sel, "" when there is none.
func pageText(ctx context.Context, sel string) (string, error) {
	return eval[string](ctx, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))
}

// waitText waits until the text of the element sel holds every one of
// want.
func waitText(t *testing.T, ctx context.Context, within time.Duration, sel string, want ...string) {
	t.Helper()
	testwait.Eventually(t, within, func() error {
		txt, err := pageText(ctx, sel)
		if err != nil {
			return err
		}
		for _, w := range want {
			if !strings.Contains(txt, w) {
				return fmt.Errorf("%s lacks %q: %q", sel, w, txt)
			}
		}
		return nil
	})
}

// view shows one view of the dashboard and waits for it to be drawn.
func view(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	mustEval[string](t, ctx, fmt.Sprintf(`location.hash = %q`, name))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#view-"+name)))
}

// screenshot writes the page as a PNG at path.
func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	do(t, ctx, chromedp.Sleep(300*time.Millisecond))
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardFollowsTheLattice runs `wisp ui` against two real hosts
// (a hub, and a gateway whose site is a leaf node of it), an actor
// started by hand on both and an application, and drives the page in a
// real browser: it lists every host and actor, follows a scale made with
// the CLI without a reload, shows an actor's error rate, scales an actor
// from the page with the keyboard alone, keeps its text readable
// (contrast) on a desktop and a phone, shows the site unreachable and its
// uplink down once the gateway dies, and leaves a screenshot of each view.
func TestDashboardFollowsTheLattice(t *testing.T) {
	ctx := browser(t)
	// The hub serves metrics (errors/s and p99 come from there), the
	// gateway does not (its calls/s comes from its inventory).
	// The gateway's site is a leaf node of the hub, as an edge site is.
	leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hub := startHost(t, "--name", "hub-1", "--label", "site=hub", "--label", "tier=cloud", "--heartbeat", "2s",
		"--metrics-listen", "127.0.0.1:0", "--leaf-listen", leaf, "--js-domain", "cloud")
	edgePort := freePort(t)
	gw := spawn(t, fmt.Sprintf("nats://127.0.0.1:%d", edgePort), "--name", "gw-1", "--nats-port", fmt.Sprint(edgePort),
		"--leaf-url", "nats://"+leaf, "--js-domain", "cloud", "--label", "site=plant-1", "--label", "tier=gateway",
		"--cache-dir", t.TempDir(), "--heartbeat", "2s")
	hosts := hostsByName(t, hub.url, "default", 2)

	dir := t.TempDir()
	echo, kv := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "kvcounter.wasm")
	mustRun(t, hub.url, "build", "./actors/echo", "-o", echo)
	mustRun(t, hub.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:keyvalue", "-o", kv)
	startOn(t, hub.url, echo, hosts["hub-1"].ID)
	startOn(t, hub.url, echo, hosts["gw-1"].ID)
	manifest := filepath.Join(dir, "counter.yaml")
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(uiApp, kv)), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, hub.url, "app", "deploy", manifest)
	mustRun(t, hub.url, "call", "echo", "Echo.Reply", "hi")

	ui := startUI(t, hub.url)
	start := time.Now()
	do(t, ctx, chromedp.Navigate(ui.url+"#hosts"), chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	t.Logf("first snapshot drawn %v after navigation", time.Since(start).Round(time.Millisecond))
	// A marker that a reload would lose.
	mustEval[int](t, ctx, `window.wispTestMarker = 42`)

	// Every host the test started, grouped by the label picked.
	waitText(t, ctx, 20*time.Second, "#hosts", "hub-1", "gw-1", "site=hub", "site=plant-1")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#group-by"), "tier"))
	mustEval[bool](t, ctx, `document.getElementById("group-by").dispatchEvent(new Event("change"))`)
	waitText(t, ctx, 5*time.Second, "#hosts", "tier=cloud", "tier=gateway") // grouped by tier

	// Every actor: echo on both hosts, kvcounter from the application.
	view(t, ctx, "actors")
	instances := func(want string) func() error {
		return func() error {
			got, err := pageText(ctx, `[data-instances="echo"]`)
			if err != nil || got != want {
				return fmt.Errorf("page shows %q instances of echo across the lattice, want %s (%v)", got, want, err)
			}
			return nil
		}
	}
	waitText(t, ctx, 30*time.Second, "#actors-host", "hub-1", "gw-1", "echo", "kvcounter")
	testwait.Eventually(t, 30*time.Second, instances("2"))

	// A scale made with the CLI reaches the page without a reload.
	scaled := time.Now()
	mustRun(t, hub.url, "scale", "actor", "echo", "3", "--host", hosts["hub-1"].ID)
	testwait.Eventually(t, 10*time.Second, instances("4"))
	t.Logf("a scale by the CLI reached the page %v after the CLI was started", time.Since(scaled).Round(time.Millisecond))
	if marker, err := eval[int](ctx, `window.wispTestMarker`); err != nil || marker != 42 {
		t.Fatal("the page reloaded to show the change")
	}

	// An actor failing shows its error rate, from the hub's metrics (the
	// calls share echo's queue group with the gateway: ten of them reach
	// the hub but once in a thousand runs).
	for range 10 {
		if _, errOut, code := run(t, hub.url, "call", "echo", "Echo.Nope", "x"); code != 6 {
			t.Logf("call Echo.Nope: exit %d: %s", code, errOut)
		}
	}
	testwait.Eventually(t, 30*time.Second, func() error {
		got, err := pageText(ctx, `[data-errors="lattice/echo"]`)
		var rate float64
		if err != nil || got == "" {
			return fmt.Errorf("no error rate of echo on the page: %q (%v)", got, err)
		}
		if _, err := fmt.Sscan(got, &rate); err != nil || rate <= 0 {
			return fmt.Errorf("page shows %q errors/s of echo, want more than 0", got)
		}
		return nil
	})

	// Keyboard: Tab from the top of the page reaches the scale action of
	// echo on gw-1 after the navigation.
	gwScale := fmt.Sprintf(`scale:echo:%s`, hosts["gw-1"].ID)
	// A fresh load, so that Tab starts at the top of the page.
	do(t, ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(ui.url+"#actors"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
	var order []string
	reached := false
	for i := 0; i < 80 && !reached; i++ {
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
		focused := mustEval[string](t, ctx,
			`(e => e ? (e.getAttribute("data-key") || e.getAttribute("aria-label") || e.textContent.trim().slice(0, 30)) : "")(document.activeElement)`)
		order = append(order, focused)
		reached = focused == gwScale
	}
	if !reached {
		t.Fatalf("Tab never reached the scale action of echo on gw-1; tab order: %q", order)
	}
	if !strings.HasPrefix(strings.Join(order, "|"), "Skip to content|Hosts") {
		t.Errorf("tab order does not start with the skip link and the navigation: %q", order[:min(8, len(order))])
	}
	// Enter opens the confirmation with the focus on the count; typing
	// 2 and Enter confirms.
	do(t, ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	dialogText := mustEval[string](t, ctx, `document.getElementById("confirm-text").textContent`)
	if !strings.Contains(dialogText, "gw-1") {
		t.Fatalf("the confirmation says %q, want the host gw-1", dialogText)
	}
	if f := mustEval[string](t, ctx, `document.activeElement.id`); f != "confirm-count" {
		t.Fatalf("the confirmation opened with the focus on %q, want the count", f)
	}
	do(t, ctx, chromedp.KeyEvent(kb.End), chromedp.KeyEvent(kb.Backspace), chromedp.KeyEvent("2"), chromedp.KeyEvent(kb.Enter))

	// The scale from the page changes the lattice, and the page says so.
	testwait.Eventually(t, 30*time.Second, func() error {
		for _, a := range inventory(t, hub.url, hosts["gw-1"].ID).Actors {
			if a.Name == "echo" && a.Instances == 2 {
				return nil
			}
		}
		return fmt.Errorf("echo on gw-1 is not at 2 instances after the page's scale")
	})
	testwait.Eventually(t, 10*time.Second, func() error {
		toast, err := pageText(ctx, "#toast")
		if err != nil || !strings.Contains(toast, "scaled echo to 2 instances on 1 host") {
			return fmt.Errorf("toast says %q (%v)", toast, err)
		}
		return instances("5")()
	})

	// Contrast of the text of the main views, and a screenshot of each.
	// Under the test's temporary directory, or WISP_UI_SHOTS to keep them.
	shots := t.TempDir()
	if d := os.Getenv("WISP_UI_SHOTS"); d != "" {
		shots = d
	}
	for _, v := range []string{"hosts", "actors", "providers", "apps", "events", "topology"} {
		view(t, ctx, v)
		switch v {
		case "providers":
			waitText(t, ctx, 30*time.Second, "#links", "kvcounter", "applied")
		case "apps":
			waitText(t, ctx, 30*time.Second, "#apps", "counter", "deployed")
		case "events":
			waitText(t, ctx, 10*time.Second, "#events", "actor_scaled")
		case "topology":
			if edges := mustEval[int](t, ctx, `document.querySelectorAll("#topology path.edge").length`); edges == 0 {
				t.Error("the topology draws no link from kvcounter to its keyvalue provider")
			}
			if up := mustEval[int](t, ctx, `document.querySelectorAll("#topology path.uplink:not(.down)").length`); up != 1 {
				t.Errorf("the topology draws %d live uplinks, want the one of site plant-1 to the hub", up)
			}
		}
		if v != "topology" {
			checkContrast(t, ctx, v)
		}
		screenshot(t, ctx, filepath.Join(shots, "ui-"+v+".png"))
	}
	if out := os.Getenv("WISP_UI_SCREENSHOT"); out != "" {
		view(t, ctx, "actors")
		screenshot(t, ctx, out)
	}
	// A phone held at a gateway cabinet: no sideways scrolling.
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	view(t, ctx, "hosts")
	if mustEval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the hosts view scrolls sideways on a 390 px wide phone")
	}
	screenshot(t, ctx, filepath.Join(shots, "ui-hosts-phone.png"))

	// A site that goes silent without saying so (its uplink cut, its
	// power gone) stays on the page as unreachable.
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	gw.cmd.Process.Kill()
	waitText(t, ctx, 20*time.Second, `#hosts [data-key="host:`+hosts["gw-1"].ID+`"]`, "unreachable")
	screenshot(t, ctx, filepath.Join(shots, "ui-hosts-unreachable.png"))
	view(t, ctx, "topology")
	testwait.Eventually(t, 10*time.Second, func() error {
		if n, err := eval[int](ctx, `document.querySelectorAll("#topology path.uplink.down").length`); err != nil || n != 1 {
			return fmt.Errorf("%d uplinks drawn down, want plant-1's (%v)", n, err)
		}
		return nil
	})
	screenshot(t, ctx, filepath.Join(shots, "ui-topology-uplink-down.png"))
	t.Logf("screenshots in %s", shots)
}

// contrastJS returns the texts of the current view whose contrast with
// their background is below WCAG AA: 4.5:1, 3:1 for large text.
const contrastJS = `(() => {
  const parse = c => { const m = c.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = parse(getComputedStyle(el).backgroundColor); if (c.a > 0.5) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const bad = [];
  const root = [document.querySelector("header"), document.querySelector(".view:not([hidden])")];
  for (const r of root) for (const el of r.querySelectorAll("*")) {
    if (!el.offsetParent && el.tagName !== "BODY") continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const st = getComputedStyle(el);
    const fg = parse(st.color), b = bg(el);
    const l1 = lum(fg), l2 = lum(b);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight, 10) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName + " " + JSON.stringify(el.textContent.trim().slice(0, 30)) + " " + ratio.toFixed(2));
  }
  return bad;
})()`

func checkContrast(t *testing.T, ctx context.Context, v string) {
	t.Helper()
	if bad := mustEval[[]string](t, ctx, contrastJS); len(bad) > 0 {
		t.Errorf("view %s: text below WCAG AA contrast: %q", v, bad)
	}
}

// TestDashboardActionsRefuseOtherSites checks the CSRF guard of the
// actions against the real process: no token, another origin, a form
// post and another Host are refused; the page's own request is not.
func TestDashboardActionsRefuseOtherSites(t *testing.T) {
	h := startHost(t)
	ui := startUI(t, h.url)
	post := func(hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", ui.url+"api/stop", strings.NewReader(`{"actor":"nope"}`))
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var res struct {
			Error string `json:"error"`
		}
		json.NewDecoder(r.Body).Decode(&res)
		return r.StatusCode, res.Error
	}
	token := pageToken(t, ui.url)
	for name, hdr := range map[string]map[string]string{
		"no token":     {"Content-Type": "application/json"},
		"wrong token":  {"Content-Type": "application/json", "X-Wisp-Token": "0000"},
		"other origin": {"Content-Type": "application/json", "X-Wisp-Token": token, "Origin": "http://evil.example"},
		"cross site":   {"Content-Type": "application/json", "X-Wisp-Token": token, "Sec-Fetch-Site": "cross-site"},
		"form post":    {"Content-Type": "application/x-www-form-urlencoded", "X-Wisp-Token": token},
	} {
		if code, msg := post(hdr); code != http.StatusForbidden {
			t.Errorf("%s: status %d (%s), want 403", name, code, msg)
		}
	}
	if code, _ := post(map[string]string{"Content-Type": "application/json", "X-Wisp-Token": token, "Host": "rebound.example:3030"}); code != http.StatusMisdirectedRequest {
		t.Errorf("a rebound Host header: status %d, want 421", code)
	}
	// The page's own request gets through to the lattice, which has no
	// actor "nope".
	if code, msg := post(map[string]string{"Content-Type": "application/json", "X-Wisp-Token": token,
		"Origin": strings.TrimSuffix(ui.url, "/")}); code != http.StatusNotFound || !strings.Contains(msg, "not running") {
		t.Errorf("the page's own stop: status %d (%s), want 404 actor not running", code, msg)
	}
}

// pageToken reads the action token from the dashboard's page, as the
// page's script does.
func pageToken(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	const meta = `<meta name="wisp-token" content="`
	i := strings.Index(page, meta)
	if i < 0 {
		t.Fatalf("no token in the page:\n%s", page)
	}
	rest := page[i+len(meta):]
	return rest[:strings.IndexByte(rest, '"')]
}

// TestDashboardWithoutAdminRoleSaysWhy runs `wisp ui` with an observer's
// credentials: NATS refuses its pings and its actions, and the page's
// data and the action's answer say so rather than showing an empty
// lattice or a timeout.
func TestDashboardWithoutAdminRoleSaysWhy(t *testing.T) {
	h := startHost(t)
	hosts := hostsByName(t, h.url, "default", 1)
	var id string
	for _, x := range hosts {
		id = x.ID
	}
	creds := filepath.Join(t.TempDir(), "watcher.creds")
	mustRun(t, h.url, "creds", "create", "watcher", "--role", "observer", "-o", creds)
	ui := startUI(t, h.url, "--nats-creds", creds, "--timeout", "3s")
	testwait.Eventually(t, 30*time.Second, func() error {
		r, err := http.Get(ui.url + "api/snapshot")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		var snap struct {
			Problems map[string]string `json:"problems"`
		}
		if err := json.NewDecoder(r.Body).Decode(&snap); err != nil {
			return err
		}
		if !strings.Contains(strings.ToLower(snap.Problems["nats"]), "permissions violation") {
			return fmt.Errorf("the page's problems do not name NATS's refusal: %v", snap.Problems)
		}
		return nil
	})
	req, _ := http.NewRequest("POST", ui.url+"api/scale", strings.NewReader(fmt.Sprintf(`{"actor":"echo","host_id":%q,"count":2}`, id)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Wisp-Token", pageToken(t, ui.url))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var res struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	json.NewDecoder(r.Body).Decode(&res)
	if r.StatusCode != http.StatusForbidden || !strings.Contains(res.Error, "Permissions Violation for Publish to \"wisp.ctl.default.host."+id+".scale_actor") {
		t.Fatalf("scale as an observer: status %d, %+v; want 403 with NATS's permissions violation", r.StatusCode, res)
	}
	t.Logf("the page says: %s", res.Error)
}

// TestDashboardLoadWithManyHosts measures the dashboard on a lattice of
// WISP_UI_MEASURE_HOSTS hosts (the README's figures: 30), each running
// echo: the time from navigation to the first snapshot drawn, the size of
// a snapshot, and the resident memory of the `wisp ui` process. It runs
// only when that variable is set.
func TestDashboardLoadWithManyHosts(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WISP_UI_MEASURE_HOSTS"))
	if n < 1 {
		t.Skip("set WISP_UI_MEASURE_HOSTS=30 to measure the dashboard on that many hosts")
	}
	ctx := browser(t)
	cache := t.TempDir()
	hub := startHost(t, "--name", "host-00", "--label", "site=hub", "--cache-dir", cache)
	for i := 1; i < n; i++ {
		site := fmt.Sprintf("site=edge-%d", i%5)
		spawn(t, hub.url, "--nats-url", hub.url, "--name", fmt.Sprintf("host-%02d", i), "--label", site, "--cache-dir", cache)
	}
	hosts := hostsByName(t, hub.url, "default", n)
	echo := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, hub.url, "build", "./actors/echo", "-o", echo)
	for _, h := range hosts {
		startOn(t, hub.url, echo, h.ID)
	}
	ui := startUI(t, hub.url)
	testwait.Eventually(t, 60*time.Second, func() error {
		r, err := http.Get(ui.url + "api/snapshot")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		var snap struct {
			Actors []json.RawMessage `json:"actors"`
		}
		if err := json.NewDecoder(r.Body).Decode(&snap); err != nil || len(snap.Actors) != n {
			return fmt.Errorf("%d of %d actors in the snapshot (%v)", len(snap.Actors), n, err)
		}
		return nil
	})
	var loads []time.Duration
	for range 5 {
		do(t, ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(ui.url+"#hosts"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-loaded="true"]`)))
		ms := mustEval[float64](t, ctx, `window.wispFirstDrawMs`)
		loads = append(loads, time.Duration(ms*float64(time.Millisecond)).Round(time.Millisecond))
		if rows := mustEval[int](t, ctx, `document.querySelectorAll("#hosts tbody tr").length`); rows != n {
			t.Fatalf("%d host rows on the page, want %d", rows, n)
		}
	}
	dcl := mustEval[float64](t, ctx, `(p => p.domContentLoadedEventEnd - p.startTime)(performance.getEntriesByType("navigation")[0])`)
	r, err := http.Get(ui.url + "api/snapshot")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	// Let it follow the lattice for a while (a page open) before
	// reading its memory and what it cost.
	pid := ui.cmd.Process.Pid
	cpu0, at := procCPU(t, pid), time.Now()
	time.Sleep(30 * time.Second)
	cpu := float64(procCPU(t, pid)-cpu0) / float64(time.Since(at)) * 100
	t.Logf("%d hosts: navigation to the lattice drawn (the page's clock) %v (5 loads), DOMContentLoaded %.0f ms; snapshot %d KB; wisp ui RSS %d MB, CPU %.1f%% of a core with a page open",
		n, loads, dcl, len(body)>>10, procRSS(t, pid)>>20, cpu)
}

// TestHostServesDashboard: `wisp up --ui ADDR` serves the dashboard from
// the host, with the host's own connection, and refuses an address off
// loopback unless told.
func TestHostServesDashboard(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startHost(t, "--name", "cabinet-1", "--label", "site=plant-7", "--ui", addr)
	testwait.Eventually(t, 20*time.Second, func() error {
		r, err := http.Get("http://" + addr + "/api/snapshot")
		if err != nil {
			return err
		}
		defer r.Body.Close()
		var snap struct {
			Hosts []struct {
				Name string `json:"name"`
			} `json:"hosts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&snap); err != nil || len(snap.Hosts) != 1 || snap.Hosts[0].Name != "cabinet-1" {
			return fmt.Errorf("the host's dashboard shows %+v (%v)", snap.Hosts, err)
		}
		return nil
	})
	if _, errOut, code := run(t, "nats://127.0.0.1:1", "up", "--ui", "0.0.0.0:3030"); code != 2 || !strings.Contains(errOut, "--ui-allow-remote") {
		t.Fatalf("wisp up --ui 0.0.0.0:3030: exit %d, %s; want a usage error naming --ui-allow-remote", code, errOut)
	}
}
