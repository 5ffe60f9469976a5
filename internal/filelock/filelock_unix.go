//go:build unix

// Package filelock holds exclusive advisory locks on files, so that
// processes sharing a directory (caches, the auth store) take turns.
package filelock

import (
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on path, creating it, and returns
// the function that releases it. It blocks until the lock is free.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
