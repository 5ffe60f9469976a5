//go:build !wispcli

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/wisp-dev/wisp/host"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/natsserver"
	"github.com/wisp-dev/wisp/provider"
)

// isolate points everything the CLI reads from this machine (contexts,
// the auth store, the key store) at empty directories and clears the
// WISP_* variables of the shell running the tests.
func isolate(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "WISP_") {
			t.Setenv(k, "")
		}
	}
	dir := t.TempDir()
	t.Setenv("WISP_CONFIG_DIR", filepath.Join(dir, "config"))
	t.Setenv("WISP_KEYS_DIR", filepath.Join(dir, "keys"))
	return dir
}

// cli runs wisp in process with args, as main does, and returns what it
// wrote on stdout and stderr and its exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// mustCLI runs wisp in process and fails the test unless it exits 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("wisp %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestCLIReferenceIsUpToDate(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if err := writeReference(dir); err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	have, err := filepath.Glob(filepath.Join("..", "..", "docs", "cli", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	const fix = "the CLI changed but docs/cli did not: run 'go generate ./cmd/wisp' and commit docs/cli"
	if len(want) != len(have) {
		t.Fatalf("%s (%d pages generated, %d in docs/cli)", fix, len(want), len(have))
	}
	for _, p := range want {
		gen, _ := os.ReadFile(p)
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cli", filepath.Base(p)))
		if err != nil || !bytes.Equal(gen, doc) {
			t.Fatalf("%s: %s differs", fix, filepath.Base(p))
		}
	}
}

func TestEveryListingTakesTheSameOutputFlags(t *testing.T) {
	isolate(t)
	listings := 0
	walkCommands(newRootCmd(), func(c *cobra.Command) {
		if c.Name() != "list" && c.Parent() != nil && c.Parent().Name() != "get" && c.Name() != "history" {
			return
		}
		if c.HasSubCommands() {
			return
		}
		listings++
		o, nh := c.Flags().Lookup("output"), c.Flags().Lookup("no-headers")
		if o == nil || o.Shorthand != "o" || nh == nil {
			t.Errorf("%s: want -o/--output and --no-headers", c.CommandPath())
			return
		}
		for _, f := range []string{"table", "wide", "json", "yaml"} {
			if !strings.Contains(o.Usage, f) {
				t.Errorf("%s: -o does not offer %s: %q", c.CommandPath(), f, o.Usage)
			}
		}
		if c.Name() == "list" && !slices.Contains(c.Aliases, "ls") {
			t.Errorf("%s: a list is also ls, as in the nats CLI; aliases %v", c.CommandPath(), c.Aliases)
		}
	})
	if listings < 10 {
		t.Fatalf("found %d listings; the walk missed some", listings)
	}
}

func TestOldSpellingsReachTheSameCommands(t *testing.T) {
	isolate(t)
	root := newRootCmd()
	for _, tc := range []struct{ old, now string }{
		{"link get", "wisp link list"},
		{"link ls", "wisp link list"},
		{"link del", "wisp link delete"},
		{"link rm", "wisp link delete"},
		{"get links", "wisp get links"},
		{"get link", "wisp get links"},
		{"get host", "wisp get hosts"},
		{"get inv", "wisp get inventory"},
		{"app delete", "wisp app delete"},
		{"app rm", "wisp app delete"},
		{"app ls", "wisp app list"},
		{"keys ls", "wisp keys list"},
		{"device ls", "wisp device list"},
		{"creds ls", "wisp creds list"},
		{"ctx ls", "wisp ctx list"},
	} {
		c, rest, err := root.Find(strings.Fields(tc.old))
		if err != nil || len(rest) != 0 || c.CommandPath() != tc.now {
			t.Errorf("wisp %s found %q (rest %v, %v), want %s", tc.old, c.CommandPath(), rest, err, tc.now)
		}
	}
}

func TestOfflineVerbsDoNotOfferNATSFlags(t *testing.T) {
	isolate(t)
	for _, verb := range []string{"build", "keys gen", "keys list", "claims sign", "claims inspect", "push", "pull",
		"inspect", "device sim", "ctx list", "ctx use", "app validate"} {
		out := mustCLI(t, append(strings.Fields(verb), "--help")...)
		if strings.Contains(out, "--nats-url") || strings.Contains(out, "--context") {
			t.Errorf("wisp %s --help offers NATS flags:\n%s", verb, out)
		}
	}
	for _, verb := range []string{"get hosts", "link put", "call", "up", "events", "app deploy", "device list", "creds create", "ctx add"} {
		if out := mustCLI(t, append(strings.Fields(verb), "--help")...); !strings.Contains(out, "--nats-url") {
			t.Errorf("wisp %s --help does not offer --nats-url", verb)
		}
	}
}

func TestUnknownSubcommandsAreUsageErrorsWithSuggestions(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"gett"}, "\tget"},
		{[]string{"link", "lst"}, "\tlist"},
		{[]string{"app", "delte"}, "\tdelete"},
	} {
		_, errOut, code := cli(t, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, "Did you mean this?") || !strings.Contains(errOut, tc.suggest) {
			t.Errorf("wisp %s: exit %d, %q; want exit %d suggesting %q", strings.Join(tc.args, " "), code, errOut, exitUsage, tc.suggest)
		}
	}
	if _, errOut, code := cli(t, "link"); code != exitUsage || !strings.Contains(errOut, "needs a subcommand: delete, list, put") {
		t.Errorf("wisp link: exit %d, %q", code, errOut)
	}
	if out, _, code := cli(t); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("wisp without arguments: exit %d, want help:\n%s", code, out)
	}
}

func TestCtxListPrintsEveryFormat(t *testing.T) {
	isolate(t)
	mustCLI(t, "ctx", "add", "prod", "--nats-url", "tls://nats.example:4222", "--lattice", "blue", "--js-domain", "cloud")
	mustCLI(t, "ctx", "add", "edge", "--nats-url", "nats://10.0.0.5:4222")
	mustCLI(t, "ctx", "use", "prod")

	table := mustCLI(t, "ctx", "list")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CURRENT") || !strings.HasPrefix(lines[2], "*") ||
		!strings.Contains(lines[2], "tls://nats.example:4222") || strings.Contains(table, "JS DOMAIN") {
		t.Fatalf("ctx list:\n%s", table)
	}
	if rows := strings.Split(strings.TrimSpace(mustCLI(t, "ctx", "ls", "--no-headers")), "\n"); len(rows) != 2 || strings.Contains(rows[0], "CURRENT") {
		t.Fatalf("ctx ls --no-headers: %q", rows)
	}
	if wide := mustCLI(t, "ctx", "list", "-o", "wide"); !strings.Contains(wide, "JS DOMAIN") || !strings.Contains(wide, "cloud") {
		t.Fatalf("ctx list -o wide:\n%s", wide)
	}
	var fromJSON, fromYAML []natsContext
	if err := json.Unmarshal([]byte(mustCLI(t, "ctx", "list", "-o", "json")), &fromJSON); err != nil {
		t.Fatal(err)
	}
	// YAML carries the JSON names: decode it generically, then as JSON.
	var generic any
	if err := yaml.Unmarshal([]byte(mustCLI(t, "ctx", "list", "-o", "yaml")), &generic); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(generic)
	if err := json.Unmarshal(b, &fromYAML); err != nil {
		t.Fatal(err)
	}
	want := []natsContext{
		{Name: "edge", URL: "nats://10.0.0.5:4222", Lattice: "default"},
		{Name: "prod", URL: "tls://nats.example:4222", Lattice: "blue", JSDomain: "cloud"},
	}
	for _, got := range [][]natsContext{fromJSON, fromYAML} {
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("contexts = %+v, want %+v", got, want)
		}
	}
	if _, errOut, code := cli(t, "ctx", "list", "-o", "xml"); code != exitUsage || !strings.Contains(errOut, "table, wide, json or yaml") {
		t.Fatalf("ctx list -o xml: exit %d, %q", code, errOut)
	}
}

func TestYAMLKeepsTheJSONNamesOrderAndTypes(t *testing.T) {
	var b bytes.Buffer
	v := []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Flag    string `json:"flag"`
		Count   int    `json:"count"`
	}{{"echo", "1.10", "true", 3}}
	if err := printStructured(&b, outYAML, v); err != nil {
		t.Fatal(err)
	}
	want := "- name: echo\n  version: \"1.10\"\n  flag: \"true\"\n  count: 3\n"
	if b.String() != want {
		t.Fatalf("yaml =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestKeysGenSavesAndKeysListShowsIt(t *testing.T) {
	isolate(t)
	if _, errOut, _ := cli(t, "keys", "list"); !strings.Contains(errOut, "no keys in") {
		t.Fatalf("keys list of an empty store said %q", errOut)
	}
	if out := mustCLI(t, "keys", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("keys list -o json of an empty store = %q, want []", out)
	}
	out := mustCLI(t, "keys", "gen", "account", "--save", "ci")
	if !strings.HasPrefix(out, "Public Key: A") || strings.Contains(out, "Seed") {
		t.Fatalf("keys gen --save printed %q", out)
	}
	var keys []struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "keys", "list", "-o", "json")), &keys); err != nil || len(keys) != 1 || keys[0].Name != "ci" {
		t.Fatalf("keys list -o json = %+v (%v)", keys, err)
	}
	if rows := mustCLI(t, "keys", "ls", "--no-headers"); !strings.HasPrefix(rows, "ci ") || strings.Count(rows, "\n") != 1 {
		t.Fatalf("keys ls --no-headers = %q", rows)
	}
	if _, errOut, code := cli(t, "keys", "gen", "account", "-o", "yaml"); code != exitUsage || !strings.Contains(errOut, "never written as YAML") {
		t.Fatalf("keys gen -o yaml: exit %d, %q", code, errOut)
	}
}

// TestListingsOfALatticeInProcess drives the listings of a real lattice:
// a NATS server and a host in this process, the CLI executed in process
// against them.
func TestListingsOfALatticeInProcess(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: -1, NoJetStream: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h, err := host.New(ctx, nc, host.WithName("cli-test"), host.WithLabels(map[string]string{"zone": "east"}),
		host.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop(context.Background()) })
	url := "--nats-url=" + srv.ClientURL()

	table := mustCLI(t, "get", "hosts", url)
	if !strings.HasPrefix(table, "ID ") || !strings.Contains(table, "cli-test") || !strings.Contains(table, "zone=east") || strings.Contains(table, "ENGINE") {
		t.Fatalf("get hosts:\n%s", table)
	}
	if wide := mustCLI(t, "get", "hosts", url, "-o", "wide", "--no-headers"); strings.Contains(wide, "NAME") ||
		!strings.Contains(wide, "wazero") || !strings.Contains(wide, "/"+h.Labels()["wisp.arch"]) {
		t.Fatalf("get hosts -o wide --no-headers:\n%s", wide)
	}
	var hosts []lattice.HostSummary
	if err := json.Unmarshal([]byte(mustCLI(t, url, "get", "hosts", "-o", "json")), &hosts); err != nil || len(hosts) != 1 || hosts[0].ID != h.ID() {
		t.Fatalf("get hosts -o json = %+v (%v)", hosts, err)
	}
	var invs []map[string]any
	if err := yaml.Unmarshal([]byte(mustCLI(t, "get", "inventory", h.ID(), url, "-o", "yaml")), &invs); err != nil || len(invs) != 1 {
		t.Fatalf("get inventory -o yaml = %+v (%v)", invs, err)
	}
	if inv := mustCLI(t, "get", "inv", url); !strings.Contains(inv, h.ID()+"  -") {
		t.Fatalf("get inv of a host without actors:\n%s", inv)
	}
	if _, errOut, code := cli(t, "get", "hosts", "--nats-url", "nats://127.0.0.1:1"); code != exitNoServer {
		t.Fatalf("get hosts with no server: exit %d, %q", code, errOut)
	}
}

func TestSecondInterruptQuitsAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var stderr syncWriter
	ctx, stop := trapSignals(context.Background(), sigs, &stderr, func(code int) { exited <- code })
	defer stop()

	sigs <- os.Interrupt
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first interrupt did not cancel the context")
	}
	select {
	case code := <-exited:
		t.Fatalf("the first interrupt exited (%d); it must only start the drain", code)
	case <-time.After(50 * time.Millisecond):
	}
	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != exitForced {
			t.Fatalf("second signal exited %d, want %d", code, exitForced)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not quit")
	}
	if s := stderr.String(); !strings.Contains(s, "press Ctrl-C again to quit at once") || !strings.Contains(s, "quitting at once, without draining") {
		t.Fatalf("stderr = %q", s)
	}
}

func TestTrapStopsWatchingWhenTheCommandEnds(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	ctx, stop := trapSignals(context.Background(), sigs, io.Discard, func(code int) { exited <- code })
	stop()
	if ctx.Err() == nil {
		t.Fatal("stop did not cancel the context")
	}
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	select {
	case code := <-exited:
		t.Fatalf("a signal after stop exited %d", code)
	case <-time.After(100 * time.Millisecond):
	}
}

// syncWriter is a buffer the signal goroutine writes while the test reads.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestCredsNeedTheLatticesAuthStore: credentials minted by a store that no
// server trusts would be refused everywhere, so 'wisp creds' refuses to
// make a store of its own and says where credentials come from.
func TestCredsNeedTheLatticesAuthStore(t *testing.T) {
	dir := isolate(t)
	for _, args := range [][]string{
		{"creds", "create", "edge-1", "--role", "host"},
		{"creds", "revoke", "edge-1"},
		{"creds", "list"},
	} {
		_, errOut, code := cli(t, args...)
		if code == 0 || !strings.Contains(errOut, "no auth store at") || !strings.Contains(errOut, "wisp up") {
			t.Errorf("wisp %s = exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "config", "auth")); !os.IsNotExist(err) {
		t.Fatalf("the failed commands made an auth store: %v", err)
	}
}

// TestBuiltinProvidersAreTheRegisteredOnes keeps provider.Builtin, what
// the CLI alone knows of the providers, equal to what they register.
func TestBuiltinProvidersAreTheRegisteredOnes(t *testing.T) {
	if got := provider.Contracts(); !maps.Equal(got, provider.Builtin) {
		t.Fatalf("provider.Builtin = %v, the built-in providers register %v", provider.Builtin, got)
	}
}
