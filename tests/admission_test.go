package tests

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/wisp-dev/wisp/internal/testwait"
	"github.com/wisp-dev/wisp/internal/testwasm"
	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/auth"
)

func init() {
	// Hosts started by these tests read module files from the repository
	// and from the tests' temporary directories; by default a host reads
	// only the directory it started in (the tests that check the
	// directories pass --allow-file-dir, which wins over this).
	if os.Getenv("WISP_ALLOW_FILE_DIR") == "" {
		os.Setenv("WISP_ALLOW_FILE_DIR", strings.Join([]string{testwasm.Root(), os.TempDir()}, string(os.PathListSeparator)))
	}
}

// procRSS is the resident memory of process pid, from /proc.
func procRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for process %d", pid)
	return 0
}

// procCPU is the CPU time process pid has used, from /proc (in clock
// ticks of 10 ms, as Linux reports them to user space).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: the fields start after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// guestFile writes the hand-written waPC guest (host/engine/testdata) into
// dir and returns its path. Its operation "echo" echoes.
func guestFile(t *testing.T, dir, wat string) string {
	t.Helper()
	p := filepath.Join(dir, strings.TrimSuffix(wat, ".wat")+".wasm")
	if err := os.WriteFile(p, testwasm.Wat(t, filepath.Join(testwasm.Root(), "host", "engine", "testdata", wat)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// admissionHost starts a host running the echoing guest and returns it, a
// client and its id.
func admissionHost(t *testing.T, guest string, extra ...string) (*hostProc, *lattice.Client, string) {
	t.Helper()
	h := startHost(t, append([]string{"--allow-unsigned"}, extra...)...)
	c, err := lattice.Connect(h.url, lattice.WithTimeout(30*time.Second), lattice.WithCredentials(credsOf(t, lattice.DefaultLattice, auth.AdminUser)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	hosts, err := c.Hosts(context.Background())
	if err != nil || len(hosts) != 1 {
		t.Fatalf("hosts = %v, %v", hosts, err)
	}
	if _, err := c.StartActor(context.Background(), hosts[0].ID, lattice.StartActorRequest{Ref: guest}); err != nil {
		t.Fatal(err)
	}
	stillServes(t, c)
	return h, c, hosts[0].ID
}

// stillServes checks that the guest started by admissionHost answers.
func stillServes(t *testing.T, c *lattice.Client) {
	t.Helper()
	out, err := c.Call(context.Background(), "guest", "echo", []byte("still serving"))
	if err != nil || string(out) != "still serving" {
		t.Fatalf("call the guest = %q, %v", out, err)
	}
}

// A start_actor message naming a file cannot take a host down or probe
// its files: /dev/zero, a FIFO, a sparse 1 GiB file and paths outside the
// allowed directories are refused with a clear error, quickly, without
// the host's memory growing, and the host keeps serving.
func TestHostRefusesModuleFilesItMustNotRead(t *testing.T) {
	dir := t.TempDir()
	guest := guestFile(t, dir, "guest.wat")
	h, c, id := admissionHost(t, guest, "--allow-file-dir", dir, "--allow-file-dir", "/dev")

	big := filepath.Join(dir, "big.wasm")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "pipe.wasm")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir() // exists, but not allowed
	os.WriteFile(filepath.Join(outside, "real.wasm"), []byte("\x00asm"), 0o644)
	link := filepath.Join(dir, "escape.wasm")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}

	pid := h.cmd.Process.Pid
	rssBefore := procRSS(t, pid)
	notAllowed := "not under a directory this host allows modules from (wisp up --allow-file-dir DIR"
	for _, tc := range []struct{ ref, want string }{
		{"/dev/zero", "not a regular file"},
		{fifo, "not a regular file"},
		{big, "1073741824 bytes, above this host's ceiling of 67108864 bytes per module (wisp up --max-module-size)"},
		{"/etc/passwd", notAllowed},
		{"/etc/no-such-file-for-wisp", notAllowed},
		{filepath.Join(outside, "real.wasm"), notAllowed},
		{filepath.Join(outside, "missing.wasm"), notAllowed},
		{filepath.Join(dir, "..", filepath.Base(outside), "real.wasm"), notAllowed},
		{link, notAllowed},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		begin := time.Now()
		_, err := c.StartActor(ctx, id, lattice.StartActorRequest{Ref: tc.ref})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("start %s = %v, want an error saying %q", tc.ref, err, tc.want)
		}
		t.Logf("%s: refused in %s: %v", tc.ref, time.Since(begin).Round(time.Millisecond), err)
		if took := time.Since(begin); took > 10*time.Second {
			t.Fatalf("start %s took %s to be refused", tc.ref, took)
		}
	}
	// An existing file outside and a missing one get the same answer.
	_, errReal := c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: filepath.Join(outside, "real.wasm")})
	_, errMissing := c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: filepath.Join(outside, "missing.wasm")})
	if a, b := strings.ReplaceAll(errReal.Error(), "real.wasm", "X"), strings.ReplaceAll(errMissing.Error(), "missing.wasm", "X"); a != b {
		t.Fatalf("an existing file and a missing one outside the allowed directories are told apart:\n%s\n%s", a, b)
	}

	stillServes(t, c)
	rssAfter := procRSS(t, pid)
	t.Logf("host RSS: %d MB before the refused starts, %d MB after", rssBefore>>20, rssAfter>>20)
	if rssAfter-rssBefore > 64<<20 {
		t.Fatalf("host RSS grew from %d MB to %d MB refusing files", rssBefore>>20, rssAfter>>20)
	}
}

// Asking a host for a billion instances, by a start or by a scale, is
// refused at once with the ceiling and the flag that raises it; the host's
// memory does not move and it keeps serving.
func TestHostRefusesABillionInstances(t *testing.T) {
	dir := t.TempDir()
	h, c, id := admissionHost(t, guestFile(t, dir, "guest.wat"), "--max-instances", "50", "--max-host-instances", "60")
	pid := h.cmd.Process.Pid
	rssBefore, cpuBefore := procRSS(t, pid), procCPU(t, pid)

	_, errOut, code := run(t, h.url, "scale", "actor", "guest", "1000000000")
	if code == 0 || !strings.Contains(errOut, "1000000000 instances: above this host's ceiling of 50 per start or scale (wisp up --max-instances)") {
		t.Fatalf("scale to 1e9: exit %d, %s", code, errOut)
	}
	_, err := c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: guestFile(t, dir, "start_runs.wat"), Count: 1_000_000_000})
	if err == nil || !strings.Contains(err.Error(), "(wisp up --max-instances)") {
		t.Fatalf("start with 1e9 instances = %v", err)
	}
	// Within the per-request ceiling but past the host's total.
	if _, err := c.ScaleActor(context.Background(), id, "guest", 50); err != nil {
		t.Fatal(err)
	}
	_, err = c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: guestFile(t, dir, "start_runs.wat"), Count: 20})
	if err == nil || !strings.Contains(err.Error(), "the host would run 70, above this host's ceiling of 60 instances in all (wisp up --max-host-instances)") {
		t.Fatalf("start past the host's total = %v", err)
	}
	// Limits above the host's are refused too.
	_, err = c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: guestFile(t, dir, "start_runs.wat"),
		Limits: lattice.ActorLimits{MaxMemoryPages: 1 << 20}})
	if err == nil || !strings.Contains(err.Error(), "max_memory_pages 1048576 is above this host's ceiling of 1024 pages (wisp up --max-memory-pages)") {
		t.Fatalf("start asking for 64 GiB of memory = %v", err)
	}
	_, err = c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: guestFile(t, dir, "start_runs.wat"),
		Limits: lattice.ActorLimits{CallTimeoutMS: 3_600_000}})
	if err == nil || !strings.Contains(err.Error(), "(wisp up --call-timeout)") {
		t.Fatalf("start asking for an hour per call = %v", err)
	}

	stillServes(t, c)
	if _, err := c.ScaleActor(context.Background(), id, "guest", 1); err != nil {
		t.Fatal(err)
	}
	rssAfter, cpuAfter := procRSS(t, pid), procCPU(t, pid)
	t.Logf("host RSS %d MB -> %d MB, CPU used %s", rssBefore>>20, rssAfter>>20, cpuAfter-cpuBefore)
	if rssAfter-rssBefore > 64<<20 {
		t.Fatalf("host RSS grew from %d MB to %d MB", rssBefore>>20, rssAfter>>20)
	}
	if cpuAfter-cpuBefore > 10*time.Second {
		t.Fatalf("host used %s of CPU refusing", cpuAfter-cpuBefore)
	}
}

// A manifest asking for a billion replicas is refused by `wisp app
// validate` and `wisp app deploy` before any host is asked for anything.
func TestManifestWithABillionReplicasIsRefused(t *testing.T) {
	dir := t.TempDir()
	guest := guestFile(t, dir, "guest.wat")
	h, c, _ := admissionHost(t, guest)
	pid := h.cmd.Process.Pid
	rssBefore := procRSS(t, pid)
	manifest := filepath.Join(dir, "billion.yaml")
	os.WriteFile(manifest, []byte(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: billion}
spec:
  components:
    - name: many
      type: actor
      properties: {image: "file://`+guestFile(t, dir, "start_runs.wat")+`"}
      traits:
        - type: spreadscaler
          properties: {replicas: 1000000000}
`), 0o644)
	want := "billion.yaml:10: component \"many\": trait spreadscaler: replicas: 1000000000: above the ceiling of 10000 replicas per component"
	for _, verb := range []string{"validate", "deploy"} {
		_, errOut, code := run(t, h.url, "app", verb, manifest)
		if code != 7 || !strings.Contains(errOut, want) {
			t.Fatalf("app %s: exit %d, %s", verb, code, errOut)
		}
	}
	stillServes(t, c)
	if rssAfter := procRSS(t, pid); rssAfter-rssBefore > 64<<20 {
		t.Fatalf("host RSS grew from %d MB to %d MB", rssBefore>>20, rssAfter>>20)
	}
}

// wedgedHost is a plain NATS responder posing as a host labelled
// zone=wedged: it answers pings and inventories (nothing runs) and
// accepts every start_actor, then never reports an outcome. It returns
// how many starts it accepted. It answers on a connection of its own,
// with the credentials of a host (a wedged real host has them too).
func wedgedHost(t *testing.T, url string) *atomic.Int64 {
	t.Helper()
	nc := natsAs(t, url, auth.HostUser) // a fake host needs a host's credentials
	kp, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := kp.PublicKey()
	sum := lattice.HostSummary{ID: id, Name: "wedged", Lattice: lattice.DefaultLattice, Labels: map[string]string{"zone": "wedged"}, StartedAt: time.Now()}
	reply := func(m *nats.Msg, v any) {
		b, _ := json.Marshal(v)
		m.Respond(b)
	}
	var starts atomic.Int64
	for subject, fn := range map[string]nats.MsgHandler{
		lattice.PingSubject(lattice.DefaultLattice): func(m *nats.Msg) { reply(m, sum) },
		lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbInventory): func(m *nats.Msg) {
			reply(m, lattice.HostInventory{Ack: lattice.Ack{Accepted: true}, Host: sum, Actors: []lattice.ActorDescription{}})
		},
		lattice.HostSubject(lattice.DefaultLattice, id, lattice.VerbStartActor): func(m *nats.Msg) {
			starts.Add(1)
			reply(m, lattice.Ack{Accepted: true}) // and nothing more, ever
		},
	} {
		if _, err := nc.Subscribe(subject, fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &starts
}

// While a host that accepted a start never reports it, the reconciler of
// a real host deploys another application in seconds, and `wisp app
// status` shows no placement on the wedged host.
func TestWedgedHostDoesNotStallOtherApps(t *testing.T) {
	dir := t.TempDir()
	guest := guestFile(t, dir, "guest.wat")
	h, c, _ := admissionHost(t, guest, "--label", "zone=good")
	starts := wedgedHost(t, h.url)
	pid := h.cmd.Process.Pid
	cpuBefore := procCPU(t, pid)
	manifest := func(name, zone string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(`apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: `+name+`}
spec:
  components:
    - name: `+name+`
      type: actor
      properties: {image: "file://`+guestFile(t, dir, "start_runs.wat")+`"}
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
            spread: [{name: z, requirements: {zone: `+zone+`}}]
`), 0o644)
		return p
	}
	mustRun(t, h.url, "app", "deploy", manifest("stuck", "wedged"))
	testwait.Eventually(t, 30*time.Second, testwait.Holds("the reconciler to ask the wedged host to start the actor", func() bool { return starts.Load() > 0 }))
	begin := time.Now()
	mustRun(t, h.url, "app", "deploy", manifest("other", "good"), "--wait", "30s")
	took := time.Since(begin)
	t.Logf("another app deployed in %s while a start hung on the wedged host", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Fatalf("the other app took %s to deploy", took)
	}
	st := appStatus(t, h.url, "stuck")
	if st.Phase == app.PhaseDeployed || st.Components[0].Running != 0 || len(st.Components[0].Hosts) != 0 {
		t.Fatalf("status of the wedged app shows what no inventory confirms: %+v", st)
	}
	stillServes(t, c)
	cpu := procCPU(t, pid) - cpuBefore
	t.Logf("host CPU while waiting on the wedged host: %s", cpu)
	if cpu > time.Duration(float64(time.Since(begin))*0.5) {
		t.Fatalf("host used %s of CPU in %s", cpu, time.Since(begin))
	}
}

// A module whose start function loops forever fails to start at the call
// timeout on every engine, `wisp start actor` says why, the host's CPU goes
// back to idle and it keeps serving.
func TestLoopingStartFunctionFailsAtTheCallTimeout(t *testing.T) {
	engines := [][]string{{"--engine-mode", "compiler"}, {"--engine-mode", "interpreter"}}
	if strings.Contains(buildTags, "wasmtime") {
		engines = append(engines, []string{"--engine", "wasmtime"})
	}
	for _, engine := range engines {
		t.Run(strings.Join(engine, "="), func(t *testing.T) {
			dir := t.TempDir()
			h, c, id := admissionHost(t, guestFile(t, dir, "guest.wat"), append(engine, "--call-timeout", "2s")...)
			pid := h.cmd.Process.Pid
			for _, wat := range []string{"start_loop.wat", "init_loop.wat"} {
				begin := time.Now()
				_, errOut, code := run(t, h.url, "start", "actor", guestFile(t, dir, wat), "--host", id)
				took := time.Since(begin)
				if code == 0 || !strings.Contains(errOut, "module start function ran past 2s") {
					t.Fatalf("start %s: exit %d, %s", wat, code, errOut)
				}
				if took > 30*time.Second {
					t.Fatalf("start %s took %s to fail", wat, took)
				}
				// Nothing of it keeps running: over two seconds the host
				// uses far less than a core.
				before := procCPU(t, pid)
				time.Sleep(2 * time.Second)
				cpu := procCPU(t, pid) - before
				t.Logf("%s: failed in %s; host CPU in the 2 s after: %s", wat, took.Round(time.Millisecond), cpu)
				if cpu > time.Second {
					t.Fatalf("host used %s of CPU in the 2 s after the start failed: a guest still spins", cpu)
				}
				if _, errOut, _ := run(t, h.url, "stop", "actor", strings.TrimSuffix(wat, ".wat"), "--host", id); strings.Contains(errOut, "still starting") {
					t.Fatalf("stop after the failed start: %s", errOut)
				}
			}
			stillServes(t, c)
		})
	}
}

// gzipBomb is a gzipped tar archive of one entry, name, of size bytes of
// zeros, made without compressing them all: deflate's output for a MiB of
// zeros after a MiB of zeros is the same every time, so it is repeated.
// The gzip trailer is left off; a reader within its limits never gets
// there.
func gzipBomb(t *testing.T, name string, size int64) []byte {
	t.Helper()
	var hdr bytes.Buffer
	tw := tar.NewWriter(&hdr)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	fw, _ := flate.NewWriter(&out, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	fw.Write(hdr.Bytes()[:512])
	fw.Write(zeros)
	fw.Flush()
	mark := out.Len()
	fw.Write(zeros)
	fw.Flush()
	chunk := append([]byte(nil), out.Bytes()[mark:]...)
	for n := int64(2 << 20); n < size; n += 1 << 20 {
		out.Write(chunk)
	}
	return out.Bytes()
}

// pushLayer pushes an artifact of one layer to a plain-HTTP registry.
func pushLayer(t *testing.T, ref, mediaType string, layer []byte) {
	t.Helper()
	ctx := context.Background()
	name, tag, _ := strings.Cut(ref, ":")
	if i := strings.LastIndexByte(ref, ':'); i > strings.IndexByte(ref, '/') {
		name, tag = ref[:i], ref[i+1:]
	}
	repo, err := remote.NewRepository(name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	config := []byte("{}")
	cd := content.NewDescriptorFromBytes("application/vnd.oci.image.config.v1+json", config)
	ld := content.NewDescriptorFromBytes(mediaType, layer)
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cd, config}, {ld, layer}} {
		if err := repo.Push(ctx, b.d, bytes.NewReader(b.b)); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	if err := repo.PushReference(ctx, md, bytes.NewReader(m), tag); err != nil {
		t.Fatal(err)
	}
}

// A tag in a real registry whose layer is 4 MB of gzip expanding to 4 GiB
// is refused by a host at almost no CPU, and the host keeps serving.
func TestHostRefusesGzipBombLayer(t *testing.T) {
	reg := startRegistry(t, "", "")
	dir := t.TempDir()
	h, c, id := admissionHost(t, guestFile(t, dir, "guest.wat"))
	for _, name := range []string{"zeros.bin", "bomb.wasm"} {
		pushLayer(t, reg.addr+"/bomb/"+strings.TrimSuffix(name, ".wasm")+":1", "application/vnd.oci.image.layer.v1.tar+gzip", gzipBomb(t, name, 4<<30))
	}
	pid := h.cmd.Process.Pid
	rssBefore := procRSS(t, pid)
	for _, tc := range []struct{ ref, want string }{
		{reg.addr + "/bomb/zeros.bin:1", `holds "zeros.bin", which is not a .wasm file`},
		{reg.addr + "/bomb/bomb:1", "is 4294967296 bytes, the limit is 67108864 (--max-layer-size)"},
	} {
		before := procCPU(t, pid)
		_, err := c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: tc.ref})
		cpu := procCPU(t, pid) - before
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("start %s = %v, want %q", tc.ref, err, tc.want)
		}
		t.Logf("%s: refused, host CPU %s: %v", tc.ref, cpu, err)
		if cpu > 2*time.Second {
			t.Fatalf("the host spent %s of CPU refusing %s", cpu, tc.ref)
		}
	}
	stillServes(t, c)
	rssAfter := procRSS(t, pid)
	t.Logf("host RSS %d MB -> %d MB", rssBefore>>20, rssAfter>>20)
	if rssAfter-rssBefore > 24<<20 {
		t.Fatalf("host RSS grew from %d MB to %d MB", rssBefore>>20, rssAfter>>20)
	}
}

// After a scale-down the closed instances' memory goes back to the
// system: the host's RSS returns near where it was before the scale-up.
// Snapshots are off: 40 instances from a snapshot take too little before
// their first calls for RSS to measure anything (the engine's
// TestSnapshotInstanceMemoryIsUnmappedOnClose covers those).
func TestScaleDownGivesMemoryBack(t *testing.T) {
	dir := t.TempDir()
	h, c, id := admissionHost(t, guestFile(t, dir, "guest.wat"), "--max-instances", "64", "--no-snapshot")
	echo := testwasm.GoActorFile(t, "actors/echo")
	if _, err := c.StartActor(context.Background(), id, lattice.StartActorRequest{Ref: echo, Name: "echo"}); err != nil {
		t.Fatal(err)
	}
	pid := h.cmd.Process.Pid
	settle := func() int64 { time.Sleep(time.Second); return procRSS(t, pid) }
	before := settle()
	if _, err := c.ScaleActor(context.Background(), id, "echo", 40); err != nil {
		t.Fatal(err)
	}
	peak := settle()
	if _, err := c.ScaleActor(context.Background(), id, "echo", 1); err != nil {
		t.Fatal(err)
	}
	after := settle()
	t.Logf("host RSS with 1 echo instance %d MB, with 40 %d MB, back at 1 %d MB", before>>20, peak>>20, after>>20)
	if peak-before < 40<<20 {
		t.Fatalf("40 instances took only %d MB: the test measures nothing", (peak-before)>>20)
	}
	if kept := after - before; kept > (peak-before)/4 {
		t.Fatalf("after the scale-down the host keeps %d MB of the %d MB the instances took", kept>>20, (peak-before)>>20)
	}
	if out, err := c.Call(context.Background(), "echo", "Echo.Reply", []byte("hi")); err != nil || string(out) != "hi" {
		t.Fatalf("echo after the scale-down = %q, %v", out, err)
	}
	stillServes(t, c)
}

// A host with its own server reads module files only from the directory
// `wisp up` started in (here the repository's root) by default.
func TestHostReadsFilesFromItsStartDirectoryByDefault(t *testing.T) {
	h := startHostEnv(t, []string{"WISP_ALLOW_FILE_DIR="}, "--allow-unsigned")
	repoDir, err := os.MkdirTemp(testwasm.Root(), ".test-files-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(repoDir) })
	mustRun(t, h.url, "start", "actor", guestFile(t, repoDir, "guest.wat"))
	if out := mustRun(t, h.url, "call", "guest", "echo", "from the repository"); out != "from the repository\n" {
		t.Fatalf("call printed %q", out)
	}
	outside := guestFile(t, t.TempDir(), "start_runs.wat")
	_, errOut, code := run(t, h.url, "start", "actor", outside)
	// The host declines the auction for a file it may not read, and says why.
	if code != 3 || !strings.Contains(errOut, "reads no module file there (wisp up --allow-file-dir)") {
		t.Fatalf("start from outside the start directory: exit %d, %s", code, errOut)
	}
}
