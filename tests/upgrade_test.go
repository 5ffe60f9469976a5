package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// upgradeApp is an application of one signed actor, svc, at image %s,
// version %s, with 6 replicas and maxSurge 2.
const upgradeApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: upgrade
  annotations:
    version: %s
spec:
  components:
    - name: svc
      type: actor
      properties:
        image: file://./%s
      traits:
        - type: spreadscaler
          properties:
            replicas: 6
            maxSurge: 2
`

// versions writes signed modules of one actor (call alias alias, one
// module key) that answer with their version, into dir, and returns their
// paths by version.
func versions(t *testing.T, dir, alias string, vs ...string) map[string]string {
	t.Helper()
	return signedVersions(t, dir, alias, func(v string) []byte { return testwasm.Versioned(t, v, 0) }, vs...)
}

// signedVersions is versions with the modules build makes.
func signedVersions(t *testing.T, dir, alias string, build func(version string) []byte, vs ...string) map[string]string {
	t.Helper()
	account, err := claims.GenerateKeyPair(claims.KindAccount)
	if err != nil {
		t.Fatal(err)
	}
	module, err := claims.GenerateKeyPair(claims.KindModule)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, v := range vs {
		signed, err := claims.Sign(build(v), claims.SignOptions{Name: alias, CallAlias: alias, Ver: v}, account, module)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, alias+"-"+v+".wasm")
		if err := os.WriteFile(p, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		out[v] = p
	}
	return out
}

// callLoad calls an actor from a number of callers until stopped, and
// counts answers by text and failures.
type callLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	calls   atomic.Int64
	mu      sync.Mutex
	answers map[string]int
	fails   []string
}

func loadOn(t *testing.T, c *lattice.Client, actor string, callers int) *callLoad {
	t.Helper()
	l := &callLoad{stop: make(chan struct{}), answers: map[string]int{}}
	for range callers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				out, err := c.Call(ctx, actor, "Version", nil)
				cancel()
				l.calls.Add(1)
				l.mu.Lock()
				if err != nil {
					l.fails = append(l.fails, err.Error())
				} else {
					l.answers[string(out)]++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

func (l *callLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitAnswers waits until version has answered n calls more than it had.
func (l *callLoad) waitAnswers(t *testing.T, version string, n int) {
	t.Helper()
	l.mu.Lock()
	from := l.answers[version]
	l.mu.Unlock()
	testwait.Eventually(t, 60*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if got := l.answers[version] - from; got < n {
			return fmt.Errorf("%s answered %d calls of the %d awaited", version, got, n)
		}
		return nil
	})
}

// check ends the load and fails the test on any failed call or an answer
// from no allowed version; it returns a summary of the answers.
func (l *callLoad) check(t *testing.T, allowed ...string) string {
	t.Helper()
	l.end()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 0 {
		t.Errorf("%d of %d calls failed; first: %s", len(l.fails), l.calls.Load(), l.fails[0])
	}
	var parts []string
	for answer, n := range l.answers {
		ok := false
		for _, a := range allowed {
			ok = ok || answer == a
		}
		if !ok {
			t.Errorf("%d answers %q come from no version of %v", n, answer, allowed)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", answer, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d calls, %d failed, answers %s", l.calls.Load(), len(l.fails), strings.Join(parts, " "))
}

// refsOf lists, by module reference, the instances of an application's
// component on every host.
func refsOf(t *testing.T, c *lattice.Client, comp string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[string]int{}
	hosts, err := c.Hosts(ctx)
	if err != nil {
		return out
	}
	for _, h := range hosts {
		inv, err := c.Inventory(ctx, h.ID)
		if err != nil {
			continue
		}
		for _, a := range inv.Actors {
			if a.Annotations[lattice.AnnotationComponent] == comp {
				out[filepath.Base(a.Ref)] += a.Instances
			}
		}
	}
	return out
}

// TestUpgradesLoseNoCall: three host processes and 16 callers under
// steady load. A new manifest version with a new module (signed, one
// module key, another version) and the same alias rolls out host by host,
// start before stop: no call fails, every answer comes from v1 or v2, and
// every instance ends on v2. Then `wisp update actor` swaps a hand-started
// actor on two hosts under the same load: no call fails.
func TestUpgradesLoseNoCall(t *testing.T) {
	a := startHost(t, "--name", "a", "--heartbeat", "1s")
	cache := t.TempDir()
	for _, name := range []string{"b", "c"} {
		spawn(t, a.url, "--nats-url", a.url, "--name", name, "--cache-dir", cache, "--heartbeat", "1s")
	}
	hosts := hostsByName(t, a.url, "default", 3)
	dir := t.TempDir()
	svc := versions(t, dir, "svc", "v1", "v2")
	write := func(version, module string) string {
		p := filepath.Join(dir, "upgrade-"+version+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(upgradeApp, version, filepath.Base(module))), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eventually(t, a.url, "app", "deploy", write("v1", svc["v1"]))
	c, err := lattice.Connect(a.url, lattice.WithTimeout(30*time.Second), lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	testwait.Eventually(t, 60*time.Second, func() error {
		if st := appStatus(t, a.url, "upgrade"); st.Phase != app.PhaseDeployed || st.Version != "v1" {
			return fmt.Errorf("status = %s", st.Summary())
		}
		return nil
	})

	load := loadOn(t, c, "svc", 16)
	load.waitAnswers(t, "v1", 200)
	start := time.Now()
	mustRun(t, a.url, "app", "deploy", write("v2", svc["v2"]))
	sawRollout := false
	testwait.Eventually(t, 90*time.Second, func() error {
		st := appStatus(t, a.url, "upgrade")
		for _, cs := range st.Components {
			sawRollout = sawRollout || cs.Rollout != ""
		}
		refs := refsOf(t, c, "svc")
		if st.Phase != app.PhaseDeployed || st.Version != "v2" || refs["svc-v2.wasm"] != 6 || len(refs) != 1 {
			return fmt.Errorf("status %s; instances by module %v", st.Summary(), refs)
		}
		return nil
	})
	rolled := time.Since(start)
	load.waitAnswers(t, "v2", 200)
	t.Logf("rollout v1 → v2 of 6 instances on 3 hosts under 16 callers: %s in %s (status showed the rollout: %v)",
		load.check(t, "v1", "v2"), rolled.Round(10*time.Millisecond), sawRollout)

	// A hand-started actor on two hosts, swapped by `wisp update actor`.
	solo := versions(t, dir, "solo", "v1", "v2")
	startOn(t, a.url, solo["v1"], hosts["a"].ID, "--count", "2")
	startOn(t, a.url, solo["v1"], hosts["b"].ID, "--count", "2")
	load = loadOn(t, c, "solo", 16)
	load.waitAnswers(t, "v1", 200)
	out := mustRun(t, a.url, "update", "actor", "solo", solo["v2"], "-o", "json")
	if strings.Count(out, "solo-v2.wasm") != 2 {
		t.Fatalf("update printed %s; want the actor at v2 on two hosts", out)
	}
	load.waitAnswers(t, "v2", 200)
	t.Logf("wisp update actor on 2 hosts under 16 callers: %s", load.check(t, "v1", "v2"))
	for _, id := range []string{hosts["a"].ID, hosts["b"].ID} {
		for _, d := range inventory(t, a.url, id).Actors {
			if d.Name == "solo" && (filepath.Base(d.Ref) != "solo-v2.wasm" || d.Instances != 2) {
				t.Errorf("after the update solo runs %s with %d instances, want solo-v2.wasm with 2", d.Ref, d.Instances)
			}
		}
	}
}

// canaryApp is an application of one actor, svc, at image %s, version %s,
// one instance on each of three hosts, rolled out as a canary that goes
// back when more than 5% of the new version's calls fail.
const canaryApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: canary
  annotations:
    version: %s
spec:
  components:
    - name: svc
      type: actor
      properties:
        image: file://./%s
      traits:
        - type: spreadscaler
          properties:
            replicas: 3
            rollout:
              strategy: canary
              steps: [10, 50, 100]
              pause: 30s
              maxErrorRate: 5%%
              maxP99: 50ms
`

// TestCanaryOfABadVersionRollsBack: three host processes, 16 callers;
// v2 fails half its calls. Its canary (one host of three at step 10%)
// crosses the 5% error rate, the reconciler returns to v1 on its own, the
// status says why, every instance runs v1 again, and the calls that
// failed are fewer than the canary's share of the calls.
func TestCanaryOfABadVersionRollsBack(t *testing.T) {
	a := startHost(t, "--name", "a", "--heartbeat", "1s")
	cache := t.TempDir()
	for _, name := range []string{"b", "c"} {
		spawn(t, a.url, "--nats-url", a.url, "--name", name, "--cache-dir", cache, "--heartbeat", "1s")
	}
	hostsByName(t, a.url, "default", 3)
	dir := t.TempDir()
	// v2 fails every other call; v3 counts to 30 million on each.
	svc := signedVersions(t, dir, "svc", func(v string) []byte {
		switch v {
		case "v2":
			return testwasm.Versioned(t, v, 2)
		case "v3":
			return testwasm.VersionedSlow(t, v, 30)
		}
		return testwasm.Versioned(t, v, 0)
	}, "v1", "v2", "v3")
	write := func(version string) string {
		p := filepath.Join(dir, "canary-"+version+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(canaryApp, version, filepath.Base(svc[version]))), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eventually(t, a.url, "app", "deploy", write("v1"))
	c, err := lattice.Connect(a.url, lattice.WithTimeout(30*time.Second), lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	testwait.Eventually(t, 60*time.Second, func() error {
		if st := appStatus(t, a.url, "canary"); st.Phase != app.PhaseDeployed || st.Version != "v1" || refsOf(t, c, "svc")["svc-v1.wasm"] != 3 {
			return fmt.Errorf("status = %s", st.Summary())
		}
		return nil
	})
	load := loadOn(t, c, "svc", 16)
	load.waitAnswers(t, "v1", 200)
	start := time.Now()
	mustRun(t, a.url, "app", "deploy", write("v2"))
	var st app.Status
	testwait.Eventually(t, 60*time.Second, func() error {
		st = appStatus(t, a.url, "canary")
		refs := refsOf(t, c, "svc")
		if st.Version != "v1" || st.Phase != app.PhaseDeployed || refs["svc-v1.wasm"] != 3 || len(refs) != 1 {
			return fmt.Errorf("status %s; instances by module %v", st.Summary(), refs)
		}
		return nil
	})
	back := time.Since(start)
	if !strings.Contains(st.RolledBack, "v2 error rate") || !strings.Contains(st.RolledBack, "> 5% at step 10%") {
		t.Errorf("status after the rollback = %q, want it to say v2's error rate crossed 5%% at step 10%%", st.Summary())
	}
	if out := mustRun(t, a.url, "app", "status", "canary"); !strings.Contains(out, "rolled back: v2 error rate") {
		t.Errorf("wisp app status does not say it rolled back:\n%s", out)
	}
	load.waitAnswers(t, "v1", 200)
	load.end()
	load.mu.Lock()
	calls, failed, fromV2 := int(load.calls.Load()), len(load.fails), load.answers["v2"]
	load.mu.Unlock()
	t.Logf("canary of a v2 failing half its calls: rolled back in %s; %d calls, %d failed (%.1f%%), %d answered by v2; status: %s",
		back.Round(10*time.Millisecond), calls, failed, 100*float64(failed)/float64(calls), fromV2, st.Summary())
	if share := calls / 3; failed > share {
		t.Errorf("%d of %d calls failed, more than the canary's share (one host of three, %d calls)", failed, calls, share)
	}
	for _, f := range load.fails {
		if !strings.Contains(f, "injected failure") {
			t.Errorf("a call failed for another reason than v2's injected failure: %s", f)
			break
		}
	}

	// v3 answers right, but slowly: its p99 crosses 50 ms.
	load = loadOn(t, c, "svc", 16)
	load.waitAnswers(t, "v1", 200)
	start = time.Now()
	mustRun(t, a.url, "app", "deploy", write("v3"))
	testwait.Eventually(t, 90*time.Second, func() error {
		st = appStatus(t, a.url, "canary")
		refs := refsOf(t, c, "svc")
		if st.Version != "v1" || st.Phase != app.PhaseDeployed || refs["svc-v1.wasm"] != 3 || len(refs) != 1 || st.RolledBack == "" || strings.Contains(st.RolledBack, "v2") {
			return fmt.Errorf("status %s; instances by module %v", st.Summary(), refs)
		}
		return nil
	})
	if !strings.Contains(st.RolledBack, "v3 p99 latency") || !strings.Contains(st.RolledBack, "> 50ms at step 10%") {
		t.Errorf("status after the second rollback = %q, want it to say v3's p99 crossed 50ms at step 10%%", st.Summary())
	}
	t.Logf("canary of a slow v3: rolled back in %s; %s; status: %s", time.Since(start).Round(10*time.Millisecond), load.check(t, "v1", "v3"), st.Summary())
}

// stepsApp is svc at image %s, version %s, on three hosts, rolled out as
// a canary of three steps with a pause of 4 s each.
const stepsApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: steps
  annotations:
    version: %s
spec:
  components:
    - name: svc
      type: actor
      properties:
        image: file://./%s
      traits:
        - type: spreadscaler
          properties:
            replicas: 3
            rollout: {strategy: canary, steps: [10, 50, 100], pause: 4s}
`

// TestRolloutByHandAndThroughTheLeadersDeath: a canary rollout is paused
// and resumed with `wisp app rollout`, its active reconciler's host is
// killed with -9 mid-rollout and the next leader finishes it; `wisp app
// rollout undo` then goes back to v1.
func TestRolloutByHandAndThroughTheLeadersDeath(t *testing.T) {
	a := startHost(t, "--name", "a", "--no-reconciler", "--heartbeat", "1s")
	cache := t.TempDir()
	procs := map[string]*hostProc{}
	procs["b"] = spawn(t, a.url, "--nats-url", a.url, "--name", "b", "--cache-dir", cache, "--heartbeat", "1s")
	hostsByName(t, a.url, "default", 2)
	dir := t.TempDir()
	svc := versions(t, dir, "svc", "v1", "v2")
	write := func(version string) string {
		p := filepath.Join(dir, "steps-"+version+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(stepsApp, version, filepath.Base(svc[version]))), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eventually(t, a.url, "app", "deploy", write("v1"))
	// b's reconciler is the only one until c comes, so it leads.
	testwait.Eventually(t, 30*time.Second, func() error {
		if st := appStatus(t, a.url, "steps"); st.Reconciler != "b" {
			return fmt.Errorf("b's reconciler has not reported: %+v", st)
		}
		return nil
	})
	procs["c"] = spawn(t, a.url, "--nats-url", a.url, "--name", "c", "--cache-dir", cache, "--heartbeat", "1s")
	c, err := lattice.Connect(a.url, lattice.WithTimeout(30*time.Second), lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	testwait.Eventually(t, 60*time.Second, func() error {
		if st := appStatus(t, a.url, "steps"); st.Phase != app.PhaseDeployed || refsOf(t, c, "svc")["svc-v1.wasm"] != 3 {
			return fmt.Errorf("status = %s", st.Summary())
		}
		return nil
	})

	mustRun(t, a.url, "app", "deploy", write("v2"))
	testwait.Eventually(t, 30*time.Second, func() error {
		out := mustRun(t, a.url, "app", "rollout", "status", "steps")
		if !strings.Contains(out, "at step 10%: 1 of 3 hosts run it") {
			return fmt.Errorf("rollout status:\n%s", out)
		}
		return nil
	})
	mustRun(t, a.url, "app", "rollout", "pause", "steps")
	testwait.Eventually(t, 30*time.Second, func() error {
		out := mustRun(t, a.url, "app", "rollout", "status", "steps")
		if !strings.Contains(out, "rollout paused") || !strings.Contains(out, "(paused)") {
			return fmt.Errorf("rollout status after pause:\n%s", out)
		}
		return nil
	})
	// Paused at step 10% (the next step could have begun just before):
	// the rollout has not finished.
	if refs := refsOf(t, c, "svc"); refs["svc-v2.wasm"] < 1 || refs["svc-v2.wasm"] > 2 {
		t.Fatalf("paused mid-rollout, instances by module = %v; want one or two on v2", refs)
	}
	mustRun(t, a.url, "app", "rollout", "resume", "steps")
	testwait.Eventually(t, 30*time.Second, func() error {
		out := mustRun(t, a.url, "app", "rollout", "status", "steps")
		if !strings.Contains(out, "at step 50%: 2 of 3 hosts run it") {
			return fmt.Errorf("rollout status after resume:\n%s", out)
		}
		return nil
	})
	leader := appStatus(t, a.url, "steps").Reconciler
	next := map[string]string{"b": "c", "c": "b"}[leader]
	if next == "" {
		t.Fatalf("the active reconciler is %q, want b or c", leader)
	}
	procs[leader].cmd.Process.Signal(syscall.SIGKILL)
	start := time.Now()
	testwait.Eventually(t, 60*time.Second, func() error {
		st := appStatus(t, a.url, "steps")
		refs := refsOf(t, c, "svc")
		if st.Reconciler != next || st.Phase != app.PhaseDeployed || st.Version != "v2" || refs["svc-v2.wasm"] != 3 || len(refs) != 1 {
			return fmt.Errorf("status by %s: %s; instances by module %v", st.Reconciler, st.Summary(), refs)
		}
		return nil
	})
	t.Logf("%s killed with -9 at step 50%%: %s finished the rollout %s later", leader, next, time.Since(start).Round(10*time.Millisecond))

	out := mustRun(t, a.url, "app", "rollout", "undo", "steps")
	if !strings.Contains(out, "from version v2 to v1") {
		t.Fatalf("undo printed %q", out)
	}
	testwait.Eventually(t, 60*time.Second, func() error {
		st := appStatus(t, a.url, "steps")
		refs := refsOf(t, c, "svc")
		if st.Phase != app.PhaseDeployed || st.Version != "v1" || refs["svc-v1.wasm"] != 3 || len(refs) != 1 || !strings.Contains(st.RolledBack, "undone by hand") {
			return fmt.Errorf("after undo: %s; instances by module %v", st.Summary(), refs)
		}
		return nil
	})
}

// movingApp is an application of one unsigned actor, svc, at image %s,
// version %s, with %d replicas spread over the hosts labelled with the
// zones %s.
const movingApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: moving
  annotations:
    version: %s
spec:
  components:
    - name: svc
      type: actor
      properties:
        image: file://./%s
      traits:
        - type: spreadscaler
          properties:
            replicas: %d
            spread:
%s`

// TestUnsignedRolloutGrowsAndMovesWithoutAFailedCall: three host
// processes in zones a, b and c, 16 callers on an unsigned actor (each
// version its own digest: the lattice-wide alias check sees another
// module). v1 runs on a; v2 also grows onto b, which ran none, and its
// start there is not refused; v3 leaves a and b for c, and their stops
// come only after c's instances answer. No call fails in either rollout
// and every instance is placed.
func TestUnsignedRolloutGrowsAndMovesWithoutAFailedCall(t *testing.T) {
	a := startHost(t, "--name", "a", "--heartbeat", "1s", "--allow-unsigned", "--label", "zone=a")
	procs := []*hostProc{a}
	cache := t.TempDir()
	for _, name := range []string{"b", "c"} {
		procs = append(procs, spawn(t, a.url, "--nats-url", a.url, "--name", name, "--cache-dir", cache, "--heartbeat", "1s", "--allow-unsigned", "--label", "zone="+name))
	}
	hosts := hostsByName(t, a.url, "default", 3)
	dir := t.TempDir()
	write := func(version string, replicas int, zones ...string) string {
		module := filepath.Join(dir, "svc-"+version+".wasm")
		if err := os.WriteFile(module, testwasm.Versioned(t, version, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		spread := ""
		for _, z := range zones {
			spread += fmt.Sprintf("              - requirements: {zone: %s}\n", z)
		}
		p := filepath.Join(dir, "moving-"+version+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(movingApp, version, filepath.Base(module), replicas, spread)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := lattice.Connect(a.url, lattice.WithTimeout(30*time.Second), lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// placed waits until the application runs version on exactly the
	// hosts of want, with the instances want gives them.
	placed := func(version string, want map[string]int) {
		t.Helper()
		testwait.Eventually(t, 90*time.Second, func() error {
			st := appStatus(t, a.url, "moving")
			refs := refsOf(t, c, "svc")
			total := 0
			for _, n := range want {
				total += n
			}
			if st.Phase != app.PhaseDeployed || st.Version != version || refs["svc-"+version+".wasm"] != total || len(refs) != 1 {
				return fmt.Errorf("status %s; instances by module %v", st.Summary(), refs)
			}
			for name, h := range hosts {
				got := 0
				for _, d := range inventory(t, a.url, h.ID).Actors {
					if d.Name == "svc" {
						got += d.Instances
					}
				}
				if got != want[name] {
					return fmt.Errorf("host %s runs %d instances, want %d", name, got, want[name])
				}
			}
			return nil
		})
	}
	eventually(t, a.url, "app", "deploy", write("v1", 2, "a"))
	placed("v1", map[string]int{"a": 2})

	load := loadOn(t, c, "svc", 16)
	load.waitAnswers(t, "v1", 200)
	mustRun(t, a.url, "app", "deploy", write("v2", 4, "a", "b"))
	placed("v2", map[string]int{"a": 2, "b": 2})
	load.waitAnswers(t, "v2", 200)
	t.Logf("unsigned v1 → v2, 2 instances on a → 4 on a, b, under 16 callers: %s", load.check(t, "v1", "v2"))

	load = loadOn(t, c, "svc", 16)
	load.waitAnswers(t, "v2", 200)
	mustRun(t, a.url, "app", "deploy", write("v3", 2, "c"))
	placed("v3", map[string]int{"c": 2})
	load.waitAnswers(t, "v3", 200)
	t.Logf("unsigned v2 → v3, off hosts a, b onto c, under 16 callers: %s", load.check(t, "v2", "v3"))
	for _, p := range procs {
		if logs := p.logs.String(); strings.Contains(logs, "is already used on lattice") {
			t.Errorf("a host refused a start of the rollout by the alias check:\n%s", logs)
		}
	}
}

// relinkApp is kvcounter behind the httpserver and keyvalue providers,
// at version %s, its HTTP link at address %s with timeout_ms %d, its
// key-value link on bucket %s.
const relinkApp = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: relink
  annotations:
    version: %s
spec:
  components:
    - name: kvcounter
      type: actor
      properties:
        image: file://./kvcounter.wasm
      traits:
        - type: spreadscaler
          properties:
            replicas: 2
        - type: linkdef
          properties:
            target: httpserver
            values:
              address: %s
              timeout_ms: "%d"
        - type: linkdef
          properties:
            target: keyvalue
            values:
              BUCKET: %s
    - name: httpserver
      type: capability
      properties:
        image: wisp:httpserver
        contract: wasmcloud:httpserver
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
    - name: keyvalue
      type: capability
      properties:
        image: wisp:keyvalue
        contract: wasmcloud:keyvalue
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
`

// TestANewLinkValueLosesNoRequest: one host process runs kvcounter behind
// the httpserver and keyvalue providers; 8 HTTP clients count. A new
// manifest version changes both links' values (the HTTP timeout, the
// key-value bucket), which replaces each link in place: no request fails
// while they change, and the counter goes on in the new bucket.
func TestANewLinkValueLosesNoRequest(t *testing.T) {
	a := startHost(t, "--name", "a", "--heartbeat", "1s")
	dir := t.TempDir()
	mustRun(t, a.url, "build", "./actors/kvcounter", "--cap", "wasmcloud:httpserver", "--cap", "wasmcloud:keyvalue", "-o", filepath.Join(dir, "kvcounter.wasm"))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	write := func(version string, timeout int, bucket string) string {
		p := filepath.Join(dir, "relink-"+version+".yaml")
		if err := os.WriteFile(p, []byte(fmt.Sprintf(relinkApp, version, addr, timeout, bucket)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eventually(t, a.url, "app", "deploy", write("v1", 5000, "counts_one"))
	testwait.Eventually(t, 60*time.Second, func() error {
		if code, body, err := httpGet("http://" + addr + "/count"); err != nil || code != 200 {
			return fmt.Errorf("kvcounter through the app's HTTP link: %d %q %v", code, body, err)
		}
		return nil
	})

	var (
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		calls atomic.Int64
		mu    sync.Mutex
		fails []string
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := httpGet("http://" + addr + "/count")
				calls.Add(1)
				if err != nil || code != 200 {
					mu.Lock()
					fails = append(fails, fmt.Sprintf("%d %q %v", code, body, err))
					mu.Unlock()
				}
			}
		}()
	}
	waitCalls := func(n int64) {
		t.Helper()
		from := calls.Load()
		testwait.Eventually(t, 30*time.Second, func() error {
			if got := calls.Load() - from; got < n {
				return fmt.Errorf("%d requests of the %d awaited", got, n)
			}
			return nil
		})
	}
	waitCalls(200)
	mustRun(t, a.url, "app", "deploy", write("v2", 6000, "counts_two"))
	testwait.Eventually(t, 60*time.Second, func() error {
		st := appStatus(t, a.url, "relink")
		moved := 0
		for _, l := range st.Links {
			if l.Values["timeout_ms"] == "6000" || l.Values["BUCKET"] == "counts_two" {
				moved++
			}
		}
		if st.Phase != app.PhaseDeployed || st.Version != "v2" || moved != 2 {
			return fmt.Errorf("status %s, links %v", st.Summary(), st.Links)
		}
		return nil
	})
	waitCalls(200)
	close(stop)
	wg.Wait()
	if len(fails) > 0 {
		t.Errorf("%d of %d requests failed while the links changed; first: %s", len(fails), calls.Load(), fails[0])
	}
	// The counter runs on in the new bucket: it counts from 1 there.
	code, body, err := httpGet("http://" + addr + "/count")
	if err != nil || code != 200 || !strings.Contains(body, `"counter":`) {
		t.Fatalf("after the change: %d %q %v", code, body, err)
	}
	var n int64
	fmt.Sscanf(body[strings.Index(body, `"counter":`)+len(`"counter":`):], "%d", &n)
	if n < 200 || n >= calls.Load() {
		t.Errorf("the counter reads %d after %d requests, 200 or more of them after the change: want it counted in the new bucket only", n, calls.Load())
	}
	t.Logf("both links changed under 8 HTTP clients: %d requests, %d failed", calls.Load(), len(fails))
}
