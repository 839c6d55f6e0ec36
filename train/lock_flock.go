//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package train

import (
	"os"
	"syscall"
)

// lockTemp takes an advisory lock on a temporary file being written, which
// tells removeOrphans that its writer is alive; the system drops it when
// the file is closed or the process dies. Where the file system refuses
// locks the file is left unlocked, and removeOrphans, which then cannot
// tell either, waits a day before removing it.
func lockTemp(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

// tempInUse reports whether a process holds the lock of a temporary file
// (known is false when that cannot be told).
func tempInUse(name string) (inUse, known bool) {
	f, err := os.Open(name)
	if err != nil {
		return false, false
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err {
	case nil:
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, true
	case syscall.EWOULDBLOCK:
		return true, true
	}
	return false, false
}
