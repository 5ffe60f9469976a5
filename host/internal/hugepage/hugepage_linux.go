package hugepage

import (
	"bytes"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Available reports whether the system gives huge pages to memory that
// asks for them: its THP setting is "madvise" or "always".
var Available = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !bytes.Contains(b, []byte("[never]"))
})

// Map reserves size bytes (a multiple of the system's page size) of
// private anonymous memory, read-write, at an address aligned to Size, and
// asks for huge pages over its first advise bytes, rounded up to Size.
// The caller releases it with Unmap. ok is false when huge pages are not
// Available or the system refuses the mapping.
func Map(size, advise int) (mem []byte, ok bool) {
	if !Available() {
		return nil, false
	}
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(size+Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, false
	}
	// Keep the aligned size bytes; unmap what comes before and after.
	all := unsafe.Slice((*byte)(base), size+Size)
	head := int((Size - uintptr(base)%Size) % Size)
	mem = all[head : head+size : head+size]
	if head > 0 {
		_ = Unmap(all[:head:head])
	}
	if tail := all[head+size:]; len(tail) > 0 {
		_ = Unmap(tail)
	}
	if err := unix.Madvise(mem[:min((advise+Size-1)&^(Size-1), size)], unix.MADV_HUGEPAGE); err != nil {
		_ = Unmap(mem)
		return nil, false
	}
	return mem, true
}

// Unmap releases mem, up to its capacity: all or the end of what Map
// returned. (x/sys/unix's Munmap takes only what its own Mmap returned,
// and refuses anything else with EINVAL.)
func Unmap(mem []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(cap(mem)))
}
