//go:build unix

package offheap

import (
	"fmt"
	"syscall"
)

// mapAnon maps n bytes of private anonymous memory, read-write, and
// returns them with the function that unmaps them.
func mapAnon(n int) ([]byte, func(), error) {
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|mapPopulate)
	if err != nil {
		return nil, nil, fmt.Errorf("offheap: map %d bytes: %w", n, err)
	}
	return mem, func() { syscall.Munmap(mem) }, nil
}

// protectRead makes mem read-only: a write to it faults, where a slip
// that wrote to a module being checked would otherwise go unnoticed.
func protectRead(mem []byte) error {
	if err := syscall.Mprotect(mem, syscall.PROT_READ); err != nil {
		return fmt.Errorf("offheap: protect: %w", err)
	}
	return nil
}
