package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wisp-dev/wisp/internal/wasmbuild"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// The equal-hops benchmark: every party is a process of its own and every
// hop crosses TCP to one NATS server (bench/natsd), secured as a lattice is
// by default (operator, the lattice's account, a user per party):
//
//	natsd           the NATS server with JetStream
//	wisp up         the host, joined with --nats-url and host credentials
//	wispbench echo  the raw nats.go responder, a host-role user of its own
//	wispbench load  the callers, the admin user, one process per run
//
// so a call to the actor and a call to the raw responder take the same
// hops: caller → server → responder → server → caller.

// fairConfig selects what the equal-hops runs measure.
type fairConfig struct {
	callers   []int
	sizes     []int
	httpConns []int
	reps      int
	dur       time.Duration
	instances int
	hostArgs  []string // extra `wisp up` flags (e.g. --pprof-listen)
	engine    string   // the hosts' engine (wisp up --engine)
}

// lat is the bench's lattice: the server, the auth store, the built files.
type lat struct {
	tmp, bin, natsd, self string
	cliAlone              string // the CLI alone: -tags wispcli, no cgo
	url                   string
	store                 *auth.Store
	server                *child
	env                   []string
}

// child is a process the bench started.
type child struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	logs *bytes.Buffer
	addr string
}

func (c *child) stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// startChild starts a process that prints "ready ADDR" when it serves.
func startChild(name string, env []string, bin string, args ...string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, in: in, logs: logs}
	if c.addr, err = readyLine(out, 60*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: %v\n%s", name, err, logs)
	}
	return c, nil
}

// newLattice builds wisp (with engine compiled in) and natsd, makes an auth
// store and starts the server.
func newLattice(tmp, engine string) (*lat, error) {
	l := &lat{tmp: tmp, bin: filepath.Join(tmp, "wisp"), natsd: filepath.Join(tmp, "natsd"), cliAlone: filepath.Join(tmp, "wisp-cli")}
	tags := ""
	if engine == "wasmtime" {
		tags = "wasmtime"
	}
	for out, pkg := range map[string]string{l.bin: "./cmd/wisp", l.natsd: "./bench/natsd"} {
		if b, err := exec.Command("go", "build", "-tags", tags, "-o", out, pkg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
		}
	}
	cli := exec.Command("go", "build", "-tags", "wispcli", "-o", l.cliAlone, "./cmd/wisp")
	cli.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cli.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the CLI alone: %v\n%s", err, b)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	l.self = self
	// WISP_CONFIG_DIR keeps contexts and stores out of the user's home;
	// no WISP_AUTH_DIR: every process authenticates with its creds file.
	l.env = append(os.Environ(), "WISP_CONFIG_DIR="+filepath.Join(tmp, "config"))
	if l.store, err = auth.Open(filepath.Join(tmp, "auth")); err != nil {
		return nil, err
	}
	if _, _, err := l.store.Account("default"); err != nil {
		return nil, err
	}
	// The raw responder is a host-role user of the same account, its own.
	creds, err := l.store.CreateUser("default", "bench-raw", auth.RoleHost, auth.Grant{})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(l.creds("bench-raw"), creds, 0o600); err != nil {
		return nil, err
	}
	if l.server, err = startChild("natsd", l.env, l.natsd, "-auth-dir", l.store.Dir(), "-store-dir", filepath.Join(tmp, "natsd-store")); err != nil {
		return nil, err
	}
	l.url = l.server.addr
	return l, nil
}

func (l *lat) close() { l.server.stop() }

func (l *lat) creds(user string) string {
	if user == "bench-raw" {
		return filepath.Join(l.tmp, "bench-raw.creds")
	}
	return l.store.LocalCreds("default", user)
}

// startHost runs `wisp up` joined to the server with the host's creds.
func (l *lat) startHost(cache string, extra ...string) (*host, error) {
	args := append([]string{"up", "--nats-url", l.url, "--nats-creds", l.creds(auth.HostUser),
		"--cache-dir", cache, "--log-level", "warn", "--allow-file-dir", l.tmp}, extra...)
	cmd := exec.Command(l.bin, args...)
	cmd.Env = l.env
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &host{cmd: cmd, url: l.url}
	c, err := l.admin()
	if err != nil {
		stopHost(h)
		return nil, err
	}
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if hs, err := c.Hosts(context.Background()); err == nil && len(hs) > 0 {
			h.id = hs[0].ID
			return h, nil
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopHost(h)
	return nil, fmt.Errorf("wisp up --nats-url did not come up:\n%s", logs)
}

func (l *lat) admin() (*lattice.Client, error) {
	return lattice.Connect(l.url, lattice.WithTimeout(5*time.Minute), lattice.WithCredentials(lattice.Credentials{CredsFile: l.creds(auth.AdminUser)}))
}

// cli runs the wisp CLI as the admin user.
func (l *lat) cli(args ...string) (string, error) { return l.run(l.bin, args...) }

// run runs bin, the full wisp or the CLI alone, as the admin user.
func (l *lat) run(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, append(args, "--nats-url", l.url, "--nats-creds", l.creds(auth.AdminUser))...)
	cmd.Env = l.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("wisp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// load runs one load process and reads its result, with the CPU time the
// answering process (pid) spent per call.
func (l *lat) load(pid int, role string, args ...string) (loadResult, error) {
	cpu0 := cpuTime(pid)
	cmd := exec.Command(l.self, append([]string{"-role", role}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	var r loadResult
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%s %v: %v\n%s", role, args, err, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%s: %v: %q", role, err, out.String())
	}
	if r.Total > 0 {
		r.CPU = float64(cpuTime(pid)-cpu0) / 1e3 / float64(r.Total)
	}
	return r, nil
}

// buildActor builds a Go actor into tmp and signs it with caps.
func buildActor(ctx context.Context, tmp, dir, alias string, caps ...string) (string, error) {
	out := filepath.Join(tmp, alias+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if _, err := wasmbuild.Build(ctx, dir, wasmbuild.Options{Output: out}); err != nil {
		return "", err
	}
	return out, sign(out, alias, caps...)
}

// buildWat assembles the text module src with wat2wasm into tmp and signs
// it as alias with caps.
func buildWat(ctx context.Context, tmp, src, alias string, caps ...string) (string, error) {
	out := filepath.Join(tmp, alias+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	wat, err := exec.LookPath("wat2wasm")
	if err != nil {
		return "", errors.New("wat2wasm not found: install Debian's wabt")
	}
	if b, err := exec.CommandContext(ctx, wat, src, "-o", out).CombinedOutput(); err != nil {
		return "", fmt.Errorf("wat2wasm %s: %v: %s", src, err, b)
	}
	return out, sign(out, alias, caps...)
}

// printHead ends a section's progress dots and prints the head of its
// table: what its CPU row counts, then the columns, raw naming the baseline.
func printHead(cpu, rows, raw string) {
	fmt.Fprintln(os.Stderr)
	fmt.Println("CPU µs: CPU time of the answering process " + cpu)
	fmt.Printf("%-22s %-7s %24s %24s %8s\n", rows, "", "wisp (min–max)", raw+" (min–max)", "wisp/raw")
}

// figures are the results of one measure over the repetitions.
type figures struct{ wisp, raw []loadResult }

// add records r as a result of wisp's side or of the baseline's.
func (f *figures) add(wispSide bool, r loadResult) {
	if wispSide {
		f.wisp = append(f.wisp, r)
	} else {
		f.raw = append(f.raw, r)
	}
}

func pick(rs []loadResult, f func(loadResult) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

var (
	p50Of  = func(r loadResult) float64 { return r.P50 }
	p99Of  = func(r loadResult) float64 { return r.P99 }
	tputOf = func(r loadResult) float64 { return r.Tput }
	cpuOf  = func(r loadResult) float64 { return r.CPU }
)

// cpuTime is the user and system CPU time of process pid so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// spread prints the median of v with its min–max.
func spread(v []float64, format string) string {
	if len(v) == 1 {
		return fmt.Sprintf(format, v[0])
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(v), minOf(v), maxOf(v))
}

func printFigures(label string, f figures) {
	var errs int64
	for _, r := range append(append([]loadResult(nil), f.wisp...), f.raw...) {
		errs += r.Errors
	}
	if errs > 0 {
		defer fmt.Printf("%-22s %d calls failed (wisp %s, raw %s)\n", "", errs, firstErr(f.wisp), firstErr(f.raw))
	}
	for _, m := range []struct {
		name   string
		of     func(loadResult) float64
		format string
	}{{"p50 µs", p50Of, "%.0f"}, {"p99 µs", p99Of, "%.0f"}, {"req/s", tputOf, "%.0f"}, {"CPU µs", cpuOf, "%.0f"}} {
		w, r := pick(f.wisp, m.of), pick(f.raw, m.of)
		fmt.Printf("%-22s %-7s %24s %24s %7.2fx\n", label, m.name, spread(w, m.format), spread(r, m.format), median(w)/median(r))
		label = ""
	}
}

func firstErr(rs []loadResult) string {
	for _, r := range rs {
		if r.Err != "" {
			return r.Err
		}
	}
	return "none"
}

// runEcho measures the echo actor against the raw responder for every
// callers × size, reps times, alternating which side goes first.
func runEcho(ctx context.Context, l *lat, cfg fairConfig) error {
	module, err := buildActor(ctx, l.tmp, "actors/echo", "echo")
	if err != nil {
		return err
	}
	h, err := l.startHost(filepath.Join(l.tmp, "cache"), cfg.hostArgs...)
	if err != nil {
		return err
	}
	defer stopHost(h)
	if _, err := l.cli("start", "actor", module, "--count", strconv.Itoa(cfg.instances), "--max-payload", strconv.Itoa(1<<20)); err != nil {
		return err
	}
	rawSubject := lattice.RPCSubject("default", "rawecho")
	raw, err := startChild("raw echo", l.env, l.self, "-role", "echo", "-url", l.url, "-creds", l.creds("bench-raw"), "-subject", rawSubject)
	if err != nil {
		return err
	}
	defer raw.stop()
	wispSubject := lattice.RPCSubject("default", "echo")

	res := map[[2]int]*figures{}
	fmt.Printf("echo: %d instances of the Go echo actor vs a raw nats.go responder, %d reps of %s per cell\n", cfg.instances, cfg.reps, cfg.dur)
	for rep := 0; rep < cfg.reps; rep++ {
		for _, size := range cfg.sizes {
			for _, n := range cfg.callers {
				key := [2]int{size, n}
				if res[key] == nil {
					res[key] = &figures{}
				}
				f := res[key]
				args := func(subject string) []string {
					return []string{"-url", l.url, "-creds", l.creds(auth.AdminUser), "-subject", subject,
						"-size", strconv.Itoa(size), "-callers", strconv.Itoa(n), "-duration", cfg.dur.String()}
				}
				order := []bool{rep%2 == 0, rep%2 != 0}
				for _, wispSide := range order {
					pid, subject, side := raw.cmd.Process.Pid, rawSubject, "raw"
					if wispSide {
						pid, subject, side = h.cmd.Process.Pid, wispSubject, "wisp"
					}
					r, err := l.load(pid, "load", args(subject)...)
					if err != nil {
						return fmt.Errorf("%s: %w", side, err)
					}
					f.add(wispSide, r)
				}
				fmt.Fprintf(os.Stderr, ".")
			}
		}
	}
	printHead("(wisp host, raw responder) per answered call", "echo, callers × size", "raw nats.go")
	for _, size := range cfg.sizes {
		for _, n := range cfg.callers {
			printFigures(fmt.Sprintf("%d × %s", n, sizeName(size)), *res[[2]int{size, n}])
		}
	}
	return nil
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// runHTTP measures HTTP requests through the httpserver provider to an
// actor against a plain net/http server doing the same work, each a process
// of its own, the load a third. Two pairs: hello-http (a Go guest) against
// a handler doing its work, and fixed_http (a WAT guest answering one fixed
// response) against a handler answering the same bytes, which shows what
// wisp costs a request apart from its guest.
func runHTTP(ctx context.Context, l *lat, cfg fairConfig) error {
	hello, err := buildActor(ctx, l.tmp, "actors/hello-http", "hello_http", "wasmcloud:httpserver")
	if err != nil {
		return err
	}
	fixed, err := buildWat(ctx, l.tmp, "bench/wispbench/fixed_http.wat", "fixed_http", "wasmcloud:httpserver")
	if err != nil {
		return err
	}
	h, err := l.startHost(filepath.Join(l.tmp, "cache"), cfg.hostArgs...)
	if err != nil {
		return err
	}
	defer stopHost(h)
	if _, err := l.cli("start", "provider", "httpserver"); err != nil {
		return err
	}
	plain, err := startChild("plain http", l.env, l.self, "-role", "http")
	if err != nil {
		return err
	}
	defer plain.stop()
	pairs := []struct {
		actor, module, path, want, title string
		wispAddr                         string
	}{
		{actor: "hello_http", module: hello, path: "/bench?name=wisp", want: "Hello, wisp!\n", title: "hello-http (Go guest) vs net/http doing its work"},
		{actor: "fixed_http", module: fixed, path: "/fixed", want: fixedAnswer, title: "fixed_http (WAT guest, one fixed answer) vs net/http answering the same bytes"},
	}
	for i := range pairs {
		p := &pairs[i]
		if _, err := l.cli("start", "actor", p.module, "--count", strconv.Itoa(cfg.instances)); err != nil {
			return err
		}
		port, err := freePort()
		if err != nil {
			return err
		}
		p.wispAddr = fmt.Sprintf("127.0.0.1:%d", port)
		if _, err := l.cli("link", "put", p.actor, "httpserver", "wasmcloud:httpserver", "address="+p.wispAddr); err != nil {
			return err
		}
	}
	for _, p := range pairs {
		res := map[int]*figures{}
		fmt.Printf("\nhttp: httpserver provider → %d instances of %s, %d reps of %s per cell\n", cfg.instances, p.title, cfg.reps, cfg.dur)
		for rep := 0; rep < cfg.reps; rep++ {
			for _, n := range cfg.httpConns {
				if res[n] == nil {
					res[n] = &figures{}
				}
				f := res[n]
				for _, wispSide := range []bool{rep%2 == 0, rep%2 != 0} {
					target, pid := "http://"+plain.addr, plain.cmd.Process.Pid
					if wispSide {
						target, pid = "http://"+p.wispAddr, h.cmd.Process.Pid
					}
					r, err := l.load(pid, "httpload", "-target", target+p.path, "-want", p.want, "-callers", strconv.Itoa(n), "-duration", cfg.dur.String())
					if err != nil {
						return err
					}
					f.add(wispSide, r)
				}
				fmt.Fprintf(os.Stderr, ".")
			}
		}
		printHead("(wisp host, net/http server) per answered request", "http, connections", "net/http")
		for _, n := range cfg.httpConns {
			printFigures(fmt.Sprintf("%d conns", n), *res[n])
		}
	}
	return nil
}

// runStart measures `wisp start actor` (the CLI, with its auction) to the
// first answered call: cold (an empty compilation cache), then in a fresh
// host whose cache has the module, with the full wisp as the CLI and with
// the CLI alone; and one more instance of a running actor.
func runStart(ctx context.Context, l *lat, cfg fairConfig) error {
	module, err := buildActor(ctx, l.tmp, "actors/echo", "echo")
	if err != nil {
		return err
	}
	cache := filepath.Join(l.tmp, "start-cache")
	os.RemoveAll(cache)
	c, err := l.admin()
	if err != nil {
		return err
	}
	defer c.Close()
	firstCall := func(cli string) (time.Duration, error) {
		t0 := time.Now()
		if _, err := l.run(cli, "start", "actor", module, "--name", "echo"); err != nil {
			return 0, err
		}
		if _, err := c.Call(ctx, "echo", "Echo.Reply", []byte("x")); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	fmt.Printf("\nstart: `wisp start actor` (CLI process, auction included) → first answered call, %s, %d reps\n", cfg.engine, cfg.reps)
	var cold, cached, cachedAlone, scale []float64
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	runs := []struct {
		fresh bool // an empty compilation cache
		cli   string
		into  *[]float64
	}{{true, l.bin, &cold}, {false, l.bin, &cached}, {false, l.cliAlone, &cachedAlone}}
	for rep := 0; rep < cfg.reps; rep++ {
		// The two CLIs take turns at going first after the cold start,
		// so that neither always finds the machine as the other left it.
		order := []int{0, 1, 2}
		if rep%2 == 1 {
			order = []int{0, 2, 1}
		}
		for _, i := range order {
			r := runs[i]
			if r.fresh {
				os.RemoveAll(cache)
			}
			h, err := l.startHost(cache, cfg.hostArgs...)
			if err != nil {
				return err
			}
			d, err := firstCall(r.cli)
			if err == nil {
				*r.into = append(*r.into, ms(d))
				if i == 1 {
					t0 := time.Now()
					if _, err = c.ScaleActor(ctx, h.id, "echo", 2); err == nil {
						scale = append(scale, ms(time.Since(t0)))
					}
				}
			}
			stopHost(h)
			if err != nil {
				return err
			}
		}
	}
	fmt.Printf("%-58s %s ms\n", "cold: empty compilation cache, fresh host", spread(cold, "%.0f"))
	target := "≤ 100 ms on wazero"
	if cfg.engine == "wasmtime" {
		target = "≤ 50 ms on wasmtime"
	}
	fmt.Printf("%-58s %s ms   (target %s)\n", "cached: module in the cache, fresh host", spread(cached, "%.0f"), target)
	fmt.Printf("%-58s %s ms   (target %s)\n", "cached, with the CLI alone (-tags wispcli)", spread(cachedAlone, "%.0f"), target)
	fmt.Printf("%-58s %s ms   (target ≤ 1 ms)\n", "one more instance (scale 1 → 2, API call, no CLI)", spread(scale, "%.1f"))
	return nil
}
