package region

import (
	"os"
	"testing"
	"time"
	"unsafe"
)

func TestUnparkWakesWithWordCleared(t *testing.T) {
	g := DefaultGeometry()
	g.MaxFields, g.MaxSlots, g.RingSize = 128, 1, 4
	r, _ := newRegion(t, g)
	rd := mustReader(t, r, 0)
	s, _ := r.Slot(0)

	done := make(chan struct{})
	go func() {
		rd.Park(0, func() bool { return false })
		close(done)
	}()
	waitFor(t, 10*time.Second, "reader blocked in FUTEX_WAIT", func() bool {
		ok, err := inFutexWait(os.Getpid(), uint64(uintptr(unsafe.Pointer(s.waiting))))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	// A waker that cleared the word and died before FUTEX_WAKE, or a slot
	// reset, leaves the word clear under a parked owner.
	s.waiting.Store(0)
	rd.Unpark()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Unpark did not wake a reader parked with its waiting word cleared")
	}
}
