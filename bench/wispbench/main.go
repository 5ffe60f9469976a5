// Command wispbench measures wisp against raw baselines measured in the same
// run, every party a process of its own over TCP to one NATS server
// (fair.go): echo through the lattice against a raw nats.go responder at
// several caller counts and payload sizes, HTTP through the httpserver
// provider against plain net/http (to a Go guest, and to a WAT guest that
// costs next to nothing, fixed_http.wat), and `wisp start actor` to the first
// answered call. -sections mem adds the start time and RSS of a `wisp up`
// process with its embedded server; -auth measures what authentication and
// TLS cost a call. bench/run.sh runs it.
//
//	wispbench                                    # echo, http and start, 3 reps
//	wispbench -callers 64 -sizes 1024 -reps 1 -sections echo   # a quick look
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/wasmbuild"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		if err := runRole(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "wispbench -role", os.Args[2]+":", err)
			os.Exit(1)
		}
		return
	}
	n := flag.Int("n", 5000, "requests per latency measurement (-auth, -sections mem)")
	dur := flag.Duration("duration", 2*time.Second, "measured length of each run")
	callers := flag.String("callers", "1,8,64,256", "concurrent callers of the echo runs (comma-separated)")
	sizes := flag.String("sizes", "16,1024,65536", "payload bytes of the echo runs (comma-separated)")
	conns := flag.String("http-conns", "32,256", "HTTP connections of the http runs (comma-separated)")
	reps := flag.Int("reps", 3, "repetitions of each measurement")
	instances := flag.Int("instances", 4, "instances of the actor")
	sections := flag.String("sections", "echo,http,start", "what to measure: echo, http, start, mem (comma-separated)")
	pprof := flag.String("host-pprof", "", "serve the wisp host's Go profiles on this address (wisp up --pprof-listen)")
	eng := flag.String("engine", "wazero", "the wisp hosts' engine: wazero, or wasmtime (wisp built with -tags wasmtime, which needs cgo)")
	authCost := flag.Bool("auth", false, "measure only what authentication and TLS cost a call (open vs JWT auth vs JWT auth + TLS)")
	flag.Parse()
	var err error
	if *authCost {
		err = runAuthCost(*n, *dur, 64, *reps)
	} else {
		cfg := fairConfig{reps: *reps, dur: *dur, instances: *instances, engine: *eng}
		if cfg.callers, err = ints(*callers); err == nil {
			if cfg.sizes, err = ints(*sizes); err == nil {
				cfg.httpConns, err = ints(*conns)
			}
		}
		if *pprof != "" {
			cfg.hostArgs = []string{"--pprof-listen", *pprof}
		}
		cfg.hostArgs = append(cfg.hostArgs, "--engine", *eng)
		if err == nil {
			err = runSections(strings.Split(*sections, ","), cfg, *n)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wispbench:", err)
		os.Exit(1)
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func runSections(sections []string, cfg fairConfig, n int) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "wispbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("wispbench: %s, load average %s\n", time.Now().Format(time.RFC3339), strings.Join(strings.Fields(string(load))[:3], " "))
	var l *lat
	for _, s := range sections {
		if s != "mem" && l == nil {
			if l, err = newLattice(tmp, cfg.engine); err != nil {
				return err
			}
			defer l.close()
			fmt.Println("every party its own process over TCP to one NATS server (bench/natsd, JWT auth); medians of the reps with min–max")
		}
		switch s {
		case "echo":
			err = runEcho(ctx, l, cfg)
		case "http":
			err = runHTTP(ctx, l, cfg)
		case "start":
			err = runStart(ctx, l, cfg)
		case "mem":
			err = runMem(n)
		default:
			err = fmt.Errorf("unknown section %q", s)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("\nload average at the end %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	return nil
}

type host struct {
	cmd *exec.Cmd
	url string
	id  string
}

// prepare builds the wisp binary and the signed echo actor into tmp.
func prepare(ctx context.Context, tmp string) (bin, module string, err error) {
	bin = filepath.Join(tmp, "wisp")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/wisp").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build wisp: %v\n%s", err, out)
	}
	module, err = wasmbuild.Build(ctx, "actors/echo", wasmbuild.Options{Output: filepath.Join(tmp, "echo.wasm")})
	if err != nil {
		return "", "", err
	}
	return bin, module, sign(module, "echo")
}

// runMem measures a `wisp up` process with its embedded server: process
// start, idle RSS, the actor's start through the API (cold, and cached in a
// fresh process), RSS per instance, and an edge gateway's idle RSS.
func runMem(n int) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "wispbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, module, err := prepare(ctx, tmp)
	if err != nil {
		return err
	}
	st, _ := os.Stat(module)
	cache := filepath.Join(tmp, "cache")

	fmt.Printf("\nmem: echo actor %.1f MB\n", float64(st.Size())/1e6)

	// Host 1: process start, idle RSS, cold start, RSS per instance.
	t0 := time.Now()
	h, err := startHost(bin, tmp, cache)
	if err != nil {
		return err
	}
	hostStart := time.Since(t0)
	time.Sleep(time.Second)
	idle := rss(h.cmd.Process.Pid)
	c, err := lattice.Connect(h.url, lattice.WithTimeout(5*time.Minute), lattice.WithCredentials(credsOf(tmp, auth.AdminUser)))
	if err != nil {
		return err
	}
	hostID, err := onlyHost(ctx, c)
	if err != nil {
		return err
	}
	t0 = time.Now()
	if _, err := c.StartActor(ctx, hostID, lattice.StartActorRequest{Ref: module, Name: "echo", Count: 1}); err != nil {
		return err
	}
	cold := time.Since(t0)
	time.Sleep(500 * time.Millisecond)
	one := rss(h.cmd.Process.Pid)
	if _, err := c.ScaleActor(ctx, hostID, "echo", 51); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	many := rss(h.cmd.Process.Pid)
	// A small actor: the TinyGo waPC guest of the conformance set (13 KB).
	smallPer, err := smallActorRSS(ctx, c, hostID, h.cmd.Process.Pid, tmp)
	if err != nil {
		return err
	}
	c.Close()
	stopHost(h)

	// An edge gateway: its own NATS server as a leaf node of a hub, the
	// reconciler and the CoAP gateway provider running, no actors.
	gwIdle, err := gatewayRSS(bin, tmp, cache)
	if err != nil {
		return err
	}

	// Host 2, a fresh process on the same cache: cached start, latency and
	// throughput.
	h, err = startHost(bin, tmp, cache)
	if err != nil {
		return err
	}
	defer stopHost(h)
	c, err = lattice.Connect(h.url, lattice.WithTimeout(5*time.Minute), lattice.WithCredentials(credsOf(tmp, auth.AdminUser)))
	if err != nil {
		return err
	}
	defer c.Close()
	if hostID, err = onlyHost(ctx, c); err != nil {
		return err
	}
	t0 = time.Now()
	if _, err := c.StartActor(ctx, hostID, lattice.StartActorRequest{Ref: module, Name: "echo", Count: 1}); err != nil {
		return err
	}
	cached := time.Since(t0)
	fmt.Printf("%-44s %11.1f ms\n", "echo actor start (API), cold compile", float64(cold)/1e6)
	fmt.Printf("%-44s %11.1f ms   (target < 50 ms)\n", "echo actor start (API), cached, fresh process", float64(cached)/1e6)
	fmt.Printf("%-44s %11.1f ms\n", "host process start (exec to first ping)", float64(hostStart)/1e6)
	fmt.Printf("%-44s %11.1f MB   (target < 30 MB)\n", "idle host RSS (with embedded NATS+JetStream)", float64(idle)/1e6)
	fmt.Printf("%-44s %11.1f MB   (target < 30 MB)\n", "idle gateway RSS (leaf NATS server, coap)", float64(gwIdle)/1e6)
	echoPer := float64(many-one) / 50
	fmt.Printf("%-44s %11.2f MB   (%.0f per GiB)\n", "RSS per Go echo instance (51 vs 1)", echoPer/1e6, (1<<30)/echoPer)
	fmt.Printf("%-44s %11.1f KB   (%.0f per GiB, target > 5000)\n", "RSS per small TinyGo instance (1001 vs 1)", smallPer/1e3, (1<<30)/smallPer)
	return nil
}

// echoRuns measures a 1 KiB echo through the actor and through a raw
// nats.go responder on the same server: latencies of n calls from one
// caller, alternating blocks so drift on a shared machine hits both alike,
// then throughput with callers concurrent callers. The responder connects
// as a host, the caller as the admin: both cross the same permissions.
func echoRuns(url, tmp string, n int, dur time.Duration, callers int) (rawLat, actLat []time.Duration, rawTput, actTput float64, err error) {
	responder, err := natsConnect(url, tmp, auth.HostUser)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer responder.Close()
	rawSubject := lattice.RPCSubject("default", "rawecho")
	responder.Subscribe(rawSubject, func(m *nats.Msg) { m.Respond(m.Data) })
	responder.Flush()
	caller, err := natsConnect(url, tmp, auth.AdminUser)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer caller.Close()
	payload := bytes.Repeat([]byte("w"), 1024)
	raw := func() error {
		r, err := caller.Request(rawSubject, payload, 5*time.Second)
		if err == nil && len(r.Data) != len(payload) {
			err = fmt.Errorf("short reply")
		}
		return err
	}
	actor := func() error {
		m := &nats.Msg{Subject: lattice.RPCSubject("default", "echo"), Data: payload, Header: nats.Header{lattice.HeaderOperation: []string{"Echo.Reply"}}}
		r, err := caller.RequestMsg(m, 5*time.Second)
		if err == nil && (len(r.Data) != len(payload) || r.Header.Get(lattice.HeaderError) != "") {
			err = fmt.Errorf("bad reply: %q", r.Header.Get(lattice.HeaderError))
		}
		return err
	}
	for round := 0; round < 5; round++ {
		l, err := latencies(raw, n/5)
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("raw nats: %w", err)
		}
		rawLat = append(rawLat, l...)
		if l, err = latencies(actor, n/5); err != nil {
			return nil, nil, 0, 0, fmt.Errorf("actor: %w", err)
		}
		actLat = append(actLat, l...)
	}
	if rawTput, err = throughput(raw, callers, dur); err != nil {
		return nil, nil, 0, 0, err
	}
	if actTput, err = throughput(actor, callers, dur); err != nil {
		return nil, nil, 0, 0, err
	}
	return rawLat, actLat, rawTput, actTput, nil
}

// credsOf are the credentials of the bench's auth store user, with the CA
// of a host started with --tls auto.
func credsOf(tmp, user string) lattice.Credentials {
	cfg := filepath.Join(tmp, "config")
	c := lattice.Credentials{CredsFile: filepath.Join(cfg, "auth", "lattices", "default", "creds", user+".creds")}
	if _, err := os.Stat(c.CredsFile); err != nil {
		c.CredsFile = "" // a host started with --insecure-no-auth
	}
	if ca := filepath.Join(cfg, "tls", "ca.pem"); fileExists(ca) {
		c.TLSCAFile = ca
	}
	return c
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func natsConnect(url, tmp, user string) (*nats.Conn, error) {
	opts, err := credsOf(tmp, user).NATSOptions()
	if err != nil {
		return nil, err
	}
	return nats.Connect(url, opts...)
}

// gatewayRSS starts a hub and a gateway host that is a leaf node of it,
// and returns the gateway's resident bytes once idle.
func gatewayRSS(bin, tmp, cache string) (int64, error) {
	lp, err := freePort()
	if err != nil {
		return 0, err
	}
	leaf := fmt.Sprintf("127.0.0.1:%d", lp)
	hub, err := startHost(bin, tmp, cache, "--leaf-listen", leaf, "--js-domain", "cloud")
	if err != nil {
		return 0, err
	}
	defer stopHost(hub)
	gw, err := startHost(bin, tmp, cache, "--leaf-url", "nats://"+leaf, "--js-domain", "cloud", "--label", "tier=gateway", "--provider", "coap")
	if err != nil {
		return 0, err
	}
	defer stopHost(gw)
	time.Sleep(2 * time.Second)
	return rss(gw.cmd.Process.Pid), nil
}

// smallActorRSS starts a signed copy of the conformance TinyGo guest, scales
// it from 1 to 1001 instances and returns the resident bytes per instance.
func smallActorRSS(ctx context.Context, c *lattice.Client, hostID string, pid int, tmp string) (float64, error) {
	wasm, err := os.ReadFile(filepath.Join("testdata", "conformance", "wapc", "hello_go.wasm"))
	if err != nil {
		return 0, err
	}
	path := filepath.Join(tmp, "small.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		return 0, err
	}
	if err := sign(path, "small"); err != nil {
		return 0, err
	}
	if _, err := c.StartActor(ctx, hostID, lattice.StartActorRequest{Ref: path, Count: 1}); err != nil {
		return 0, err
	}
	time.Sleep(500 * time.Millisecond)
	one := rss(pid)
	if _, err := c.ScaleActor(ctx, hostID, "small", 1001); err != nil {
		return 0, err
	}
	time.Sleep(time.Second)
	return float64(rss(pid)-one) / 1000, nil
}

func latencies(call func() error, n int) ([]time.Duration, error) {
	for i := 0; i < 200; i++ { // warm up
		if err := call(); err != nil {
			return nil, err
		}
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := call(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func throughput(call func() error, callers int, dur time.Duration) (float64, error) {
	var done atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := call(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(done.Load()) / dur.Seconds(), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startHost(bin, tmp, cache string, extra ...string) (*host, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	js, _ := os.MkdirTemp(tmp, "js-")
	args := append([]string{"up", "--nats-port", strconv.Itoa(port), "--cache-dir", cache, "--js-dir", js, "--log-level", "warn", "--allow-file-dir", tmp}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "WISP_CONFIG_DIR="+filepath.Join(tmp, "config"))
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &host{cmd: cmd, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := lattice.Connect(h.url, lattice.WithCredentials(credsOf(tmp, auth.AdminUser))); err == nil {
			_, err = c.Hosts(context.Background())
			c.Close()
			if err == nil {
				return h, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopHost(h)
	return nil, fmt.Errorf("wisp up did not come up:\n%s", logs)
}

func stopHost(h *host) {
	h.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}

func onlyHost(ctx context.Context, c *lattice.Client) (string, error) {
	hosts, err := c.Hosts(ctx)
	if err != nil {
		return "", err
	}
	return hosts[0].ID, nil
}

// sign signs the module with throwaway keys, as hosts refuse unsigned
// actors (the measured start includes verifying the claims), granting it
// caps.
func sign(path, alias string, caps ...string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	acct, err := claims.GenerateKeyPair(claims.KindAccount)
	if err != nil {
		return err
	}
	mod, err := claims.GenerateKeyPair(claims.KindModule)
	if err != nil {
		return err
	}
	signed, err := claims.Sign(wasm, claims.SignOptions{Name: alias, CallAlias: alias, Caps: caps}, acct, mod)
	if err != nil {
		return err
	}
	return os.WriteFile(path, signed, 0o644)
}

// rss reads a process's resident set size in bytes from /proc.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
