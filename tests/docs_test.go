package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/internal/testwait"
)

// The README and every example's README are run as a reader runs them: each
// ```sh block, line by line, in order, on a copy of the repository, with a
// home directory of their own (so a fresh auth store, context and caches)
// and `wisp` and `nats` on the PATH. What a reader runs in a second terminal
// runs in the background here: every `wisp up` line (the session waits for
// "Ctrl-C to stop"), lines ending in '&', and lines a directive names. The
// ports a document uses are moved to free ones on this machine, in the
// commands and in the copy's examples/, so the run never touches a port
// anything else may hold; listeners on 0.0.0.0 move to 127.0.0.1, and paths
// under /tmp/ and /var/lib/ into the session's own directory. A block whose lines begin with "$ " shows output: only those
// lines run.
//
// An HTML comment right before a fence (invisible when the Markdown is
// rendered) says what a reader would know from the prose around it:
//
//	<!-- doc-test: skip: REASON -->          the block is not run, and why
//	<!-- doc-test: omit "TEXT": REASON -->   lines containing TEXT are not run, and why
//	<!-- doc-test: background "TEXT" -->     lines containing TEXT run in the background
//	<!-- doc-test: exit N "TEXT" -->         lines containing TEXT must exit N (the block documents a failure)
//	<!-- doc-test: before: COMMAND -->       runs first, as the prose before the block asks
//
// Every other line must exit 0 within three minutes.

// docPorts are the ports the documents use; each session moves each to a
// free one.
var docPorts = []string{"4222", "4223", "6222", "6223", "7422", "8080", "8081", "8088", "5000", "5683", "6379", "9464", "4318", "6060", "3030", "1883"}

func TestREADMERunsAsWritten(t *testing.T) {
	runDoc(t, "README.md")
}

func TestExamplesRunAsWritten(t *testing.T) {
	docs, _ := filepath.Glob("examples/*/README.md")
	if len(docs) == 0 {
		t.Fatal("no examples/*/README.md")
	}
	for _, doc := range docs {
		t.Run(filepath.Base(filepath.Dir(doc)), func(t *testing.T) { runDoc(t, doc) })
	}
}

// docBlock is one shell block of a document.
type docBlock struct {
	line       int      // of the opening fence
	directives []string // doc-test comments before it
	lines      []docLine
}

type docLine struct {
	n    int
	text string
}

var directiveRE = regexp.MustCompile(`^<!-- doc-test: (.*) -->$`)

// parseDoc reads the shell blocks of a Markdown file.
func parseDoc(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks     []docBlock
		cur        *docBlock
		directives []string
		pending    string
		pendingAt  int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur == nil {
			switch {
			case trimmed == "```sh" || trimmed == "```bash":
				cur = &docBlock{line: n, directives: directives}
				directives = nil
			case directiveRE.MatchString(trimmed):
				directives = append(directives, directiveRE.FindStringSubmatch(trimmed)[1])
			case trimmed != "":
				directives = nil
			}
			continue
		}
		if trimmed == "```" {
			blocks = append(blocks, *cur)
			cur = nil
			continue
		}
		if pending == "" {
			pendingAt = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		text := strings.TrimSpace(pending + trimmed)
		pending = ""
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cur.lines = append(cur.lines, docLine{n: pendingAt, text: text})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// Where a block shows a session, only its "$ " lines are commands.
	for i := range blocks {
		var prompts []docLine
		for _, l := range blocks[i].lines {
			if after, ok := strings.CutPrefix(l.text, "$ "); ok {
				prompts = append(prompts, docLine{n: l.n, text: after})
			}
		}
		if prompts != nil {
			blocks[i].lines = prompts
		}
	}
	return blocks
}

// docSession is one document's run: its copy of the repository, its
// environment, its ports and what it runs in the background.
type docSession struct {
	t     *testing.T
	doc   string
	dir   string // the copy of the repository: the working directory
	tmp   string // stands in for /tmp/
	env   []string
	subst *strings.Replacer
	bg    []*docProc
}

// docProc is a command running in the background, as in another terminal.
type docProc struct {
	where string
	text  string
	cmd   *exec.Cmd
	out   *syncBuffer
	done  chan struct{}
	err   error
}

func runDoc(t *testing.T, doc string) {
	t.Helper()
	wispBin := wisp(t) // skips under -short
	natsBin, err := exec.LookPath("nats")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the nats CLI is not installed: .ci/run installs it (go install github.com/nats-io/natscli/nats)")
		}
		t.Skip("the nats CLI is not installed (go install github.com/nats-io/natscli/nats@v0.5.0; bash .ci/run does)")
	}
	blocks := parseDoc(t, doc)
	if len(blocks) == 0 {
		t.Fatalf("%s has no shell blocks", doc)
	}
	s := newDocSession(t, doc, wispBin, natsBin)
	defer s.stopAll()
	for _, b := range blocks {
		s.runBlock(b)
	}
}

func newDocSession(t *testing.T, doc, wispBin, natsBin string) *docSession {
	root := t.TempDir()
	s := &docSession{t: t, doc: doc, dir: filepath.Join(root, "repo"), tmp: filepath.Join(root, "tmp")}
	home := filepath.Join(root, "home")
	bin := filepath.Join(root, "bin")
	for _, d := range []string{s.dir, s.tmp, home, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"wisp": wispBin, "nats": natsBin} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}

	// Listeners on every interface move to loopback, and system
	// directories into the session's.
	pairs := []string{"/tmp/", s.tmp + "/", "/var/lib/", s.tmp + "/var/lib/", "0.0.0.0", "127.0.0.1"}
	var ports []string
	for _, p := range docPorts {
		free := strconv.Itoa(freePort(t))
		pairs = append(pairs, p, free)
		ports = append(ports, p+"→"+free)
	}
	s.subst = strings.NewReplacer(pairs...)
	t.Logf("%s: ports %s", doc, strings.Join(ports, " "))
	s.copyRepo()

	// The Go caches stay the machine's (a new home would rebuild
	// everything); all else a reader's home holds starts empty.
	goenv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	g := strings.Split(strings.TrimSpace(string(goenv)), "\n")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "WISP_") || strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "NATS_") ||
			k == "HOME" || k == "DOCKER_CONFIG" || k == "PATH" || k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			continue
		}
		s.env = append(s.env, kv)
	}
	s.env = append(s.env, "HOME="+home, "GOCACHE="+g[0], "GOMODCACHE="+g[1], "GOPATH="+g[2],
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		// `wisp up` without --nats-port listens where the document's
		// default port moved.
		"WISP_NATS_PORT="+s.subst.Replace("4222"),
		// and the nats CLI's default server with it.
		"NATS_URL=nats://127.0.0.1:"+s.subst.Replace("4222"))
	return s
}

// copyRepo copies the repository's files (tracked, and new ones not
// ignored) into the session's directory, moving the ports and /tmp/ paths
// of the examples' files as the commands' are.
func (s *docSession) copyRepo() {
	t := s.t
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fi, err := os.Lstat(f)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(f, "examples/") && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".md")) {
			b = []byte(s.subst.Replace(string(b)))
		}
		dst := filepath.Join(s.dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// directive is what one block's comments say about line.
type directive struct {
	omit       string // the line's reason not to run
	background bool
	exit       int
}

var quotedRE = regexp.MustCompile(`^(omit|background|exit \d+) "([^"]+)"(?::\s*(.*))?$`)

func (s *docSession) directives(b docBlock) (skip string, before []string, forLine func(string) directive) {
	type rule struct {
		verb, text, why string
	}
	var rules []rule
	for _, d := range b.directives {
		switch {
		case strings.HasPrefix(d, "skip:"):
			skip = strings.TrimSpace(strings.TrimPrefix(d, "skip:"))
		case strings.HasPrefix(d, "before:"):
			before = append(before, strings.TrimSpace(strings.TrimPrefix(d, "before:")))
		case quotedRE.MatchString(d):
			m := quotedRE.FindStringSubmatch(d)
			rules = append(rules, rule{m[1], m[2], m[3]})
		default:
			s.t.Fatalf("%s:%d: unknown doc-test directive %q", s.doc, b.line, d)
		}
	}
	if strings.Contains(strings.Join(b.directives, "\n"), "skip:") && skip == "" {
		s.t.Fatalf("%s:%d: a skipped block says why", s.doc, b.line)
	}
	used := make([]bool, len(rules))
	forLine = func(text string) directive {
		d := directive{}
		for i, r := range rules {
			if !strings.Contains(text, r.text) {
				continue
			}
			used[i] = true
			switch {
			case r.verb == "omit":
				if r.why == "" {
					s.t.Fatalf("%s:%d: omit %q says why", s.doc, b.line, r.text)
				}
				d.omit = r.why
			case r.verb == "background":
				d.background = true
			default:
				d.exit, _ = strconv.Atoi(strings.TrimPrefix(r.verb, "exit "))
			}
		}
		return d
	}
	s.t.Cleanup(func() {
		if skip != "" || s.t.Failed() {
			return
		}
		for i, r := range rules {
			if !used[i] {
				s.t.Errorf("%s:%d: directive %s %q matches no line of the block", s.doc, b.line, r.verb, r.text)
			}
		}
	})
	return skip, before, forLine
}

func (s *docSession) runBlock(b docBlock) {
	t := s.t
	skip, before, forLine := s.directives(b)
	if skip != "" {
		t.Logf("%s:%d: not run: %s", s.doc, b.line, skip)
		return
	}
	for _, cmd := range before {
		s.runLine(fmt.Sprintf("%s:%d (before)", s.doc, b.line), cmd, directive{})
	}
	for _, l := range b.lines {
		d := forLine(l.text)
		if d.omit != "" {
			t.Logf("%s:%d: not run: %s: %s", s.doc, l.n, l.text, d.omit)
			continue
		}
		s.runLine(fmt.Sprintf("%s:%d", s.doc, l.n), l.text, d)
	}
}

// upLineRE matches a `wisp up` command line, however wisp is invoked.
var upLineRE = regexp.MustCompile(`(^|\s)(wisp|\./wisp|\./wisp-\S+|go run \./cmd/wisp) up(\s|$)`)

func (s *docSession) command(text string) *exec.Cmd {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", text)
	cmd.Dir = s.dir
	cmd.Env = s.env
	// Its own process group, so that what it leaves running in the
	// background is stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (s *docSession) runLine(where, text string, d directive) {
	t := s.t
	text = s.subst.Replace(text)
	up := upLineRE.MatchString(stripComment(text))
	trailingAmp := strings.HasSuffix(strings.TrimSpace(stripComment(text)), "&")
	if up || d.background || trailingAmp {
		if up {
			s.stopServerOn(text)
		}
		s.background(where, text, up)
		return
	}
	cmd := s.command(text)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	t.Logf("%s: $ %s", where, text)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		s.fail(where, text, out, "did not finish within 3 minutes")
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != d.exit {
		s.fail(where, text, out, fmt.Sprintf("exit %d, the document says %d", code, d.exit))
	}
}

// background starts text as a reader starts it in another terminal; a
// `wisp up` is waited for until it says it is up.
func (s *docSession) background(where, text string, up bool) {
	t := s.t
	cmd := s.command(text)
	p := &docProc{where: where, text: text, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	t.Logf("%s: $ %s   (in the background)", where, text)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	s.bg = append(s.bg, p)
	if !up {
		// A moment to fail at once, as a wrong flag would.
		select {
		case <-p.done:
			if p.err != nil {
				s.fail(where, text, p.out, fmt.Sprintf("stopped at once: %v", p.err))
			}
		case <-time.After(time.Second):
		}
		return
	}
	testwait.Eventually(t, 3*time.Minute, func() error {
		select {
		case <-p.done:
			s.fail(where, text, p.out, fmt.Sprintf("exited before it was up: %v", p.err))
		default:
		}
		if !strings.Contains(p.out.String(), "Ctrl-C to stop") {
			return fmt.Errorf("%s: not up yet", where)
		}
		return nil
	})
}

var natsPortRE = regexp.MustCompile(`--nats-port[ =](\d+)`)

// stopServerOn stops what a reader stops before starting a new `wisp up`
// with its own server on a port: the host already serving there and the
// hosts that joined it.
func (s *docSession) stopServerOn(text string) {
	if strings.Contains(text, "--nats-url") {
		return
	}
	port := s.subst.Replace("4222")
	if m := natsPortRE.FindStringSubmatch(text); m != nil {
		port = m[1]
	}
	for _, p := range s.bg {
		if !upLineRE.MatchString(stripComment(p.text)) {
			continue
		}
		own := !strings.Contains(p.text, "--nats-url")
		pp := s.subst.Replace("4222")
		if m := natsPortRE.FindStringSubmatch(p.text); m != nil {
			pp = m[1]
		}
		if (own && pp == port) || (!own && strings.Contains(p.text, ":"+port)) {
			s.stop(p)
		}
	}
}

// stop interrupts p as Ctrl-C does and waits for it to drain.
func (s *docSession) stop(p *docProc) {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (s *docSession) stopAll() {
	for i := len(s.bg) - 1; i >= 0; i-- {
		s.stop(s.bg[i])
	}
	if s.t.Failed() {
		for _, p := range s.bg {
			s.t.Logf("%s: %s (background) wrote:\n%s", p.where, p.text, tail(p.out.String(), 4000))
		}
	}
}

func (s *docSession) fail(where, text string, out *syncBuffer, why string) {
	s.t.Helper()
	s.t.Fatalf("%s: %s\n  %s; it wrote:\n%s", where, text, why, tail(out.String(), 4000))
}

// stripComment drops a trailing shell comment (" # ...") from a line.
func stripComment(text string) string {
	if i := strings.Index(text, " #"); i >= 0 {
		return text[:i]
	}
	return text
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
