//go:build wasmtime

package tests

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// buildTags are the tags the wisp binary under test is built with.
const buildTags = "wasmtime"

// TestUpWithEngineWasmtime: `wisp up --engine wasmtime` serves actors, and
// its wisp.engine label says so.
func TestUpWithEngineWasmtime(t *testing.T) {
	h := startHost(t, "--engine", "wasmtime")
	var hosts []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, h.url, "get", "hosts", "-o", "json")), &hosts); err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Labels["wisp.engine"] != "wasmtime/compiler" {
		t.Fatalf("hosts = %+v, want one with wisp.engine=wasmtime/compiler", hosts)
	}
	module := filepath.Join(t.TempDir(), "echo.wasm")
	mustRun(t, h.url, "build", "./actors/echo", "-o", module)
	mustRun(t, h.url, "start", "actor", module, "--count", "2")
	if out := mustRun(t, h.url, "call", "echo", "Echo.Reply", "hello"); out != "hello\n" {
		t.Fatalf("call printed %q", out)
	}
	if out := mustRun(t, h.url, "call", "echo", "Echo.Reply", strings.Repeat("x", 1000)); out != strings.Repeat("x", 1000)+"\n" {
		t.Fatalf("call printed %d bytes", len(out))
	}
}
