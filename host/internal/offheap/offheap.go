// Package offheap reads a file into memory of its own, outside the heap
// that Go's collector manages, and unmaps it when its reader is done.
//
// A host reads each module it starts from a file, a few MB for a Go guest,
// hashes it, checks its claims and hands it to the engine, which keeps
// nothing of it: the bytes are garbage a few milliseconds later. On the Go
// heap of a host that has just started (a few MB), allocating them starts
// a collection whose work the allocating goroutine helps with: reading a
// 2 MB module took 13–21 ms in a fresh host, 3.7–4.3 ms into memory of its
// own, and 1.1–1.3 ms into huge pages of its own (see mapAnon and the
// README's "Performance").
//
// What Bytes returns must not be kept past Close: the memory is unmapped,
// and a later read of it crashes the process. Its users here only read it
// while they hold it.
package offheap

import (
	"errors"
	"io"
	"os"
)

// Buf is a file's contents in memory of their own.
type Buf struct {
	b    []byte // the contents
	free func() // unmaps them
}

// Bytes returns the contents, valid until Close.
func (b *Buf) Bytes() []byte { return b.b }

// Close unmaps the contents. It is safe to call more than once.
func (b *Buf) Close() {
	if b.free != nil {
		b.free()
		b.free = nil
	}
	b.b = nil
}

// ErrChanged is Read's error for a file whose length is not the size it
// was told: the file changed between its stat and the read.
var ErrChanged = errors.New("offheap: the file is not the size it had")

// ErrUnsupported is Read's error where memory of its own cannot be had
// (a system without mmap, or size 0); the caller reads into the heap.
var ErrUnsupported = errors.New("offheap: not supported here")

// Read reads f, which has size bytes (from its stat), from its current
// offset to its end. A file that is longer or shorter than size fails with
// ErrChanged, and nothing stays mapped.
func Read(f *os.File, size int64) (*Buf, error) {
	if size <= 0 || int64(int(size)) != size || int(size) == maxInt() {
		return nil, ErrUnsupported
	}
	// One byte more than size: a read that fills it finds a file that grew.
	mem, free, err := mapAnon(int(size) + 1)
	if err != nil {
		return nil, err
	}
	n, err := io.ReadFull(f, mem)
	switch {
	case err == nil: // size+1 bytes: longer than it was
		free()
		return nil, ErrChanged
	case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		free()
		return nil, err
	case int64(n) != size:
		free()
		return nil, ErrChanged
	}
	b := &Buf{b: mem[:n:n], free: free}
	if err := protectRead(mem); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func maxInt() int { return int(^uint(0) >> 1) }
