//go:build !(linux && (amd64 || arm64))

package engine

import "github.com/tetratelabs/wazero/experimental"

// image is a snapshot of an instance's linear memory from which further
// instances start. Without 64-bit Linux's memfd and private mappings (and
// on 32-bit systems, where reserving each instance's maximum memory would
// exhaust the address space) each instance gets a copy: starting still
// skips the guest's initialisation, but no pages are shared.
type image struct {
	mem []byte
}

// sourceAllocator is nil: the instance a snapshot is taken from gets
// wazero's own memory, on Go's heap.
func sourceAllocator() experimental.MemoryAllocator { return nil }

// newImage keeps a copy of mem, which is a view of the instance's memory.
func newImage(mem []byte) (*image, error) {
	return &image{mem: append([]byte(nil), mem...)}, nil
}

func (im *image) close() error { return nil }

// Allocate returns a copy of the snapshot with room for cap bytes.
func (im *image) Allocate(cap, _ uint64) experimental.LinearMemory {
	buf := make([]byte, len(im.mem), max(int(cap), len(im.mem)))
	copy(buf, im.mem)
	return &copiedMemory{buf: buf}
}

type copiedMemory struct{ buf []byte }

func (m *copiedMemory) Reallocate(size uint64) []byte {
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	m.buf = append(m.buf, make([]byte, int(size)-len(m.buf))...)
	return m.buf
}

func (m *copiedMemory) Free() { m.buf = nil }
