package cachetrim_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/engine/internal/cachetrim"
)

func write(t *testing.T, path string, used time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, used, used); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// Entries unused for MaxAge go from the engines' folders, whatever version
// wrote them; what is recent stays, and so does everything else in the
// folder, old or not, which may be the user's.
func TestTrimRemovesOnlyOldEntriesOfTheEnginesFolders(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old, recent := now.Add(-cachetrim.MaxAge-time.Hour), now.Add(-cachetrim.MaxAge+time.Hour)
	gone := []string{"wazero-v1/aa", "wazero-v0.9/bb", "wasmtime-39/cc.cwasm", "wasmtime-39/.tmp-1"}
	kept := []string{"wazero-v1/recent", "wasmtime-39/recent.sum", "notes.txt", "photos/old.jpg", "wazero-v1/nested/deep"}
	for _, p := range gone {
		write(t, filepath.Join(dir, p), old)
	}
	write(t, filepath.Join(dir, kept[0]), recent)
	write(t, filepath.Join(dir, kept[1]), recent)
	for _, p := range kept[2:] {
		write(t, filepath.Join(dir, p), old)
	}
	cachetrim.Trim(dir, now, "wazero-", "wasmtime-")
	for _, p := range gone {
		if exists(filepath.Join(dir, p)) {
			t.Errorf("%s, unused for more than MaxAge, is still there", p)
		}
	}
	for _, p := range kept {
		if !exists(filepath.Join(dir, p)) {
			t.Errorf("%s was removed", p)
		}
	}
	if !exists(filepath.Join(dir, "wazero-v0.9")) {
		t.Error("an emptied folder was removed")
	}

	// Within a day of that trim, another does nothing.
	write(t, filepath.Join(dir, "wazero-v1/later"), old)
	cachetrim.Trim(dir, now.Add(cachetrim.Every-time.Minute), "wazero-")
	if !exists(filepath.Join(dir, "wazero-v1/later")) {
		t.Fatal("a trim within Every of the last one removed an entry")
	}
	cachetrim.Trim(dir, now.Add(cachetrim.Every+time.Minute), "wazero-")
	if exists(filepath.Join(dir, "wazero-v1/later")) {
		t.Fatal("a trim a day later left an old entry")
	}
}

// A hit marks its entry used, at most once an hour.
func TestTouchMarksAnEntryUsed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "entry")
	now := time.Now()
	write(t, p, now.Add(-30*time.Minute))
	cachetrim.Touch(p, now)
	if st, _ := os.Stat(p); now.Sub(st.ModTime()) < 29*time.Minute {
		t.Fatalf("touched within the hour: modified %s ago", now.Sub(st.ModTime()))
	}
	write(t, p, now.Add(-6*24*time.Hour))
	cachetrim.Touch(p, now)
	if st, _ := os.Stat(p); now.Sub(st.ModTime()) > time.Second {
		t.Fatalf("a hit on an entry unused for 6 days left it modified %s ago", now.Sub(st.ModTime()))
	}
	cachetrim.Touch(filepath.Join(t.TempDir(), "missing"), now) // nothing to mark: no panic, no file
}
