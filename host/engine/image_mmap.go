//go:build linux && (amd64 || arm64)

package engine

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"

	"github.com/wisp-dev/wisp/host/internal/hugepage"
)

// image is a snapshot of an instance's linear memory from which further
// instances start. On 64-bit Linux it is a memfd that each instance maps
// privately: pages an instance only reads stay shared between all of them
// (and with the page cache); a write copies just the page written.
type image struct {
	fd   int
	size int
}

// newImage writes mem, a view of the instance's memory, to a new memfd.
// Pages that hold only zeros are not written: they stay holes of the
// memfd, which read as zeros and take no memory (a Go guest's memory is
// about half such pages after its initialisation).
func newImage(mem []byte) (*image, error) {
	fd, err := unix.MemfdCreate("wisp-snapshot", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("snapshot memfd: %w", err)
	}
	if err := writeImage(fd, mem); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("snapshot memfd: %w", err)
	}
	return &image{fd: fd, size: len(mem)}, nil
}

// zeroPage is compared with each page of a snapshot.
var zeroPage [4096]byte

// writeImage sizes fd to mem and writes the runs of mem's pages that are
// not all zeros at their offsets.
func writeImage(fd int, mem []byte) error {
	if err := unix.Ftruncate(fd, int64(len(mem))); err != nil {
		return err
	}
	page := len(zeroPage)
	zero := func(off int) bool {
		p := mem[off:min(off+page, len(mem))]
		return bytes.Equal(p, zeroPage[:len(p)])
	}
	for off := 0; off < len(mem); {
		for off < len(mem) && zero(off) {
			off += page
		}
		start := off
		for off < len(mem) && !zero(off) {
			off += page
		}
		for b, at := mem[start:min(off, len(mem))], int64(start); len(b) > 0; {
			n, err := unix.Pwrite(fd, b, at)
			if err != nil {
				return err
			}
			b, at = b[n:], at+int64(n)
		}
	}
	return nil
}

func (im *image) close() error { return unix.Close(im.fd) }

// Allocate reserves max bytes of address space (no memory until touched)
// and maps the snapshot over its start, copy-on-write.
func (im *image) Allocate(_, max uint64) experimental.LinearMemory {
	size := max
	if size < uint64(im.size) {
		size = uint64(im.size)
	}
	size = (size + uint64(unix.Getpagesize()) - 1) &^ (uint64(unix.Getpagesize()) - 1)
	if size == 0 {
		size = uint64(unix.Getpagesize())
	}
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return failedMemory{}
	}
	if im.size > 0 {
		if _, err := unix.MmapPtr(im.fd, 0, base, uintptr(im.size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
			_ = unix.MunmapPtr(base, uintptr(size))
			return failedMemory{}
		}
	}
	return &mappedMemory{buf: unsafe.Slice((*byte)(base), size)}
}

// sourceAllocator returns the allocator of the memory of the instance a
// snapshot is taken from (one per module and name). Like the memory of
// the instances that start from the snapshot, it is a reservation of its
// maximum outside Go's heap, and the memory it starts with, from 1 MiB up,
// is asked for in transparent huge pages: its initialisation then faults
// one page per 2 MiB, not per 4 KiB, and no collection runs for it. On Go's
// heap (wazero's default) a fresh host's first instance of a Go guest took
// 21–35 ms with its initialisation, 2.4–5.4 ms so (the README's
// "Performance"). It holds up to 2 MiB more than it touches.
//
// Other fresh instances (of a guest that cannot be snapshotted) keep
// wazero's default: in a host that already runs some, Go's heap hands them
// memory that is already faulted in, where a new mapping faults every page
// again (5–6.6 ms an instance against 8.1–8.8 ms, BenchmarkDensity), and
// huge pages would give a small guest 2 MiB an instance.
func sourceAllocator() experimental.MemoryAllocator { return sourceMemory{} }

type sourceMemory struct{}

// hugeFrom is the least starting memory for which huge pages are asked.
const hugeFrom = 1 << 20

func (sourceMemory) Allocate(capacity, maximum uint64) experimental.LinearMemory {
	pg := uint64(unix.Getpagesize())
	size := (max(capacity, maximum, 1) + pg - 1) &^ (pg - 1)
	if capacity >= hugeFrom {
		if buf, ok := hugepage.Map(int(size), int(capacity)); ok {
			return &mappedMemory{buf: buf}
		}
	}
	base, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return failedMemory{}
	}
	return &mappedMemory{buf: unsafe.Slice((*byte)(base), size)}
}

// mappedMemory is one instance's memory: a fixed mapping, never moved.
type mappedMemory struct {
	buf []byte
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size:size]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = unix.MunmapPtr(unsafe.Pointer(&m.buf[0]), uintptr(len(m.buf)))
		m.buf = nil
	}
}

// failedMemory is a memory the system could not map: wazero's bounds
// check on the first Reallocate fails the instantiation.
type failedMemory struct{}

func (failedMemory) Reallocate(uint64) []byte { return nil }
func (failedMemory) Free()                    {}
