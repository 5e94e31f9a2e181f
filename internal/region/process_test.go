//go:build linux

package region

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkReport fails the test unless the reader took every field in ids at
// the field's current version, without inconsistencies.
func checkReport(t *testing.T, r *Region, rep readerReport, ids []uint32) {
	t.Helper()
	for _, e := range rep.Errors {
		t.Errorf("reader: %s", e)
	}
	missed := 0
	for _, id := range ids {
		if got, want := rep.Versions[id], r.Version(id); got != want {
			if missed++; missed <= 10 {
				t.Errorf("field %d: reader took version %d, final version is %d", id, got, want)
			}
		}
	}
	if missed > 10 {
		t.Errorf("%d fields in all were not taken at their final version", missed)
	}
	for id := range rep.Versions {
		if !slices.Contains(ids, id) {
			t.Errorf("reader took field %d, which is not watched", id)
		}
	}
}

// TestKilledWriterLosesNothing runs two writer processes and a third that
// publishes in a tight loop until it is killed with SIGKILL, against a
// reader process on an overflowing 16-cell ring. After the daemon's repair
// of the dead writer's fields, the reader must take every field at its
// final version, and the ring must still take entries.
func TestKilledWriterLosesNothing(t *testing.T) {
	const fieldsEach = 40
	publishes := 400_000
	if testing.Short() {
		publishes = 40_000
	}
	g := testGeometry()
	g.RingSize, g.Writers = 16, 3
	r, files := newRegion(t, g)
	owned := func(arena int) (lo, hi uint32) {
		lo = uint32(1 + (arena-1)*fieldsEach)
		return lo, lo + fieldsEach
	}
	all := idRange(1, 1+3*fieldsEach)
	watch(t, r, 0, all...)

	reader := startChild(t, "reader", "0", files.ValuesRO, files.Slots)
	reader.expect("ready", 30*time.Second)

	var writers []*child
	for arena := 1; arena <= 2; arena++ {
		lo, hi := owned(arena)
		writers = append(writers, startChild(t, "writer",
			fmt.Sprint(arena, lo, hi, publishes), files.Values, files.Slots))
	}
	lo, hi := owned(3)
	victim := startChild(t, "writer", fmt.Sprint(3, lo, hi, -1), files.Values, files.Slots)

	waitFor(t, 30*time.Second, "5000 publishes by every writer", func() bool {
		for arena := 1; arena <= 3; arena++ {
			if c, _ := r.WriterCounters(arena); c.Publishes < 5000 {
				return false
			}
		}
		return true
	})
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	atKill, _ := r.WriterCounters(1)
	<-victim.exited
	var exit *exec.ExitError
	if !errors.As(victim.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("victim exit = %v, want killed by SIGKILL", victim.err)
	}
	for _, w := range writers {
		w.wait(time.Minute)
	}

	// The daemon's repair after a writer dies: the dead writer may have
	// stored a version and died before it queued the field.
	for id := lo; id < hi; id++ {
		r.Raise(id)
	}

	var rep readerReport
	reader.finish(&rep, 30*time.Second)
	checkReport(t, r, rep, all)
	for _, arena := range []int{1, 2} {
		lo, _ := owned(arena)
		if v := r.Version(lo); v != uint64(publishes/fieldsEach) {
			t.Errorf("field %d of writer %d: version %d, want %d", lo, arena, v, publishes/fieldsEach)
		}
	}

	// The ring still takes an entry without overflow.
	s, _ := r.Slot(0)
	before := s.Counters()
	if err := mustWriter(t, r, 1).Publish(1, fillValue(nil, r.Version(1)+1, childValueSize)); err != nil {
		t.Fatal(err)
	}
	after := s.Counters()
	if after.Tail != before.Tail+1 || after.Overflows != before.Overflows {
		t.Errorf("publish after the kill: tail %d to %d, overflows %d to %d; want one append and no overflow",
			before.Tail, after.Tail, before.Overflows, after.Overflows)
	}
	t.Logf("victim published about %d times; writer 1 had published %d of %d at the kill",
		r.Version(lo)*fieldsEach, atKill.Publishes, publishes)
	t.Logf("slot overflows %d, rebuilds %d, parks %d, wakes %d",
		after.Overflows, after.Owner[CtrRebuilds], after.Owner[CtrParks], after.Wakes)
}

// startParked starts a park child on slot 0 and returns it once one of its
// threads is blocked in FUTEX_WAIT on the slot's waiting word. It skips
// the test when /proc does not show system calls.
func startParked(t *testing.T, r *Region, files *Files) *child {
	t.Helper()
	c := startChild(t, "park", "0", files.ValuesRO, files.Slots)
	addr, err := strconv.ParseUint(strings.TrimPrefix(c.expect("waiting ", 30*time.Second), "0x"), 16, 64)
	if err != nil {
		c.fatalf("parse waiting word address: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		in, err := inFutexWait(c.cmd.Process.Pid, addr)
		if errors.Is(err, errNoSyscallInfo) {
			t.Skipf("cannot tell whether the child sleeps: %v", err)
		}
		if err != nil {
			c.fatalf("read child system call: %v", err)
		}
		if in {
			break
		}
		if time.Now().After(deadline) {
			c.fatalf("child is not in FUTEX_WAIT on %#x after 30s", addr)
		}
		time.Sleep(time.Millisecond)
	}
	s, _ := r.Slot(0)
	if parks := s.Counters().Owner[CtrParks]; parks != 1 {
		t.Errorf("parks counter = %d, want 1", parks)
	}
	return c
}

// TestParkedReaderWokenByPublish parks a reader process in FUTEX_WAIT and
// publishes from this process: the reader wakes long before its timeout
// and drains the field. Later publishes, to a reader no longer waiting,
// make no more wakes.
func TestParkedReaderWokenByPublish(t *testing.T) {
	r, files := newRegion(t, testGeometry())
	watch(t, r, 0, 5)
	w := mustWriter(t, r, 1)
	c := startParked(t, r, files)

	if err := w.Publish(5, []byte("wake up")); err != nil {
		t.Fatal(err)
	}
	var rep parkReport
	c.finish(&rep, 10*time.Second)
	if !slices.Equal(rep.IDs, []uint32{5}) {
		t.Errorf("woken reader drained %v, want [5]", rep.IDs)
	}
	if rep.Elapsed >= parkTimeout {
		t.Errorf("reader slept %v, its full timeout", rep.Elapsed)
	}

	s, _ := r.Slot(0)
	if wakes := s.Counters().Wakes; wakes != 1 {
		t.Errorf("wakes = %d, want 1", wakes)
	}
	rd := mustReader(t, r, 0)
	for i := range 100 {
		rd.Take(5, nil)
		if err := w.Publish(5, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if wakes := s.Counters().Wakes; wakes != 1 {
		t.Errorf("wakes after publishes to an awake reader = %d, want still 1", wakes)
	}
}

// TestRaiseWakesReaderAfterWakerDied parks a reader process, then plays a
// writer that cleared the waiting word and died before FUTEX_WAKE: the
// reader sleeps on with the word clear. The daemon's repair, Raise, must
// still wake it.
func TestRaiseWakesReaderAfterWakerDied(t *testing.T) {
	r, files := newRegion(t, testGeometry())
	watch(t, r, 0, 5)
	c := startParked(t, r, files)

	s, _ := r.Slot(0)
	if !s.waiting.CompareAndSwap(1, 0) {
		t.Fatal("waiting word of the parked reader is not 1")
	}
	r.Raise(5)

	var rep parkReport
	c.finish(&rep, 10*time.Second)
	if !slices.Equal(rep.IDs, []uint32{5}) {
		t.Errorf("woken reader drained %v, want [5]", rep.IDs)
	}
}

// TestPublishToAwakeReaderMakesNoWake checks that a publish makes no
// futex wake while the slot's waiting word is clear, and exactly one when
// the owner has set it.
func TestPublishToAwakeReaderMakesNoWake(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	watch(t, r, 0, idRange(1, 65)...)
	w := mustWriter(t, r, 1)
	rd := mustReader(t, r, 0)
	s := rd.Slot()

	for i := range 1000 {
		id := uint32(1 + i%64)
		if err := w.Publish(id, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		for _, id := range rd.Drain(nil, 64) {
			rd.Take(id, nil)
		}
	}
	if wakes := s.Counters().Wakes; wakes != 0 {
		t.Fatalf("wakes after 1000 publishes to an awake reader = %d, want 0", wakes)
	}

	// What Park does before it sleeps.
	s.waiting.Store(1)
	if err := w.Publish(1, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if wakes := s.Counters().Wakes; wakes != 1 {
		t.Errorf("wakes after a publish to a waiting reader = %d, want 1", wakes)
	}
	if s.waiting.Load() != 0 {
		t.Error("the publish did not clear the waiting word")
	}
	if err := w.Publish(2, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if wakes := s.Counters().Wakes; wakes != 1 {
		t.Errorf("wakes after the next publish = %d, want still 1", wakes)
	}
}

// TestLappedReaderDeliversFinalVersions stops a reader process with SIGSTOP
// for one second while 300,000 publishes hit its watched fields, then lets
// it continue. With 500 fields the 4096-cell ring cannot overflow, because
// a field is in the ring at most once while its pending bit is set. With
// 6000 fields it overflows. Either way, once the writes stop, the reader
// takes every field at its final version.
func TestLappedReaderDeliversFinalVersions(t *testing.T) {
	const publishes = 300_000
	tests := []struct {
		fields   uint32
		overflow bool
	}{
		{500, false},
		{6000, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d fields", tt.fields), func(t *testing.T) {
			g := testGeometry()
			g.MaxFields = int(tt.fields+64) &^ 63
			g.RingSize, g.ArenaSize = 4096, 1<<20
			r, files := newRegion(t, g)
			ids := idRange(1, tt.fields+1)
			watch(t, r, 0, ids...)
			w := mustWriter(t, r, 1)

			reader := startChild(t, "reader", "0", files.ValuesRO, files.Slots)
			reader.expect("ready", 30*time.Second)
			pid := reader.cmd.Process.Pid
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped := time.Now()
			waitFor(t, 10*time.Second, "the reader to stop", func() bool {
				st, err := procState(pid)
				return err == nil && st == 'T'
			})

			buf := make([]byte, childValueSize)
			for i := range publishes {
				id := ids[i%len(ids)]
				if err := w.Publish(id, fillValue(buf, r.Version(id)+1, childValueSize)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Until(stopped.Add(time.Second))) // the stop itself is the scenario

			s, _ := r.Slot(0)
			overflows := s.Counters().Overflows
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}

			var rep readerReport
			reader.finish(&rep, 30*time.Second)
			checkReport(t, r, rep, ids)
			if want := uint64(publishes / int(tt.fields)); r.Version(1) != want {
				t.Errorf("field 1: version %d, want %d", r.Version(1), want)
			}
			if tt.overflow && overflows == 0 {
				t.Error("overflow counter did not rise while the reader was stopped")
			}
			if !tt.overflow && overflows != 0 {
				t.Errorf("overflow counter rose to %d with fewer fields than ring cells", overflows)
			}
			t.Logf("overflows while stopped: %d, rebuilds: %d", overflows, s.Counters().Owner[CtrRebuilds])
		})
	}
}
