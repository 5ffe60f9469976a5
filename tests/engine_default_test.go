//go:build !wasmtime

package tests

import (
	"strings"
	"testing"
)

// buildTags are the tags the wisp binary under test is built with.
const buildTags = ""

// TestUpSaysWasmtimeIsNotCompiledIn: a binary built without -tags wasmtime
// refuses --engine wasmtime with a message that says how to get it.
func TestUpSaysWasmtimeIsNotCompiledIn(t *testing.T) {
	_, errOut, code := run(t, "", "up", "--engine", "wasmtime", "--nats-port", "-1", "--cache-dir", t.TempDir(), "--js-dir", t.TempDir())
	if code == 0 || !strings.Contains(errOut, "not compiled in") || !strings.Contains(errOut, "rebuild with -tags wasmtime") {
		t.Fatalf("up --engine wasmtime: exit %d, %q; want a failure saying the engine is not compiled in", code, errOut)
	}
}
