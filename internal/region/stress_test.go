package region

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestNoLossUnderContention runs one writer goroutine per arena, each
// publishing to fields it alone owns, against one reader that drains and
// takes on its own goroutine through a 4-cell ring that overflows all the
// time. After the writers stop, the reader must have taken every field at
// its final version, and it must never have been given an ID that no
// writer published.
//
// The region is a real mapping, because the writers copy value bytes with
// plain stores, which the race detector reports on Go heap memory but does
// not track on memory mapped outside the heap.
func TestNoLossUnderContention(t *testing.T) {
	// Publish counts are multiples of fieldsEach, so every field ends at
	// the same version.
	const writers, fieldsEach = 8, 16
	publishes := 100000
	if testing.Short() {
		publishes = 4800
	}
	g := testGeometry()
	g.RingSize, g.Writers = 4, writers
	r, _ := newRegion(t, g)
	owned := func(arena int) []uint32 {
		lo := uint32(1 + (arena-1)*fieldsEach)
		return idRange(lo, lo+fieldsEach)
	}
	watch(t, r, 0, idRange(1, 1+writers*fieldsEach)...)

	var stopped atomic.Bool
	var wg sync.WaitGroup
	for arena := 1; arena <= writers; arena++ {
		w := mustWriter(t, r, arena)
		ids := owned(arena)
		wg.Go(func() {
			var buf [16]byte
			for i := range publishes {
				id := ids[i%len(ids)]
				ver := r.Version(id) + 1 // this writer alone changes id
				binary.LittleEndian.PutUint64(buf[:], ver)
				binary.LittleEndian.PutUint64(buf[8:], ver)
				if err := w.Publish(id, buf[:]); err != nil {
					t.Errorf("Publish(%d): %v", id, err)
					return
				}
				if i%32 == 0 {
					runtime.Gosched() // let the reader run between bursts
				}
			}
		})
	}

	result := make(chan error, 1)
	takenVersions := make(map[uint32]uint64)
	go func() { result <- drainUntilStopped(r, 0, &stopped, takenVersions, writers*fieldsEach) }()

	wg.Wait()
	stopped.Store(true)
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("reader did not finish within a minute of the writers")
	}

	wantVersion := uint64(publishes / fieldsEach)
	for id := uint32(1); id <= writers*fieldsEach; id++ {
		if v := r.Version(id); v != wantVersion {
			t.Errorf("field %d: final version %d, want %d", id, v, wantVersion)
		}
		if takenVersions[id] != r.Version(id) {
			t.Errorf("field %d: last taken version %d, final version %d", id, takenVersions[id], r.Version(id))
		}
	}
	s, _ := r.Slot(0)
	c := s.Counters()
	if c.Overflows == 0 {
		t.Error("the 4-cell ring never overflowed, so the test did not exercise the bitmap scan")
	}
	if c.Owner[CtrBadIDs] != 0 {
		t.Errorf("reader dropped %d IDs out of range", c.Owner[CtrBadIDs])
	}
	t.Logf("overflows %d, rebuilds %d, drained %d", c.Overflows, c.Owner[CtrRebuilds], c.Owner[CtrDrained])
}

// drainUntilStopped drains slot and takes every ID it gets until a drain
// that began after stopped was set finds nothing. It records the last
// version taken per field in takenVersions. It returns the first
// inconsistency: an ID above maxID, a version lower than one taken
// before, or a value that does not hold its own version twice.
func drainUntilStopped(r *Region, slot int, stopped *atomic.Bool, takenVersions map[uint32]uint64, maxID uint32) error {
	rd, err := r.Reader(slot)
	if err != nil {
		return err
	}
	var ids []uint32
	buf := make([]byte, 0, 64)
	for {
		final := stopped.Load()
		ids = rd.Drain(ids[:0], 64)
		for _, id := range ids {
			if id == 0 || id > maxID {
				return fmt.Errorf("drained ID %d, which no writer published", id)
			}
			var ver uint64
			buf, ver, _, err = rd.Take(id, buf)
			if err != nil {
				return fmt.Errorf("Take(%d): %w", id, err)
			}
			if ver < takenVersions[id] {
				return fmt.Errorf("field %d: version %d after %d", id, ver, takenVersions[id])
			}
			if len(buf) != 16 || binary.LittleEndian.Uint64(buf) != ver || binary.LittleEndian.Uint64(buf[8:]) != ver {
				return fmt.Errorf("field %d version %d: value % x", id, ver, buf)
			}
			takenVersions[id] = ver
		}
		if final && len(ids) == 0 && !rd.HasWork() {
			return nil
		}
	}
}
