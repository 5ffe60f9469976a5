// Package cachetrim keeps a compiled-code cache folder from growing without
// bound, as Go's build cache does: an entry not used for MaxAge is removed,
// and the folder is looked through at most once per Every.
//
// The folder holds wazero's compilation cache (its files, named by wazero),
// the prepared modules (package prepared) and Wasmtime's compiled code, each
// in a subfolder named for the version that wrote it; a host upgraded to
// another version leaves the old subfolders unread. An entry's last use is
// the later of its modification and access times. The prepared modules and
// Wasmtime's code are marked used on every cache hit (Touch, at most once an
// hour per entry). wazero's files are not wisp's to mark: they count as used
// by their access time, which Linux updates about once a day by default
// (relatime). Where access times are not kept (a file system mounted
// noatime, or a system other than Linux, where they are not read) wazero's
// entries are removed MaxAge after they were written, used or not, and
// compiled again on the next start that needs them.
package cachetrim

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxAge is how long an entry stays without being used.
	MaxAge = 5 * 24 * time.Hour
	// Every is how often a folder is looked through at most.
	Every = 24 * time.Hour
	// touchEvery is how often Touch updates an entry's time at most.
	touchEvery = time.Hour
)

// stamp is the file in the folder that records when it was last trimmed.
const stamp = "trim.txt"

// Touch marks the file at path used at now, unless it was marked within the
// last hour. It is best effort: a file that cannot be marked ages.
func Touch(path string, now time.Time) {
	st, err := os.Stat(path)
	if err != nil || now.Sub(st.ModTime()) < touchEvery {
		return
	}
	os.Chtimes(path, now, now)
}

// Trim removes, from the subfolders of dir whose names begin with one of
// prefixes, the files not used within MaxAge of now, unless dir was trimmed
// within Every. Nothing else in dir is looked at: a cache folder may be one
// the user named (wisp up --cache-dir), with other things in it. It is best
// effort: what cannot be read or removed stays. Folders stay, empty or not:
// an engine may be about to write into one.
func Trim(dir string, now time.Time, prefixes ...string) {
	mark := filepath.Join(dir, stamp)
	if b, err := os.ReadFile(mark); err == nil {
		if last, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && now.Sub(time.Unix(last, 0)) < Every {
			return
		}
	}
	// Stamped first: hosts that share the folder and start together do
	// not all walk it.
	if err := os.WriteFile(mark, []byte(strconv.FormatInt(now.Unix(), 10)+"\n"), 0o600); err != nil {
		return
	}
	folders, _ := os.ReadDir(dir)
	for _, folder := range folders {
		if !folder.IsDir() || !hasPrefix(folder.Name(), prefixes) {
			continue
		}
		sub := filepath.Join(dir, folder.Name())
		files, _ := os.ReadDir(sub)
		for _, f := range files {
			info, err := f.Info()
			if err == nil && info.Mode().IsRegular() && now.Sub(lastUse(info)) > MaxAge {
				os.Remove(filepath.Join(sub, f.Name()))
			}
		}
	}
}

func hasPrefix(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
