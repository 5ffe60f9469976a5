//go:build unix && !linux

package offheap

import "errors"

const mapPopulate = 0

// hugeOn is false: huge pages are asked for on Linux only.
func hugeOn() bool { return false }

func madviseHuge([]byte) error { return errors.ErrUnsupported }

func addr([]byte) int { return 0 }
