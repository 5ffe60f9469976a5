//go:build !linux

package hugepage

// Available is false: huge pages are asked for on Linux only.
func Available() bool { return false }

// Map maps nothing off Linux.
func Map(size, advise int) (mem []byte, ok bool) { return nil, false }

// Unmap does nothing off Linux, where Map maps nothing.
func Unmap([]byte) error { return nil }
