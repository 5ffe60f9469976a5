// Package testwasm gives tests the Wasm modules they run: Go actors built
// from source, hand-written .wat guests assembled with wat2wasm, and the
// conformance modules written by other people (testdata/conformance).
package testwasm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/wisp-dev/wisp/internal/wasmbuild"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// GoActor builds the Go actor in dir (relative to the repository root) once
// per test process and returns its module.
//
// It runs the Go toolchain, so under -short the test is skipped.
func GoActor(t testing.TB, dir string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: builds the Go actor %s with the Go toolchain", dir)
	}
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[dir]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), filepath.Base(dir)+".wasm")
	if _, err := wasmbuild.Build(context.Background(), filepath.Join(Root(), dir), wasmbuild.Options{Output: out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[dir] = b
	return b
}

// GoActorFile builds the Go actor in dir and returns the path of its module,
// in a directory that lives as long as the test.
func GoActorFile(t testing.TB, dir string) string {
	t.Helper()
	b := GoActor(t, dir)
	p := filepath.Join(t.TempDir(), filepath.Base(dir)+".wasm")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Wat assembles the .wat file at path (relative to the caller's package
// directory) with wabt's wat2wasm.
//
// It runs wat2wasm, so under -short the test is skipped.
func Wat(t testing.TB, path string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: assembles %s with wat2wasm", path)
	}
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm not found: install Debian's wabt package (.ci/run does)")
	}
	out := filepath.Join(t.TempDir(), "guest.wasm")
	if msg, err := exec.Command(tool, path, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", path, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Conformance reads a module from testdata/conformance, such as
// "wapc/hello_go.wasm".
func Conformance(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(), "testdata", "conformance", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Versioned assembles a waPC actor that answers every call with the text
// version, and, when failEvery is above 0, fails every failEvery-th call
// of each instance with the error "injected failure". Upgrade tests tell
// versions apart by its answers.
func Versioned(t testing.TB, version string, failEvery int) []byte {
	t.Helper()
	return versioned(t, version, failEvery, 0)
}

// VersionedSlow is Versioned, failing no call, that first counts to spin
// (in millions) on every call: a version slower than the others.
func VersionedSlow(t testing.TB, version string, spin int) []byte {
	t.Helper()
	return versioned(t, version, 0, spin)
}

func versioned(t testing.TB, version string, failEvery, spin int) []byte {
	t.Helper()
	fail := ""
	if failEvery > 0 {
		fail = fmt.Sprintf(`
    (if (i32.eqz (i32.rem_u (global.get $n) (i32.const %d)))
      (then
        (call $guest_error (i32.const 1024) (i32.const 16))
        (return (i32.const 0))))`, failEvery)
	}
	if spin > 0 {
		fail += fmt.Sprintf(`
    (local.set $i (i32.const 0))
    (loop $spin
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spin (i32.lt_u (local.get $i) (i32.const %d))))`, spin*1_000_000)
	}
	src := fmt.Sprintf(`(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) %q)
  (data (i32.const 1024) "injected failure")
  (global $n (mut i32) (i32.const 0))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $i i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))%s
    (call $guest_response (i32.const 0) (i32.const %d))
    (i32.const 1)))
`, version, fail, len(version))
	p := filepath.Join(t.TempDir(), "versioned.wat")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return Wat(t, p)
}
