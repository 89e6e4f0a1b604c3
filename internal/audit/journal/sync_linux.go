package journal

import (
	"os"
	"syscall"
)

// datasync flushes f's data (and its size when it changed), not its times.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
