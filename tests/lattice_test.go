package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// spawn starts `wisp up` with exactly args (plus a per-test key store) and
// does not wait for it.
func spawn(t *testing.T, url string, args ...string) *hostProc {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(wisp(t), append([]string{"up"}, args...)...)
	cmd.Env = testEnv(t)
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hostProc{cmd: cmd, logs: logs, url: url, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("wisp up %s output:\n%s", strings.Join(args, " "), logs.String())
		}
	})
	return h
}

// stop sends SIGINT and waits for the host to drain and exit.
func (h *hostProc) stop(t *testing.T) {
	t.Helper()
	h.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("wisp up exited with %v:\n%s", err, h.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("wisp up did not exit after SIGINT:\n%s", h.logs)
	}
	h.done <- nil // for the cleanup
}

// hostsByName waits until n hosts of lattice answer at url and returns
// them by name.
func hostsByName(t *testing.T, url, latticeID string, n int) map[string]lattice.HostSummary {
	t.Helper()
	m := map[string]lattice.HostSummary{}
	testwait.Eventually(t, 60*time.Second, func() error {
		out, errOut, code := run(t, url, "get", "hosts", "-o", "json", "--lattice", latticeID, "--timeout", "2s")
		var hosts []lattice.HostSummary
		if code != 0 || json.Unmarshal([]byte(out), &hosts) != nil || len(hosts) != n {
			return fmt.Errorf("want %d hosts of lattice %s to answer at %s; exit %d: %s%s", n, latticeID, url, code, out, errOut)
		}
		for _, h := range hosts {
			m[h.Name] = h
		}
		return nil
	})
	return m
}

// eventually runs the CLI until it exits 0 (the lattice's JetStream state
// may still be electing a leader) and returns its output.
func eventually(t *testing.T, url string, args ...string) string {
	t.Helper()
	var out string
	testwait.Eventually(t, 60*time.Second, func() error {
		o, errOut, code := run(t, url, args...)
		if code != 0 {
			return fmt.Errorf("wisp %s: exit %d\n%s%s", strings.Join(args, " "), code, o, errOut)
		}
		out = o
		return nil
	})
	return out
}

// threeHosts is the lattice: a and b are a two-node embedded NATS
// cluster, c joins a by URL.
type threeHosts struct {
	urlA, urlB string
	argsA      []string
	argsB      []string
	argsC      []string
	a, b, c    *hostProc
}

func startThreeHosts(t *testing.T) *threeHosts {
	t.Helper()
	pa, pb := freePort(t), freePort(t)
	ra, rb := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	routes := ra + "," + rb
	cache := t.TempDir()
	l := &threeHosts{urlA: fmt.Sprintf("nats://127.0.0.1:%d", pa), urlB: fmt.Sprintf("nats://127.0.0.1:%d", pb)}
	l.argsA = []string{"--name", "a", "--nats-port", fmt.Sprint(pa), "--cluster-listen", ra, "--cluster-routes", routes,
		"--js-dir", t.TempDir(), "--cache-dir", cache, "--label", "zone=eu", "--label", "tier=cloud", "--heartbeat", "1s"}
	l.argsB = []string{"--name", "b", "--nats-port", fmt.Sprint(pb), "--cluster-listen", rb, "--cluster-routes", routes,
		"--js-dir", t.TempDir(), "--cache-dir", cache, "--label", "zone=eu", "--label", "tier=pi"}
	l.argsC = []string{"--name", "c", "--nats-url", l.urlA, "--cache-dir", cache, "--label", "tier=pi", "--label", "zone=us"}
	l.a, l.b = spawn(t, l.urlA, l.argsA...), spawn(t, l.urlB, l.argsB...)
	hostsByName(t, l.urlA, "default", 2)
	l.c = spawn(t, l.urlA, l.argsC...)
	hostsByName(t, l.urlB, "default", 3)
	return l
}

// startOn starts module on host id and returns the actor's description.
func startOn(t *testing.T, url, module, hostID string, extra ...string) lattice.ActorDescription {
	t.Helper()
	var r struct {
		Host  string                   `json:"host"`
		Actor lattice.ActorDescription `json:"actor"`
	}
	out := mustRun(t, url, append([]string{"start", "actor", module, "--host", hostID, "-o", "json"}, extra...)...)
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Host != hostID {
		t.Fatalf("start printed %q (%v)", out, err)
	}
	return r.Actor
}

func inventory(t *testing.T, url, hostID string) lattice.HostInventory {
	t.Helper()
	var invs []lattice.HostInventory
	if err := json.Unmarshal([]byte(mustRun(t, url, "get", "inventory", hostID, "-o", "json")), &invs); err != nil || len(invs) != 1 {
		t.Fatalf("inventory of %s: %v", hostID, err)
	}
	return invs[0]
}

// TestLatticeOfThreeHosts drives the lattice with real processes:
// hosts and labels, auctions, both hosts of an actor serving, links through
// a restart of every host, events replayed by a late subscriber, and a
// host killed with -9 while 32 callers run.
func TestLatticeOfThreeHosts(t *testing.T) {
	l := startThreeHosts(t)
	dir := t.TempDir()
	echo := filepath.Join(dir, "echo.wasm")
	probe := filepath.Join(dir, "probe.wasm")
	mustRun(t, l.urlA, "build", "./actors/echo", "-o", echo)
	mustRun(t, l.urlA, "build", "./internal/testactors/probe", "-o", probe, "--cap", "wasmcloud:keyvalue")

	// wisp events, started now, sees what follows.
	events := exec.Command(wisp(t), "events", "-o", "json")
	events.Env = append(testEnv(t), "WISP_NATS_URL="+l.urlB)
	evOut := &syncBuffer{}
	events.Stdout, events.Stderr = evOut, evOut
	dieWithTest(events)
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { events.Process.Kill(); events.Wait() }()

	// get hosts: id, name, labels, uptime, version.
	hosts := hostsByName(t, l.urlB, "default", 3)
	a, b, c := hosts["a"], hosts["b"], hosts["c"]
	if a.Labels["tier"] != "cloud" || b.Labels["tier"] != "pi" || c.Labels["zone"] != "us" || a.Labels["wisp.os"] == "" || c.Version == "" || !strings.HasPrefix(c.ID, "N") {
		t.Fatalf("hosts = %+v", hosts)
	}
	table := mustRun(t, l.urlA, "get", "hosts")
	for _, want := range []string{"NAME", "UPTIME", "VERSION", "LABELS", a.ID, "tier=cloud,zone=eu", "tier=pi,zone=us", c.Version} {
		if !strings.Contains(table, want) {
			t.Fatalf("get hosts table lacks %q:\n%s", want, table)
		}
	}

	// Auctions: only matching hosts bid.
	var started struct {
		Host  string                   `json:"host"`
		Actor lattice.ActorDescription `json:"actor"`
	}
	out := mustRun(t, l.urlA, "start", "actor", echo, "--constraint", "tier=pi", "--constraint", "zone=eu", "-o", "json")
	if json.Unmarshal([]byte(out), &started); started.Host != b.ID || started.Actor.Name != "echo" {
		t.Fatalf("auction tier=pi,zone=eu started on %s, want b (%s): %s", started.Host, b.ID, out)
	}
	_, errOut, code := run(t, l.urlA, "start", "actor", echo, "--constraint", "tier=mars")
	if code != 3 || !strings.Contains(errOut, "tier=mars") || !strings.Contains(errOut, "no host") {
		t.Fatalf("auction without a match: exit %d, %q", code, errOut)
	}
	// tier=pi: b and c match; c runs no echo, so it wins.
	out = mustRun(t, l.urlA, "start", "actor", echo, "--constraint", "tier=pi", "-o", "json")
	if json.Unmarshal([]byte(out), &started); started.Host != c.ID {
		t.Fatalf("auction tier=pi started on %s, want c (%s, fewest echo instances)", started.Host, c.ID)
	}

	// Both hosts serve calls of echo (one queue group).
	nc := natsAs(t, l.urlA, auth.AdminUser)
	call := func(payload string) (string, error) {
		msg := nats.NewMsg("wisp.rpc.default.echo")
		msg.Header.Set("Wisp-Operation", "Echo.Reply")
		msg.Data = []byte(payload)
		reply, err := nc.RequestMsg(msg, 3*time.Second)
		if err != nil {
			return "", err
		}
		if e := reply.Header.Get("Wisp-Error"); e != "" {
			return "", fmt.Errorf("actor error: %s", e)
		}
		return string(reply.Data), nil
	}
	for i := 0; i < 200; i++ {
		if got, err := call(fmt.Sprint(i)); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("call %d = %q, %v", i, got, err)
		}
	}
	callsB, callsC := inventory(t, l.urlA, b.ID).Actors[0].Calls, inventory(t, l.urlA, c.ID).Actors[0].Calls
	if callsB == 0 || callsC == 0 || callsB+callsC < 200 {
		t.Fatalf("calls served: b %d, c %d; want both hosts serving", callsB, callsC)
	}

	// Scale reports through events too; every host running echo scales.
	if out := mustRun(t, l.urlA, "scale", "actor", "echo", "2"); strings.Count(out, "with 2 instances") != 2 {
		t.Fatalf("scale printed %q", out)
	}

	// Links: checked against the actor's claims, stored in the lattice.
	probeDesc := startOn(t, l.urlA, probe, a.ID)
	// Actor-to-actor: probe on a calls echo, which runs on b and c.
	if out := mustRun(t, l.urlA, "call", "probe", "Probe.Call", "echo"); out != "via echo\n" {
		t.Fatalf("actor-to-actor across hosts = %q", out)
	}
	if _, errOut, code := run(t, l.urlA, "link", "put", "ghost", "kvp", "wasmcloud:keyvalue"); code != 6 || !strings.Contains(errOut, `actor "ghost" is not running`) {
		t.Fatalf("link to a missing actor: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, l.urlA, "link", "put", "echo", "kvp", "wasmcloud:keyvalue"); code != 6 || !strings.Contains(errOut, "does not claim contract wasmcloud:keyvalue") {
		t.Fatalf("link to an unclaimed contract: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, l.urlA, "link", "put", "probe", "kvp", "wasmcloud:keyvalue", "novalue"); code != 2 {
		t.Fatalf("link value without '=': exit %d", code)
	}
	eventually(t, l.urlA, "link", "put", "probe", "kvp", "wasmcloud:keyvalue", "URL=redis://127.0.0.1:1")
	provider := func(url string) *nats.Conn {
		pc := natsAs(t, url, auth.ProviderUser)
		pc.Subscribe("wisp.prov.default.wasmcloud:keyvalue.default", func(m *nats.Msg) {
			m.Respond([]byte("kv:" + string(m.Data) + ":" + m.Header.Get("Wisp-Source")))
		})
		pc.Flush()
		return pc
	}
	pc := provider(l.urlB)
	// Every host loads the links once the new cluster elects its JetStream leader.
	if out := eventually(t, l.urlA, "call", "probe", "Probe.Link", "k"); out != "kv:k:"+probeDesc.Key+"\n" {
		t.Fatalf("linked call = %q", out)
	}
	pc.Close()

	// A late subscriber replays the history, starting with the hosts.
	replayed := mustRun(t, l.urlB, "events", "--replay", "--type", "host_started", "--count", "3", "-o", "json", "--timeout", "30s")
	sources := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(replayed), "\n") {
		var e lattice.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.SpecVersion != "1.0" || e.ShortType() != "host_started" {
			t.Fatalf("replayed line %q (%v)", line, err)
		}
		sources[e.Source] = true
	}
	if len(sources) != 3 {
		t.Fatalf("replayed host_started from %d hosts:\n%s", len(sources), replayed)
	}

	// kill -9 of c while 32 callers run: every call gets an answer or a
	// clear error; then calls keep succeeding on b.
	var answered, failed atomic.Int64
	var bad sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				want := fmt.Sprintf("caller %d call %d", w, n)
				got, err := call(want)
				switch {
				case err == nil && got == want:
					answered.Add(1)
				case err != nil && err.Error() != "":
					failed.Add(1)
				default:
					bad.Store(want, got)
				}
			}
		}(w)
	}
	for answered.Load() < 500 {
		time.Sleep(10 * time.Millisecond)
	}
	l.c.cmd.Process.Signal(syscall.SIGKILL)
	<-l.c.done
	l.c.done <- nil
	before := answered.Load()
	for answered.Load() < before+500 {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	bad.Range(func(k, v any) bool { t.Errorf("%v got the wrong answer %q", k, v); return true })
	t.Logf("during kill -9: %d answered, %d clear errors", answered.Load(), failed.Load())
	for i := 0; i < 50; i++ {
		if got, err := call("after"); err != nil || got != "after" {
			t.Fatalf("call after the kill = %q, %v", got, err)
		}
	}
	hostsByName(t, l.urlA, "default", 2)

	// Links survive a restart of every host.
	l.a.stop(t)
	l.b.stop(t)
	l.a, l.b = spawn(t, l.urlA, l.argsA...), spawn(t, l.urlB, l.argsB...)
	hostsByName(t, l.urlA, "default", 2)
	l.c = spawn(t, l.urlA, l.argsC...)
	hosts = hostsByName(t, l.urlB, "default", 3)
	var links []lattice.Link
	json.Unmarshal([]byte(eventually(t, l.urlB, "link", "get", "-o", "json")), &links)
	if len(links) != 1 || links[0].ActorID != probeDesc.Key || links[0].ProviderID != "kvp" || links[0].Values["URL"] != "redis://127.0.0.1:1" {
		t.Fatalf("links after restarting every host = %+v", links)
	}
	startOn(t, l.urlA, probe, hosts["c"].ID)
	pc = provider(l.urlA)
	defer pc.Close()
	// The new host may still be loading the links while JetStream elects.
	if out := eventually(t, l.urlB, "call", "probe", "Probe.Link", "again"); out != "kv:again:"+probeDesc.Key+"\n" {
		t.Fatalf("linked call after the restarts = %q", out)
	}
	mustRun(t, l.urlA, "link", "del", "probe", "wasmcloud:keyvalue")
	if _, errOut, code := run(t, l.urlA, "call", "probe", "Probe.Link", "x"); code != 6 || !strings.Contains(errOut, "no link") {
		t.Fatalf("call after link del: exit %d, %q", code, errOut)
	}

	// The live event stream saw the story.
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader([]byte(evOut.String())))
	for sc.Scan() {
		var e lattice.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			seen[e.ShortType()] = true
		}
	}
	for _, want := range []string{"actor_started", "link_set", "host_heartbeat", "host_stopped", "host_started", "link_deleted"} {
		if !seen[want] {
			t.Errorf("wisp events never printed %s; saw %v", want, seen)
		}
	}
}

// TestTwoLatticesOnOneServerStayApart: hosts of lattices "default" and
// "blue" share a NATS server and never see each other's hosts, actors,
// links or events.
func TestTwoLatticesOnOneServerStayApart(t *testing.T) {
	red := startHost(t, "--name", "red", "--allow-unsigned")
	blue := spawn(t, red.url, "--name", "blue", "--lattice", "blue", "--nats-url", red.url, "--cache-dir", t.TempDir(), "--allow-unsigned")
	blueHosts := hostsByName(t, red.url, "blue", 1)
	redHosts := hostsByName(t, red.url, "default", 1)
	if _, ok := blueHosts["blue"]; !ok {
		t.Fatalf("blue lattice hosts = %+v", blueHosts)
	}
	if _, ok := redHosts["red"]; !ok {
		t.Fatalf("default lattice hosts = %+v", redHosts)
	}
	module := filepath.Join(t.TempDir(), "probe.wasm")
	mustRun(t, red.url, "build", "./internal/testactors/probe", "-o", module, "--no-sign")
	mustRun(t, red.url, "start", "actor", module, "--lattice", "blue")
	mustRun(t, red.url, "start", "actor", module, "--name", "redprobe")
	eventually(t, red.url, "link", "put", "probe", "kvp", "wasmcloud:keyvalue", "--lattice", "blue")

	if out := mustRun(t, red.url, "call", "probe", "Probe.Dice", "--lattice", "blue"); len(strings.TrimSpace(out)) != 1 {
		t.Fatalf("blue call = %q", out)
	}
	if _, _, code := run(t, red.url, "call", "probe", "Probe.Dice"); code != 3 {
		t.Fatalf("the default lattice reached blue's actor: exit %d", code)
	}
	if _, _, code := run(t, red.url, "call", "redprobe", "Probe.Dice", "--lattice", "blue"); code != 3 {
		t.Fatalf("blue reached the default lattice's actor: exit %d", code)
	}
	var redLinks []lattice.Link
	json.Unmarshal([]byte(eventually(t, red.url, "link", "get", "-o", "json")), &redLinks)
	if len(redLinks) != 0 {
		t.Fatalf("the default lattice sees blue's links: %+v", redLinks)
	}
	if _, errOut, code := run(t, red.url, "link", "put", "probe", "kvp", "wasmcloud:keyvalue"); code != 6 || !strings.Contains(errOut, "not running") {
		t.Fatalf("link in the default lattice to blue's actor: exit %d, %q", code, errOut)
	}
	var invs []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, red.url, "get", "inventory", "-o", "json")), &invs)
	if len(invs) != 1 || len(invs[0].Actors) != 1 || invs[0].Actors[0].Name != "redprobe" {
		t.Fatalf("default inventory = %+v", invs)
	}
	for latticeID, host := range map[string]string{"default": redHosts["red"].ID, "blue": blueHosts["blue"].ID} {
		out := mustRun(t, red.url, "events", "--replay", "--lattice", latticeID, "--type", "host_started,actor_started,link_set", "--count", "2", "-o", "json")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var e lattice.Event
			if json.Unmarshal([]byte(line), &e); !strings.HasSuffix(e.Source, host) || !strings.Contains(e.Source, "/"+latticeID+"/") {
				t.Fatalf("lattice %s replayed an event of another lattice: %s", latticeID, line)
			}
		}
	}
	blue.stop(t)
	if _, _, code := run(t, red.url, "get", "hosts", "--lattice", "blue", "--timeout", "1s"); code != 3 {
		t.Fatalf("blue lattice after its host stopped: exit %d", code)
	}
}

// TestLatticeBadInput: unknown host ids, malformed JSON on every control
// subject (an error reply, the host stays up), a link to an actor that
// does not exist, constraint syntax errors.
func TestLatticeBadInput(t *testing.T) {
	h := startHost(t)
	id := hostsByName(t, h.url, "default", 1)
	var hostID string
	for _, s := range id {
		hostID = s.ID
	}
	for _, args := range [][]string{
		{"stop", "host", "NNOSUCHHOST"},
		{"get", "inventory", "NNOSUCHHOST"},
		{"stop", "actor", "echo", "--host", "NNOSUCHHOST"},
		{"start", "actor", "x.wasm", "--host", "NNOSUCHHOST"},
		{"get", "inventory", "bad.host.id"},
	} {
		if _, errOut, code := run(t, h.url, args...); code != 3 || !strings.Contains(errOut, "host not found") {
			t.Errorf("wisp %s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
	nc := natsAs(t, h.url, auth.AdminUser)
	for _, subject := range []string{
		lattice.HostSubject("default", hostID, lattice.VerbStartActor),
		lattice.HostSubject("default", hostID, lattice.VerbScaleActor),
		lattice.HostSubject("default", hostID, lattice.VerbStopActor),
		lattice.HostSubject("default", hostID, "reboot"),
		lattice.HostSubject("default", hostID, lattice.VerbInventory),
		lattice.HostSubject("default", hostID, lattice.VerbStopHost),
		lattice.LinkSubject("default", lattice.VerbLinkGet),
		lattice.PingSubject("default"),
		lattice.LinkSubject("default", lattice.VerbLinkPut),
		lattice.LinkSubject("default", lattice.VerbLinkDel),
		lattice.LinkSubject("default", "frobnicate"),
		lattice.AuctionActorSubject("default"),
	} {
		for _, body := range []string{"{", "null x", `{"ref":[]`, "\xff\xfe"} {
			reply, err := nc.Request(subject, []byte(body), 5*time.Second)
			var a lattice.Ack
			if err != nil || json.Unmarshal(reply.Data, &a) != nil || a.Accepted || a.Error == "" {
				t.Fatalf("%s with %q: %v %v", subject, body, reply, err)
			}
		}
	}
	hostsByName(t, h.url, "default", 1) // still up
	if _, errOut, code := run(t, h.url, "link", "put", "nobody", "kvp", "wasmcloud:keyvalue"); code != 6 || !strings.Contains(errOut, `actor "nobody" is not running`) {
		t.Fatalf("link to a missing actor: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, h.url, "link", "del", "nobody", "wasmcloud:keyvalue"); code != 3 || !strings.Contains(errOut, "no link") {
		t.Fatalf("delete of a missing link: exit %d, %q", code, errOut)
	}
	// Not found is 3 whichever path the CLI takes: the host's answer
	// (--host) or its own look at every inventory.
	for _, args := range [][]string{{"stop", "actor", "nope", "--host", hostID}, {"stop", "actor", "nope"}} {
		if _, errOut, code := run(t, h.url, args...); code != 3 || !strings.Contains(errOut, "not running") {
			t.Errorf("wisp %s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
	for _, c := range [][]string{{"tier"}, {"=pi"}, {"a b=c"}, {"tier=pi", "tier=cloud"}} {
		args := []string{"start", "actor", "x.wasm"}
		for _, kv := range c {
			args = append(args, "--constraint", kv)
		}
		if _, errOut, code := run(t, h.url, args...); code != 2 || !strings.Contains(errOut, "bad constraint") {
			t.Errorf("constraints %q: exit %d, %q", c, code, errOut)
		}
	}
	if _, _, code := run(t, h.url, "link", "put", "a", "p", "bad contract"); code != 2 {
		t.Fatalf("contract with a space: exit %d", code)
	}
}

// TestEdgeHostOnALeafNode: an edge site runs its own NATS server as a leaf
// node of the hub's; the edge host joins the hub's lattice, wins an auction
// by its labels, serves calls made at the hub and follows links stored in
// the hub's JetStream (--js-domain).
func TestEdgeHostOnALeafNode(t *testing.T) {
	leaf := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hub := startHost(t, "--name", "hub", "--leaf-listen", leaf, "--js-domain", "cloud", "--label", "site=cloud")
	edgePort := freePort(t)
	edgeURL := fmt.Sprintf("nats://127.0.0.1:%d", edgePort)
	spawn(t, edgeURL, "--name", "edge", "--nats-port", fmt.Sprint(edgePort), "--leaf-url", "nats://"+leaf, "--js-domain", "cloud",
		"--cache-dir", t.TempDir(), "--label", "site=edge")
	hosts := hostsByName(t, hub.url, "default", 2)
	hostsByName(t, edgeURL, "default", 2)

	probe := filepath.Join(t.TempDir(), "probe.wasm")
	mustRun(t, hub.url, "build", "./internal/testactors/probe", "-o", probe, "--cap", "wasmcloud:keyvalue", "--cap", "wasmcloud:builtin:numbergen")
	var started struct {
		Host string `json:"host"`
	}
	json.Unmarshal([]byte(mustRun(t, hub.url, "start", "actor", probe, "--constraint", "site=edge", "-o", "json")), &started)
	if started.Host != hosts["edge"].ID {
		t.Fatalf("site=edge started on %s, want the edge host", started.Host)
	}
	if out := mustRun(t, hub.url, "call", "probe", "Probe.Dice"); len(strings.TrimSpace(out)) != 1 {
		t.Fatalf("call from the hub = %q", out)
	}
	eventually(t, hub.url, "link", "put", "probe", "kvp", "wasmcloud:keyvalue")
	pc := natsAs(t, hub.url, auth.ProviderUser)
	pc.Subscribe("wisp.prov.default.wasmcloud:keyvalue.default", func(m *nats.Msg) { m.Respond([]byte("hub kv")) })
	pc.Flush()
	if out := eventually(t, edgeURL, "call", "probe", "Probe.Link"); out != "hub kv\n" {
		t.Fatalf("linked call at the edge = %q", out)
	}
	var links []lattice.Link
	json.Unmarshal([]byte(mustRun(t, edgeURL, "link", "get", "-o", "json")), &links)
	if len(links) != 1 {
		t.Fatalf("links seen from the edge = %+v", links)
	}
	replay := mustRun(t, edgeURL, "events", "--replay", "--js-domain", "cloud", "--type", "link_set", "--count", "1", "--timeout", "20s", "-o", "json")
	if !strings.Contains(replay, "link_set") {
		t.Fatalf("replay at the edge = %q", replay)
	}
}

// TestJoinedHostServesAgainAfterItsServerRestarts: a host that joined by
// URL loses its NATS server; when the server is back (same port, same
// JetStream store) the host re-registers: it answers pings, serves its
// actor and routes its link again.
func TestJoinedHostServesAgainAfterItsServerRestarts(t *testing.T) {
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	serverArgs := []string{"--name", "server", "--nats-port", fmt.Sprint(port), "--js-dir", t.TempDir(), "--cache-dir", t.TempDir()}
	server := spawn(t, url, serverArgs...)
	hostsByName(t, url, "default", 1)
	joiner := spawn(t, url, "--name", "joiner", "--nats-url", url, "--cache-dir", t.TempDir())
	hosts := hostsByName(t, url, "default", 2)
	probe := filepath.Join(t.TempDir(), "probe.wasm")
	mustRun(t, url, "build", "./internal/testactors/probe", "-o", probe, "--cap", "wasmcloud:keyvalue")
	startOn(t, url, probe, hosts["joiner"].ID)
	eventually(t, url, "link", "put", "probe", "kvp", "wasmcloud:keyvalue")

	server.stop(t)
	spawn(t, url, serverArgs...)
	hostsByName(t, url, "default", 2)
	pc := natsAs(t, url, auth.ProviderUser)
	pc.Subscribe("wisp.prov.default.wasmcloud:keyvalue.default", func(m *nats.Msg) { m.Respond([]byte("back")) })
	pc.Flush()
	if out := eventually(t, url, "call", "probe", "Probe.Link"); out != "back\n" {
		t.Fatalf("linked call after the server came back = %q", out)
	}
	var inv []lattice.HostInventory
	json.Unmarshal([]byte(mustRun(t, url, "get", "inventory", hosts["joiner"].ID, "-o", "json")), &inv)
	if len(inv) != 1 || len(inv[0].Actors) != 1 || inv[0].Actors[0].Name != "probe" {
		t.Fatalf("joiner inventory after the restart = %+v", inv)
	}
	if !strings.Contains(joiner.logs.String(), "NATS connection back: re-registering") {
		t.Fatalf("the joiner did not say it re-registered:\n%s", joiner.logs)
	}
}
