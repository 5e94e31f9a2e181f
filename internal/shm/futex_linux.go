//go:build linux

package shm

import (
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The futex calls use the shared (not private) form, because the waiter
// and the waker live in different processes that map the same file.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// FutexWait blocks while *w == val, until [FutexWake] on the same word (in
// any process mapping it), the timeout (when positive), or a signal. It
// returns nil in every one of those cases and when *w != val on entry; the
// caller rechecks its condition, since a wake-up may find nothing to do.
func FutexWait(w *atomic.Uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(timeout.Nanoseconds())
		ts = &t
	}
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWait,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	switch errno {
	case 0, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		return nil
	}
	return errors.Join(errors.New("futex wait"), errno)
}

// FutexWake wakes up to n waiters blocked on w and returns how many woke.
func FutexWake(w *atomic.Uint32, n int) (int, error) {
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWake,
		uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errors.Join(errors.New("futex wake"), errno)
	}
	return int(r), nil
}
