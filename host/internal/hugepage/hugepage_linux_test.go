package hugepage_test

import (
	"bufio"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wisp-dev/wisp/host/internal/hugepage"
)

// TestMapIsAlignedWritableAndWhole: where the system gives huge pages, a
// mapping starts on a huge page, holds every byte asked for, and unmaps.
func TestMapIsAlignedWritableAndWhole(t *testing.T) {
	if !hugepage.Available() {
		if _, ok := hugepage.Map(hugepage.Size, hugepage.Size); ok {
			t.Fatal("Map succeeded where huge pages are not available")
		}
		return
	}
	for _, size := range []int{unix.Getpagesize(), hugepage.Size, 3*hugepage.Size + 5*unix.Getpagesize()} {
		mem, ok := hugepage.Map(size, size/2)
		if !ok {
			t.Fatalf("Map(%d) refused", size)
		}
		if a := uintptr(unsafe.Pointer(unsafe.SliceData(mem))); a%hugepage.Size != 0 || len(mem) != size || cap(mem) != size {
			t.Fatalf("Map(%d) = %d bytes (cap %d) at %#x, want them aligned to %d", size, len(mem), cap(mem), a, hugepage.Size)
		}
		for k := 0; k < size; k += 4096 {
			mem[k] = byte(k >> 12)
		}
		mem[size-1] = 0xAA
		for k := 0; k < size; k += 4096 {
			if mem[k] != byte(k>>12) {
				t.Fatalf("byte %d reads %d", k, mem[k])
			}
		}
		if mem[size-1] != 0xAA {
			t.Fatal("the last byte does not keep what was written")
		}
		if err := hugepage.Unmap(mem); err != nil {
			t.Fatal(err)
		}
		if mapped(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))) {
			t.Fatalf("Map(%d): still mapped after Unmap", size)
		}
	}
}

// mapped reports whether address a is in one of the process's mappings.
func mapped(a uintptr) bool {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x", &lo, &hi); err == nil && a >= lo && a < hi {
			return true
		}
	}
	return false
}
