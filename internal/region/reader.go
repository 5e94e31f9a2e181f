package region

import (
	"time"

	"github.com/fieldd/fieldd/internal/shm"
)

// Reader is the owner's side of a slot: it drains the ring, clears pending
// bits before reading values, and parks on the futex when idle. A Reader
// is not safe for concurrent use, except for [Reader.Take], which may run
// on another goroutine than Drain and Park, and [Reader.Unpark].
type Reader struct {
	r    *Region
	s    *Slot
	head uint64 // local copy of the ring head; the shared word is for statistics
}

// Reader returns the owner's view of slot i, resuming at the slot's
// stored head.
func (r *Region) Reader(i int) (*Reader, error) {
	s, err := r.Slot(i)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, s: s, head: s.ctl[sHead].Load()}, nil
}

// Slot returns the slot the reader owns.
func (rd *Reader) Slot() *Slot { return rd.s }

// Drain appends to dst the field IDs queued in the slot: up to max entries
// from the ring, then, if the overflow flag was raised, every ID whose
// pending bit is set. IDs may repeat; the caller deduplicates. IDs outside
// the field table are dropped and counted.
func (rd *Reader) Drain(dst []uint32, max int) []uint32 {
	start := len(dst)
	head := rd.head
	head, dst = rd.s.ring.Drain(head, dst, max)
	if head != rd.head {
		rd.head = head
		rd.s.ctl[sHead].Store(head)
	}

	// Clear the flag before the scan: a producer that fails to append after
	// this point raises it again, and one that failed before set its bit
	// before raising the flag, so the scan below sees the bit.
	if rd.s.ctl[sOverflow].Load() != 0 && rd.s.ctl[sOverflow].Swap(0) != 0 {
		rd.s.Count(CtrRebuilds, 1)
		dst = rd.s.pending.AppendSet(dst)
	}

	// Drop IDs a corrupt or stale cell could hold. The comparison is in
	// uint64 because int(id) is negative from 2^31 on 32-bit platforms.
	kept := start
	for _, id := range dst[start:] {
		if id == 0 || uint64(id) >= uint64(rd.r.L.MaxFields) {
			rd.s.Count(CtrBadIDs, 1)
			continue
		}
		dst[kept] = id
		kept++
	}
	dst = dst[:kept]
	if n := len(dst) - start; n > 0 {
		rd.s.Count(CtrDrains, 1)
		rd.s.Count(CtrDrained, uint64(n))
	}
	return dst
}

// HasWork reports whether the ring has an entry at the head or the
// overflow flag is raised.
func (rd *Reader) HasWork() bool {
	return rd.s.ring.Ready(rd.head) || rd.s.ctl[sOverflow].Load() != 0
}

// Take clears id's pending bit and then reads its value into dst, so a
// publish that set the bit before the clear is seen by this read and a
// publish after the clear sets the bit again.
func (rd *Reader) Take(id uint32, dst []byte) ([]byte, uint64, bool, error) {
	rd.s.pending.Clear(id) // pairs with the writer's Or in notify
	return rd.r.ReadInto(id, dst)
}

// Pending reports whether id's pending bit is set in the slot.
func (rd *Reader) Pending(id uint32) bool { return rd.s.pending.IsSet(id) }

// Park sleeps on the slot's futex until a writer wakes it, Unpark is
// called, or the timeout (when positive) passes. It returns at once if
// there is work or stop reports true after the waiting word is set. A
// return does not promise work: the caller drains and decides again.
func (rd *Reader) Park(timeout time.Duration, stop func() bool) {
	rd.s.waiting.Store(1)
	// Pairs with a writer's Load of the waiting word after its append:
	// either the writer loads 1 and wakes us, or this check finds its entry.
	if rd.HasWork() || stop() {
		rd.s.waiting.Store(0)
		return
	}
	rd.s.Count(CtrParks, 1)
	shm.FutexWait(rd.s.waiting, 1, timeout)
	rd.s.waiting.Store(0)
}

// Unpark wakes the owner if it is parked. Close paths call it after
// setting their stop condition.
func (rd *Reader) Unpark() {
	// The wake does not depend on the waiting word: a slot reset or a
	// writer that died after clearing it leaves a parked owner with the
	// word already clear.
	rd.s.waiting.Store(0)
	shm.FutexWake(rd.s.waiting, 1)
}
