package prepared

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wisp-dev/wisp/host/engine/internal/interrupt"
	"github.com/wisp-dev/wisp/host/engine/internal/snapshot"
	"github.com/wisp-dev/wisp/internal/testwasm"
)

// preparedModule is what the engine makes of a module written elsewhere.
func preparedModule(t *testing.T) ([32]byte, Module) {
	t.Helper()
	orig := testwasm.Conformance(t, "wapc/hello_rust.wasm")
	w, err := interrupt.Instrument(orig)
	if err != nil {
		t.Fatal(err)
	}
	w, plan, err := snapshot.Prepare(w)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Refused != "" || len(plan.Data) == 0 || len(plan.Globals) == 0 {
		t.Fatalf("plan %+v: want a module with data segments and globals to keep", plan)
	}
	return sha256.Sum256(orig), Module{Wasm: w, Plan: plan}
}

func TestAnEntryComesBackAsItWasStored(t *testing.T) {
	sum, m := preparedModule(t)
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(sum, "snapshot"); ok {
		t.Fatal("Get on an empty cache found an entry")
	}
	if err := c.Put(sum, "snapshot", m); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Get(sum, "snapshot")
	if !ok || !reflect.DeepEqual(got, m) {
		t.Fatalf("Get = %v, equal %v: want what was stored", ok, reflect.DeepEqual(got, m))
	}
	if _, ok := c.Get(sum, "plain"); ok {
		t.Fatal("another variant of the same module was found")
	}
	refused := Module{Wasm: m.Wasm, Plan: snapshot.Plan{Refused: "its code writes tables"}}
	if err := c.Put(sum, "plain", refused); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Get(sum, "plain"); !ok || got.Plan.Refused != refused.Plan.Refused || got.Plan.Data != nil || !bytes.Equal(got.Wasm, m.Wasm) {
		t.Fatalf("Get(plain) = %+v, %v", got.Plan, ok)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(c.Dir(), "*.tmp-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

// A hit marks the entry used, so that the cache's trim (package cachetrim)
// keeps what hosts still start.
func TestAHitMarksTheEntryUsed(t *testing.T) {
	sum, m := preparedModule(t)
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(sum, "snapshot", m); err != nil {
		t.Fatal(err)
	}
	path := c.path(sum, "snapshot")
	long := time.Now().Add(-10 * 24 * time.Hour)
	if err := os.Chtimes(path, long, long); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(sum, "snapshot"); !ok {
		t.Fatal("no entry")
	}
	if st, err := os.Stat(path); err != nil || time.Since(st.ModTime()) > time.Minute {
		t.Fatalf("after a hit the entry was last modified %v ago (%v)", time.Since(st.ModTime()), err)
	}
}

// A damaged entry is a miss, never a module other than the one stored:
// the engine then prepares the module again.
func TestADamagedEntryIsAMiss(t *testing.T) {
	sum, m := preparedModule(t)
	b, err := encode(m)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(b)
	flipped[len(flipped)/2] ^= 0x40
	// A well-formed checksum over counts that lie: no huge allocation,
	// no panic.
	lie := []byte(magic + "\x00\x00\x00\x00")
	// (a 4-byte module, no refusal, no globals, 2³¹-1 segments)
	for _, v := range []uint32{4, 0x6d736100, 0, 0, 0x7fffffff} {
		lie = binary.LittleEndian.AppendUint32(lie, v)
	}
	for name, entry := range map[string][]byte{
		"one bit flipped":    flipped,
		"cut short":          b[:len(b)-100],
		"only the header":    b[:len(magic)+4],
		"empty":              nil,
		"another format":     append([]byte("wispprev"), b[len(magic):]...),
		"a trailing byte":    append(bytes.Clone(b), 0),
		"counts beyond data": withChecksum(lie),
	} {
		if _, ok := decode(entry); ok {
			t.Errorf("%s: decoded", name)
		}
	}
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path(sum, "snapshot"), flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(sum, "snapshot"); ok {
		t.Fatal("a damaged file was read as an entry")
	}
}

func withChecksum(b []byte) []byte {
	out := bytes.Clone(b)
	binary.BigEndian.PutUint32(out[len(magic):], crc(out[len(magic)+4:]))
	return out
}

func TestOpenRemovesOtherBuildsFolders(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, FolderPrefix+"0123456789abcdef")
	other := filepath.Join(dir, "wazero-v1.12.0-amd64-linux") // wazero's own cache
	for _, d := range []string{old, other} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an older build's folder is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("wazero's cache folder went: %v", err)
	}
	if filepath.Base(c.Dir()) != FolderPrefix+Digest() {
		t.Errorf("cache folder %s, want one named for this build's rewriters", c.Dir())
	}
}

func TestTheDigestFollowsEveryByteOfTheRewriters(t *testing.T) {
	a := fstest.MapFS{"interrupt.go": {Data: []byte("package interrupt // v1")}}
	b := fstest.MapFS{"interrupt.go": {Data: []byte("package interrupt // v2")}}
	renamed := fstest.MapFS{"other.go": {Data: []byte("package interrupt // v1")}}
	if digest(a) == digest(b) || digest(a) == digest(renamed) {
		t.Fatal("different sources, same digest")
	}
	if digest(a) != digest(fstest.MapFS{"interrupt.go": {Data: []byte("package interrupt // v1")}}) {
		t.Fatal("the same sources, different digests")
	}
	if len(Digest()) != 16 {
		t.Fatalf("Digest() = %q", Digest())
	}
}
