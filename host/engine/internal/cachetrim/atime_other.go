//go:build !linux

package cachetrim

import (
	"io/fs"
	"time"
)

// lastUse is a file's modification time: its access time is not read here.
func lastUse(info fs.FileInfo) time.Time { return info.ModTime() }
