//go:build unix

package offheap

import (
	"fmt"
	"syscall"

	"github.com/wisp-dev/wisp/host/internal/hugepage"
)

// mapAnon maps n bytes of private anonymous memory, read-write, and
// returns them, with a capacity up to the end of the mapping, and the
// function that unmaps them.
//
// From half a huge page up, where the system allows, the mapping is huge
// pages (package hugepage), which the read fills one fault per 2 MiB.
// Otherwise the kernel faults the pages in with the mapping (mapPopulate),
// in one pass, rather than one fault at a time as the read touches them.
// A read into 4 KiB pages is dominated by those faults and TLB misses on a
// virtual machine: 3.8–4.1 ms for 2.1 MB on the machine the README's
// figures come from, 1.1–1.3 ms into huge pages.
func mapAnon(n int) ([]byte, func(), error) {
	if n >= hugepage.Size/2 {
		size := (n + hugepage.Size - 1) &^ (hugepage.Size - 1)
		if mem, ok := hugepage.Map(size, size); ok {
			return mem[:n], func() { hugepage.Unmap(mem) }, nil
		}
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|mapPopulate)
	if err != nil {
		return nil, nil, fmt.Errorf("offheap: map %d bytes: %w", n, err)
	}
	return mem, func() { syscall.Munmap(mem) }, nil
}

// protectRead makes the mapping of mem, up to its capacity, read-only: a
// write to it faults, where a slip that wrote to a module being checked
// would otherwise go unnoticed.
func protectRead(mem []byte) error {
	if err := syscall.Mprotect(mem[:cap(mem)], syscall.PROT_READ); err != nil {
		return fmt.Errorf("offheap: protect: %w", err)
	}
	return nil
}
