//go:build unix

package offheap_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wisp-dev/wisp/host/internal/offheap"
)

func file(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestReadGivesTheFileAndCloseUnmapsIt(t *testing.T) {
	want := bytes.Repeat([]byte("wisp"), 300_000) // not a multiple of a page
	b, err := offheap.Read(file(t, want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) || cap(b.Bytes()) != len(want) {
		t.Fatalf("read %d bytes (cap %d), want the file's %d", len(b.Bytes()), cap(b.Bytes()), len(want))
	}
	b.Close()
	b.Close() // a second Close does nothing
	if b.Bytes() != nil {
		t.Fatal("Bytes after Close is not nil")
	}
}

// The size comes from a stat; a file that is longer or shorter by the
// read (written meanwhile) is refused, for the caller to read it again.
// Files from half a huge page up are read into huge pages where the
// system has them: sizes around the 2 MiB boundaries read the same.
func TestReadGivesLargeFilesWhole(t *testing.T) {
	for _, n := range []int{1<<20 - 1, 1 << 20, 2<<20 - 1, 2 << 20, 2<<20 + 1, 5<<20 + 4097} {
		want := make([]byte, n)
		for k := range want {
			want[k] = byte(k*7 + k>>12)
		}
		b, err := offheap.Read(file(t, want), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) || cap(b.Bytes()) != n {
			t.Fatalf("%d bytes: read %d (cap %d) that differ", n, len(b.Bytes()), cap(b.Bytes()))
		}
		b.Close()
	}
}

func TestReadRefusesAFileThatChangedSinceItsStat(t *testing.T) {
	content := bytes.Repeat([]byte{7}, 10_000)
	for _, size := range []int64{9_999, 10_001, 1} {
		if _, err := offheap.Read(file(t, content), size); !errors.Is(err, offheap.ErrChanged) {
			t.Fatalf("size %d of a %d-byte file: err = %v, want ErrChanged", size, len(content), err)
		}
	}
	large := bytes.Repeat([]byte{7}, 3<<20)
	for _, size := range []int64{3<<20 - 1, 3<<20 + 1, 2 << 20} {
		if _, err := offheap.Read(file(t, large), size); !errors.Is(err, offheap.ErrChanged) {
			t.Fatalf("size %d of a %d-byte file: err = %v, want ErrChanged", size, len(large), err)
		}
	}
	if _, err := offheap.Read(file(t, nil), 0); !errors.Is(err, offheap.ErrUnsupported) {
		t.Fatalf("empty file: err = %v, want ErrUnsupported", err)
	}
}
