//go:build !wispcli

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// allowedFileDirs is where the host may read module files: --allow-file-dir,
// else WISP_ALLOW_FILE_DIR (a list, like PATH), else the directory wisp up
// started in for a host with its own server and none for one that joins a
// lattice (--nats-url) or an edge site (--leaf-url), whose files a remote
// requester has no business reading.
func (f *upFlags) allowedFileDirs(join bool) ([]string, error) {
	dirs := f.fileDirs
	if len(dirs) == 0 {
		if env := os.Getenv("WISP_ALLOW_FILE_DIR"); env != "" {
			dirs = filepath.SplitList(env)
		}
	}
	if len(dirs) == 0 && !join && len(f.leafURLs) == 0 {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("--allow-file-dir: the current directory: %w", err)
		}
		dirs = []string{wd}
	}
	// A directory may not exist yet (actors built after the host starts);
	// one that exists must be a directory.
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && !st.IsDir() {
			return nil, usageError{fmt.Errorf("--allow-file-dir %s: not a directory", d)}
		}
	}
	return dirs, nil
}
