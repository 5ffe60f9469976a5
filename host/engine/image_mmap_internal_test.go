//go:build linux && (amd64 || arm64)

package engine

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestImageLeavesZeroPagesAsHoles: a snapshot's pages of zeros take no
// memory in its memfd, and an instance mapping it reads exactly the
// memory it was taken from.
func TestImageLeavesZeroPagesAsHoles(t *testing.T) {
	page := len(zeroPage)
	mem := make([]byte, 6*page+100) // the last page is partial
	fill := func(p int, n int) {
		for k := range n {
			mem[p*page+k] = byte(p + k + 1)
		}
	}
	fill(1, page)
	fill(2, 1)   // one byte in a page of zeros is not a zero page
	fill(5, 300) // runs into the partial page
	mem[len(mem)-1] = 0xAA
	im, err := newImage(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer im.close()
	var st unix.Stat_t
	if err := unix.Fstat(im.fd, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len(mem)) {
		t.Fatalf("memfd size %d, want %d", st.Size, len(mem))
	}
	// Pages 1, 2, 5 and the partial one hold data; 0, 3 and 4 are holes.
	if used := st.Blocks * 512; used > int64(4*page) {
		t.Fatalf("memfd holds %d bytes, want at most the 4 pages with data (%d)", used, 4*page)
	}
	lm := im.Allocate(0, uint64(8*page))
	defer lm.Free()
	got := lm.Reallocate(uint64(len(mem)))
	if !bytes.Equal(got, mem) {
		t.Fatal("an instance mapping the image does not read the memory it was taken from")
	}
	// Writes stay the instance's own.
	got[0], got[page] = 1, 2
	again := im.Allocate(0, uint64(8*page))
	defer again.Free()
	if b := again.Reallocate(uint64(len(mem))); !bytes.Equal(b, mem) {
		t.Fatal("another instance sees the first one's writes")
	}
}
