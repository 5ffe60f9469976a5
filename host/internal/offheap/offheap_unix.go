//go:build unix

package offheap

import (
	"fmt"
	"syscall"
)

// hugePage is the size of a transparent huge page on the systems that
// have them (madviseHuge).
const hugePage = 2 << 20

// mapAnon maps n bytes of private anonymous memory, read-write, and
// returns them, with a capacity up to the end of the mapping, and the
// function that unmaps them.
//
// From half a huge page up, where the system allows, the mapping is huge
// pages, aligned to their size, which the read fills one fault per 2 MB.
// Otherwise the kernel faults the pages in with the mapping (mapPopulate),
// in one pass, rather than one fault at a time as the read touches them.
// A read into 4 KiB pages is dominated by those faults and TLB misses on a
// virtual machine: 3.8–4.1 ms for 2.1 MB on the machine the README's
// figures come from, 1.2–1.3 ms into huge pages.
func mapAnon(n int) ([]byte, func(), error) {
	if n >= hugePage/2 && hugeOn() {
		if mem, free, ok := mapHuge(n); ok {
			return mem, free, nil
		}
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|mapPopulate)
	if err != nil {
		return nil, nil, fmt.Errorf("offheap: map %d bytes: %w", n, err)
	}
	return mem, func() { syscall.Munmap(mem) }, nil
}

// mapHuge maps n bytes rounded up to huge pages, at an address aligned to
// one, and asks for huge pages there; ok is false when the system refuses
// either.
func mapHuge(n int) ([]byte, func(), bool) {
	size := (n + hugePage - 1) &^ (hugePage - 1)
	all, err := syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	// Keep the aligned size bytes; unmap what comes before and after.
	head := int(hugePage-addr(all)%hugePage) % hugePage
	mem := all[head : head+size : head+size]
	if head > 0 {
		syscall.Munmap(all[:head])
	}
	if tail := all[head+size:]; len(tail) > 0 {
		syscall.Munmap(tail)
	}
	free := func() { syscall.Munmap(mem) }
	if madviseHuge(mem) != nil {
		free()
		return nil, nil, false
	}
	return mem[:n], free, true
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
