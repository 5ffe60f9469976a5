package host

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"strings"

	"github.com/wisp-dev/wisp/lattice"
)

// BuiltinLabels are the labels every host carries: wisp's own and
// wasmCloud's hostcore.* names (with Rust's arch and OS spellings, as
// wasmCloud writes them), so its manifests' constraints work unchanged.
func BuiltinLabels(engineName string) map[string]string {
	return map[string]string{
		"wisp.os":           runtime.GOOS,
		"wisp.arch":         runtime.GOARCH,
		"wisp.engine":       engineName,
		"wisp.version":      lattice.Version,
		"wisp.hostname":     hostname(),
		"hostcore.os":       rustOS(runtime.GOOS),
		"hostcore.arch":     rustArch(runtime.GOARCH),
		"hostcore.osfamily": osFamily(runtime.GOOS),
	}
}

// EnvLabels reads labels from WISP_LABEL_<key>=value variables in env
// (os.Environ's form); keys are lower-cased.
func EnvLabels(env []string) map[string]string {
	out := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "WISP_LABEL_") || len(k) == len("WISP_LABEL_") {
			continue
		}
		out[strings.ToLower(strings.TrimPrefix(k, "WISP_LABEL_"))] = v
	}
	return out
}

// ParseLabels parses k=v pairs as given to --label.
func ParseLabels(pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key=value", p)
		}
		out[k] = v
	}
	return out, nil
}

// mergeLabels layers label sets; later ones win, except that built-in
// labels cannot be overridden.
func mergeLabels(builtin map[string]string, extra ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range extra {
		maps.Copy(out, m)
	}
	maps.Copy(out, builtin)
	return out
}

func rustArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	case "riscv64":
		return "riscv64"
	}
	return goarch
}

func rustOS(goos string) string {
	if goos == "darwin" {
		return "macos"
	}
	return goos
}

func osFamily(goos string) string {
	switch goos {
	case "windows":
		return "windows"
	case "js", "wasip1":
		return "wasm"
	}
	return "unix"
}

// hostname is the machine's name, the built-in label wisp.hostname.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "wisp-host"
}
