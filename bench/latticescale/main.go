// Command latticescale measures a lattice of many hosts on one machine:
// the idle traffic of the lattice (NATS messages per second, as the
// servers count them), its CPU, the time to place an application of many
// instances, the time to heal after a process holding a group of hosts is
// killed with SIGKILL, and how long `wisp get hosts` and reading every
// inventory take.
//
// Hosts run in child processes (-per-proc hosts each, every host with its
// own NATS connection and its own reconciler, as `wisp up` runs them),
// joined to an embedded NATS server (or a 3-server cluster with -cluster)
// that requires JWT credentials; they connect as the lattice's host user.
// The actor is bench/latticescale/echo.wat, assembled with wat2wasm.
//
//	go run ./bench/latticescale -hosts 10,100 -instances 2000
//
// bench/latticescale.sh runs the growth curve the README reports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/host/engine"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/lattice/reconciler"
	"github.com/wisp-dev/wisp/provider"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		if err := child(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	hosts := flag.String("hosts", "1,10,30", "comma-separated lattice sizes to measure")
	perProc := flag.Int("per-proc", 0, "hosts per child process, the group a kill takes down (0: a quarter of the hosts, at most 100)")
	instances := flag.Int("instances", 0, "instances of the app to deploy (0: measure idle traffic only)")
	idle := flag.Duration("idle", 20*time.Second, "how long to count idle messages")
	cluster := flag.Bool("cluster", false, "three NATS servers in a cluster instead of one")
	heartbeat := flag.Duration("heartbeat", host.DefaultHeartbeat, "the hosts' heartbeat interval")
	flag.BoolVar(&tapIdle, "tap", false, "count the idle messages by subject (as the lattice's host user) and print the busiest")
	flag.Parse()
	if d := os.Getenv("LATTICESCALE_CPUPROFILE"); d != "" { // the NATS servers are in this process
		f, err := os.Create(filepath.Join(d, "servers.pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*hosts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "-hosts: %q is not a count\n", s)
			os.Exit(2)
		}
		per := *perProc
		if per <= 0 {
			per = min(100, max(1, (n+3)/4))
		}
		if err := measure(n, per, *instances, *idle, *cluster, *heartbeat); err != nil {
			fmt.Fprintf(os.Stderr, "%d hosts: %v\n", n, err)
			os.Exit(1)
		}
	}
}

type lat struct {
	servers []*natsserver.Server
	store   *auth.Store
	dir     string
	module  string
	kids    []*exec.Cmd
}

func (l *lat) msgs() (in, out int64) {
	for _, s := range l.servers {
		i, o := s.MsgCounts()
		in, out = in+i, out+o
	}
	return in, out
}

// cpu is the CPU time of this process (the servers) and the children (the
// hosts), from /proc.
func (l *lat) cpu() time.Duration {
	pids := []int{os.Getpid()}
	for _, k := range l.kids {
		if k.Process != nil {
			pids = append(pids, k.Process.Pid)
		}
	}
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func start(cluster bool) (*lat, error) {
	dir, err := os.MkdirTemp("", "latticescale-")
	if err != nil {
		return nil, err
	}
	st, err := auth.Open(filepath.Join(dir, "auth"))
	if err != nil {
		return nil, err
	}
	cfg, err := st.ServerConfig(lattice.DefaultLattice)
	if err != nil {
		return nil, err
	}
	l := &lat{store: st, dir: dir}
	n := 1
	var routes []string
	if cluster {
		n = 3
		for range n {
			routes = append(routes, "nats-route://"+freeAddr())
		}
	}
	secret, err := st.RouteSecret()
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		c := natsserver.Config{Port: -1, StoreDir: filepath.Join(dir, fmt.Sprintf("js%d", i)), Auth: cfg}
		if cluster {
			c.ClusterListen, c.ClusterRoutes, c.RouteSecret = strings.TrimPrefix(routes[i], "nats-route://"), routes, secret
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := natsserver.Start(context.Background(), c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			l.servers = append(l.servers, s)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	wat, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, errors.New("wat2wasm not found: install Debian's wabt")
	}
	l.module = filepath.Join(dir, "echo.wasm")
	src := filepath.Join(sourceDir(), "echo.wat")
	if out, err := exec.Command(wat, src, "-o", l.module).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm: %v: %s", err, out)
	}
	return l, nil
}

func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func (l *lat) stop() {
	// SIGTERM first, so that a child stops its hosts and writes its
	// profile; SIGKILL after 10 s.
	for _, k := range l.kids {
		if k.Process != nil {
			k.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, k := range l.kids {
		if k.Process != nil {
			t := time.AfterFunc(10*time.Second, func() { k.Process.Kill() })
			k.Wait()
			t.Stop()
		}
	}
	for _, s := range l.servers {
		s.Shutdown()
	}
	os.RemoveAll(l.dir)
}

func (l *lat) spawn(n, offset int, heartbeat time.Duration) (*exec.Cmd, error) {
	urls := make([]string, len(l.servers))
	for i, s := range l.servers {
		urls[i] = s.ClientURL()
	}
	cmd := exec.Command(os.Args[0], "child", "-n", strconv.Itoa(n), "-offset", strconv.Itoa(offset),
		"-url", strings.Join(urls, ","), "-creds", l.store.LocalCreds(lattice.DefaultLattice, auth.HostUser),
		"-dir", l.dir, "-heartbeat", heartbeat.String())
	cmd.Stderr = os.Stderr
	// The hosts die with the bench, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	l.kids = append(l.kids, cmd)
	return cmd, nil
}

func (l *lat) admin(timeout time.Duration) (*lattice.Client, error) {
	urls := make([]string, len(l.servers))
	for i, s := range l.servers {
		urls[i] = s.ClientURL()
	}
	return lattice.Connect(strings.Join(urls, ","), lattice.WithTimeout(timeout),
		lattice.WithCredentials(lattice.Credentials{CredsFile: l.store.LocalCreds(lattice.DefaultLattice, auth.AdminUser)}))
}

// tapIdle is -tap.
var tapIdle bool

// subjectTap counts the messages of the lattice's account by the shape of
// their subject (tokens that name one host, inbox or key become *).
type subjectTap struct {
	nc     *nats.Conn
	mu     sync.Mutex
	counts map[string]int
}

// tap subscribes to every subject of the lattice's account.
func (l *lat) tap() (*subjectTap, error) {
	urls := make([]string, len(l.servers))
	for i, s := range l.servers {
		urls[i] = s.ClientURL()
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserCredentials(l.store.LocalCreds(lattice.DefaultLattice, auth.HostUser)))
	if err != nil {
		return nil, err
	}
	t := &subjectTap{nc: nc, counts: map[string]int{}}
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		toks := strings.Split(m.Subject, ".")
		for i, tok := range toks {
			if len(tok) > 24 || (i > 0 && toks[i-1] == "_INBOX") {
				toks[i] = "*"
			}
		}
		if len(toks) > 6 {
			toks = append(toks[:6], ">")
		}
		k := strings.Join(toks, ".")
		t.mu.Lock()
		t.counts[k]++
		t.mu.Unlock()
	}); err != nil {
		nc.Close()
		return nil, err
	}
	return t, nc.Flush()
}

// report prints the ten busiest subject shapes over w and stops the tap.
func (t *subjectTap) report(w time.Duration) {
	t.nc.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	type row struct {
		subject string
		n       int
	}
	var rows []row
	total := 0
	for k, n := range t.counts {
		rows = append(rows, row{k, n})
		total += n
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	fmt.Printf("  tap: %.1f msg/s published in the account\n", float64(total)/w.Seconds())
	for _, r := range rows[:min(10, len(rows))] {
		fmt.Printf("  %8.2f msg/s  %s\n", float64(r.n)/w.Seconds(), r.subject)
	}
}

const appTemplate = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: scale
  annotations:
    version: v1
spec:
  components:
    - name: echo
      type: actor
      properties:
        image: file://%s
      traits:
        - type: spreadscaler
          properties:
            replicas: %d
`

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func measure(n, perProc, instances int, idle time.Duration, cluster bool, heartbeat time.Duration) error {
	l, err := start(cluster)
	if err != nil {
		return err
	}
	defer l.stop()
	t0 := time.Now()
	for off := 0; off < n; off += perProc {
		if _, err := l.spawn(min(perProc, n-off), off, heartbeat); err != nil {
			return err
		}
	}
	c, err := l.admin(10 * time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx := context.Background()
	if err := waitFor(5*time.Minute, func() error {
		hs, err := c.Hosts(ctx)
		if err != nil {
			return err
		}
		if len(hs) < n {
			return fmt.Errorf("%d of %d hosts up", len(hs), n)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("== %d hosts (%d processes, %d NATS server(s)); load %s\n", n, len(l.kids), len(l.servers), load())
	fmt.Printf("hosts up in %s\n", time.Since(t0).Round(time.Millisecond))
	settle := 5 * time.Second
	time.Sleep(settle)
	idleReport := func(what string) {
		var tap *subjectTap
		if tapIdle {
			if tap, err = l.tap(); err != nil {
				fmt.Println("tap:", err)
			}
		}
		in0, out0 := l.msgs()
		c0, w0 := l.cpu(), time.Now()
		time.Sleep(idle)
		in1, out1 := l.msgs()
		c1, w := l.cpu(), time.Since(w0)
		in, out := float64(in1-in0)/w.Seconds(), float64(out1-out0)/w.Seconds()
		fmt.Printf("idle %s: in %.1f msg/s, out %.1f msg/s; per host in %.3f, out %.3f; CPU %.1f%% of one core; load %s\n",
			what, in, out, in/float64(n), out/float64(n), 100*(c1-c0).Seconds()/w.Seconds(), load())
		if tap != nil {
			tap.report(w)
		}
	}
	idleReport("(no application)")
	timeIt := func(what string, fn func() (int, error)) {
		s := time.Now()
		k, err := fn()
		fmt.Printf("%s: %s (%d) err=%v\n", what, time.Since(s).Round(time.Millisecond), k, err)
	}
	timeIt("get hosts", func() (int, error) {
		hs, err := c.Hosts(ctx)
		return len(hs), err
	})
	if instances == 0 {
		return nil
	}
	js, err := c.JetStream()
	if err != nil {
		return err
	}
	store, err := app.Open(ctx, js, lattice.DefaultLattice)
	if err != nil {
		return err
	}
	a, err := manifest.Parse("scale", []byte(fmt.Sprintf(appTemplate, l.module, instances)))
	if err != nil {
		return err
	}
	if _, err := store.Put(ctx, a); err != nil {
		return err
	}
	t1 := time.Now()
	if _, err := store.Deploy(ctx, "scale", "v1"); err != nil {
		return err
	}
	if err := waitFor(10*time.Minute, func() error {
		st, err := store.Status(ctx, "scale")
		if err != nil {
			return err
		}
		if st.Phase != app.PhaseDeployed {
			return fmt.Errorf("phase %s: %s", st.Phase, st.Message)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("app of %d instances deployed in %s; load %s\n", instances, time.Since(t1).Round(time.Millisecond), load())
	time.Sleep(settle)
	idleReport("(app deployed)")
	timeIt("get hosts", func() (int, error) {
		hs, err := c.Hosts(ctx)
		return len(hs), err
	})
	timeIt("get inventory (every host)", func() (int, error) {
		invs, err := c.Inventories(ctx)
		return len(invs), err
	})
	// Kill the last process (its hosts are not the first ones, where
	// the first reconciler to open the bucket tends to run).
	victim := l.kids[len(l.kids)-1]
	lost := min(perProc, n-(len(l.kids)-1)*perProc)
	if len(l.kids) == 1 {
		fmt.Println("one process holds every host: no heal measured (use more hosts than -per-proc)")
		return nil
	}
	t2 := time.Now()
	victim.Process.Signal(syscall.SIGKILL)
	victim.Wait()
	victim.Process = nil
	if err := waitFor(10*time.Minute, func() error {
		st, err := store.Status(ctx, "scale")
		if err != nil {
			return err
		}
		running, hosts := 0, 0
		for _, cs := range st.Components {
			running += cs.Running
			hosts += len(cs.Hosts)
		}
		if st.Phase != app.PhaseDeployed || running != instances || hosts > n-lost {
			return fmt.Errorf("phase %s: %d running on %d hosts", st.Phase, running, hosts)
		}
		return nil
	}); err != nil {
		return err
	}
	fmt.Printf("healed after killing a process of %d hosts in %s (status: %d instances on the %d hosts left); load %s\n",
		lost, time.Since(t2).Round(time.Millisecond), instances, n-lost, load())
	return nil
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// child runs -n hosts, each with its own connection and reconciler, until
// killed.
func child(args []string) error {
	fs := flag.NewFlagSet("child", flag.ExitOnError)
	n := fs.Int("n", 1, "hosts")
	offset := fs.Int("offset", 0, "number of the first host")
	url := fs.String("url", "", "NATS URLs")
	creds := fs.String("creds", "", "host credentials")
	dir := fs.String("dir", "", "module directory")
	heartbeat := fs.Duration("heartbeat", host.DefaultHeartbeat, "heartbeat")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// LATTICESCALE_CPUPROFILE=DIR writes each child's CPU profile there.
	if d := os.Getenv("LATTICESCALE_CPUPROFILE"); d != "" {
		f, err := os.Create(filepath.Join(d, fmt.Sprintf("child-%d.pprof", *offset)))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// LATTICESCALE_RECONCILER_LOG=info shows what the reconcilers do.
	var recLevel slog.Level = slog.LevelError
	recLevel.UnmarshalText([]byte(os.Getenv("LATTICESCALE_RECONCILER_LOG")))
	recLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: recLevel}))
	eng, err := engine.New(engine.Config{})
	if err != nil {
		return err
	}
	copts, err := lattice.Credentials{CredsFile: *creds}.NATSOptions()
	if err != nil {
		return err
	}
	type member struct {
		h  *host.Host
		nc *nats.Conn
	}
	members := make([]member, *n)
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	sem := make(chan struct{}, 16)
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			nc, err := nats.Connect(*url, append(copts, nats.MaxReconnects(-1))...)
			if err != nil {
				errs <- err
				return
			}
			h, err := host.New(ctx, nc, host.WithName(fmt.Sprintf("h%04d", *offset+i)), host.WithEngineInstance(eng),
				host.WithFileDirs(*dir), host.WithPolicy(host.Policy{AllowUnsigned: true}), host.WithLogger(log),
				host.WithHeartbeat(*heartbeat), host.WithDefaultLimits(lattice.ActorLimits{MaxMemoryPages: 4}),
				host.WithCeilings(host.Ceilings{Instances: 10000, HostInstances: 10000}))
			if err != nil {
				errs <- err
				return
			}
			rec, err := reconciler.New(reconciler.Config{Conn: nc, HostID: h.ID(), HostName: h.Name(),
				Providers: provider.Contracts(), Logger: recLog.With("host", h.Name()), Links: h.Links})
			if err != nil {
				errs <- err
				return
			}
			go rec.Run(ctx)
			members[i] = member{h, nc}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	<-ctx.Done()
	for _, m := range members {
		m.h.Stop(context.Background())
		m.nc.Close()
	}
	return nil
}
