//go:build linux

package shm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// TryLock takes an open-file-description write lock on length bytes of f
// at offset off without blocking. It returns false when another open file
// description holds a conflicting lock. The kernel drops the lock when the
// last descriptor of that description closes, so a dead process never
// keeps it.
func TryLock(f *os.File, off, length int64) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: off, Len: length}
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return false, fmt.Errorf("lock %s bytes %d+%d: %w", f.Name(), off, length, err)
}
