package tests

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// cacheHome is XDG_CACHE_HOME of every wisp process the tests run
// (testEnv): a host started without --cache-dir or --js-dir keeps its
// compiled code and its embedded server's JetStream store under the user's
// cache directory, which a test must not write. One folder serves the whole
// run, so that a module a test compiled is cached for the next, as it would
// be under a user's cache directory; it is removed when the run ends.
// Go's build cache stays where it was (GOCACHE is set to it before), or
// every `wisp build` of the run would start from an empty one.
var cacheHome string

func TestMain(m *testing.M) {
	if os.Getenv("GOCACHE") == "" {
		out, err := exec.Command("go", "env", "GOCACHE").Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tests: go env GOCACHE:", err)
			os.Exit(1)
		}
		os.Setenv("GOCACHE", strings.TrimSpace(string(out)))
	}
	d, err := os.MkdirTemp("", "wisp-tests-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: cache folder:", err)
		os.Exit(1)
	}
	cacheHome = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}
