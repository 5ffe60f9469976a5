package offheap

import (
	"bytes"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// mapPopulate has the kernel fault the pages in with the mapping.
const mapPopulate = syscall.MAP_POPULATE

// hugeOn reports whether the system gives transparent huge pages to
// memory that asks for them: its setting is "madvise" or "always".
var hugeOn = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !bytes.Contains(b, []byte("[never]"))
})

// madviseHuge asks for transparent huge pages over mem (MADV_HUGEPAGE).
func madviseHuge(mem []byte) error { return syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }

func addr(b []byte) int { return int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }
