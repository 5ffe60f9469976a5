// Package wasmbuild builds Go actors into waPC modules with the standard Go
// toolchain: GOOS=wasip1 GOARCH=wasm, -buildmode=c-shared (a WASI reactor).
package wasmbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Options tune a build. The zero value is a release build.
type Options struct {
	// Output is the .wasm path. Default: DIR/build/<base of DIR>.wasm.
	Output string
	// Stderr receives the compiler's messages; they are also quoted in the
	// returned error.
	Stderr io.Writer
}

// DefaultOutput is where Build writes the module of the actor in dir.
func DefaultOutput(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return filepath.Join(abs, "build", filepath.Base(abs)+".wasm")
}

// Build compiles the Go actor package in dir and returns the module's path.
func Build(ctx context.Context, dir string, opts Options) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("build %s: not a directory (give the actor's package directory)", dir)
	}
	out := opts.Output
	if out == "" {
		out = DefaultOutput(dir)
	}
	out, err = filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", dir, err)
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-buildmode=c-shared", "-trimpath",
		"-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var msgs bytes.Buffer
	cmd.Stdout = &msgs
	cmd.Stderr = &msgs
	if opts.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&msgs, opts.Stderr)
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", dir, err, strings.TrimSpace(msgs.String()))
	}
	return out, nil
}

// goTool finds the go command: the one on PATH, else the one that built
// this binary.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	//lint:ignore SA1019 the fallback is the GOROOT of the toolchain that built wisp, which is what is wanted when go is not on PATH.
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}
