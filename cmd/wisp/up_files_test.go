//go:build !wispcli

package main

import (
	"os"
	"slices"
	"testing"
)

// Where a host may read module files when --allow-file-dir is not given:
// the directory it started in when it runs its own server, nowhere when it
// joins a lattice or an edge site, and WISP_ALLOW_FILE_DIR over both.
func TestAllowedFileDirsDefaults(t *testing.T) {
	t.Setenv("WISP_ALLOW_FILE_DIR", "")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	a, b := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		name  string
		flags upFlags
		join  bool
		env   string
		want  []string
	}{
		{"own server", upFlags{}, false, "", []string{wd}},
		{"joins with --nats-url", upFlags{}, true, "", nil},
		{"leaf node", upFlags{leafURLs: []string{"nats://hub:7422"}}, false, "", nil},
		{"environment", upFlags{}, true, a + string(os.PathListSeparator) + b, []string{a, b}},
		{"flag over environment", upFlags{fileDirs: []string{b}}, false, a, []string{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WISP_ALLOW_FILE_DIR", tc.env)
			got, err := tc.flags.allowedFileDirs(tc.join)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("allowedFileDirs = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	file := a + "/file"
	os.WriteFile(file, nil, 0o644)
	f := upFlags{fileDirs: []string{file}}
	if _, err := f.allowedFileDirs(false); err == nil {
		t.Fatal("a file was accepted as --allow-file-dir")
	}
	f = upFlags{fileDirs: []string{a + "/built-later"}}
	if dirs, err := f.allowedFileDirs(false); err != nil || len(dirs) != 1 {
		t.Fatalf("a directory that does not exist yet: %q, %v", dirs, err)
	}
}
