package offheap_test

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/wisp-dev/wisp/host/internal/offheap"
)

// TestCloseReleasesTheMapping: after Close no mapping holds the bytes,
// for a small file and for one read into huge pages.
func TestCloseReleasesTheMapping(t *testing.T) {
	for _, n := range []int{10_000, 2_200_000} {
		b, err := offheap.Read(file(t, bytes.Repeat([]byte{1}, n)), int64(n))
		if err != nil {
			t.Fatal(err)
		}
		at := uintptr(unsafe.Pointer(unsafe.SliceData(b.Bytes())))
		if !mapped(t, at) {
			t.Fatalf("%d bytes: %#x is not in /proc/self/maps before Close", n, at)
		}
		b.Close()
		if mapped(t, at) {
			t.Fatalf("%d bytes: still mapped after Close", n)
		}
	}
}

// mapped reports whether address a is in one of the process's mappings.
func mapped(t *testing.T, a uintptr) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(maps), "\n") {
		lo, hi, ok := strings.Cut(strings.Fields(l + " x")[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && uint64(a) >= l && uint64(a) < h {
			return true
		}
	}
	return false
}
