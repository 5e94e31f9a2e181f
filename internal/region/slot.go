package region

import (
	"sync/atomic"
	"time"

	"github.com/fieldd/fieldd/internal/bitmap"
	"github.com/fieldd/fieldd/internal/ring"
	"github.com/fieldd/fieldd/internal/shm"
)

// Slot control words, in 8-byte words from the start of a slot. Each group
// sits on its own 128-byte line because different processes write them.
const (
	// Line 0: identity, written by the daemon only.
	sState      = 0 // 1 while a client holds the slot
	sGeneration = 1 // incremented each time the slot is handed out
	sPID        = 2
	sUID        = 3
	sSince      = 4 // Unix nanoseconds when the slot was handed out
	sProcStart  = 5 // the owner's start time in clock ticks since boot, from /proc/PID/stat

	sTail     = 1 * line / 8 // ring tail: producers only
	sHead     = 2 * line / 8 // ring head: the owner, after each drain
	sOverflow = 3 * line / 8 // set by producers, cleared by the owner
	sWaiting  = 4 * line / 8 // futex word (low 32 bits): set by the owner, cleared by a waker

	// Line 5: counted by any writer process, rarely.
	sOverflows = 5 * line / 8
	sWakes     = sOverflows + 1

	// Lines 6 and 7: counted by the owner only.
	sOwnerCounters = 6 * line / 8
)

// Owner counters of a slot, as indexes from sOwnerCounters.
const (
	CtrDrains    = iota // drain passes that found work
	CtrDrained          // IDs taken from the ring or the bitmap
	CtrRebuilds         // overflow flags seen, each followed by a bitmap scan
	CtrFrames           // dispatch frames run
	CtrCallbacks        // callbacks called
	CtrOverruns         // frames that ran out of time budget with work left
	CtrPanics           // callbacks that panicked
	CtrBadIDs           // IDs out of range found in the ring or bitmap
	CtrParks            // futex waits entered
	CtrStale            // queued IDs whose version was not newer
	numOwnerCounters
)

// Slot is a view of one client's slot.
type Slot struct {
	Index   int
	ctl     []atomic.Uint64
	ring    *ring.Ring
	pending bitmap.Bitmap
	waiting *atomic.Uint32
}

// SlotInfo is the identity the daemon stores in a slot.
type SlotInfo struct {
	InUse      bool
	Generation uint64
	PID        int32
	UID        uint32
	Since      time.Time
	// ProcStart is the owner's start time from /proc/PID/stat. With PID it
	// lets a restarted daemon check whether the owner still runs, even if the
	// pid was reused.
	ProcStart uint64
}

// Info returns the slot's identity words.
func (s *Slot) Info() SlotInfo {
	return SlotInfo{
		InUse:      s.ctl[sState].Load() == 1,
		Generation: s.ctl[sGeneration].Load(),
		PID:        int32(s.ctl[sPID].Load()),
		UID:        uint32(s.ctl[sUID].Load()),
		Since:      time.Unix(0, int64(s.ctl[sSince].Load())),
		ProcStart:  s.ctl[sProcStart].Load(),
	}
}

// SlotCounters is a snapshot of a slot's counters.
type SlotCounters struct {
	Overflows uint64 // overflow flags raised by writers
	Wakes     uint64 // futex wakes made by writers
	Owner     [numOwnerCounters]uint64
	Pending   int    // pending bits set now
	Head      uint64 // ring positions
	Tail      uint64
}

// Counters returns a snapshot of the slot's counters.
func (s *Slot) Counters() SlotCounters {
	c := SlotCounters{
		Overflows: s.ctl[sOverflows].Load(),
		Wakes:     s.ctl[sWakes].Load(),
		Pending:   s.pending.Count(),
		Head:      s.ctl[sHead].Load(),
		Tail:      s.ring.Tail(),
	}
	for i := range c.Owner {
		c.Owner[i] = s.ctl[sOwnerCounters+i].Load()
	}
	return c
}

// Count adds n to owner counter i. Only the slot's owner calls it.
func (s *Slot) Count(i int, n uint64) {
	if i >= 0 && i < numOwnerCounters {
		s.ctl[sOwnerCounters+i].Add(n)
	}
}

// Reset wipes the ring, the pending bitmap, the flags and the counters and
// stores a new identity. Only the daemon calls it, after removing the slot
// from every watcher mask and before handing it to a new client. A writer
// that loaded a watcher mask before the removal may still append one stale
// ID; the new owner treats it as a spurious notification.
func (s *Slot) Reset(info SlotInfo) {
	s.ctl[sState].Store(0)
	s.ring.Reset(0)
	s.ctl[sHead].Store(0)
	s.pending.Reset()
	s.ctl[sOverflow].Store(0)
	s.waiting.Store(0)
	for i := sOverflows; i < slotCtlSize/8; i++ {
		s.ctl[i].Store(0)
	}
	s.ctl[sPID].Store(uint64(info.PID))
	s.ctl[sUID].Store(uint64(info.UID))
	s.ctl[sSince].Store(uint64(info.Since.UnixNano()))
	s.ctl[sProcStart].Store(info.ProcStart)
	s.ctl[sGeneration].Store(info.Generation)
	if info.InUse {
		s.ctl[sState].Store(1)
	}
}

// ResetRingAt empties the ring and puts both ends at pos. Tests use it to
// start positions near their maximum.
func (s *Slot) ResetRingAt(pos uint64) {
	s.ring.Reset(pos)
	s.ctl[sHead].Store(pos)
}

// notify queues field id in the slot: set its pending bit, and if this call
// set it, append id to the ring or raise the overflow flag, then wake the
// owner if it sleeps. It reports whether the bit was already set, which
// means an earlier notification still covers this change.
func (s *Slot) notify(id uint32) (coalesced bool) {
	if !s.pending.Set(id) {
		return true
	}
	if !s.ring.Append(id) {
		// Pairs with the owner's Swap in Drain: the bit above was set
		// before the flag, so the owner's bitmap scan sees it.
		if s.ctl[sOverflow].Swap(1) == 0 {
			s.ctl[sOverflows].Add(1)
		}
	}
	s.wake()
	return false
}

// raise marks id pending and raises the overflow flag whatever the bit
// was, so the owner rescans its bitmap. The daemon calls it for the fields
// of a writer that died, which may have stored a version without
// notifying.
func (s *Slot) raise(id uint32) {
	s.pending.Set(id)
	s.ctl[sOverflow].Store(1)

	// The wake does not depend on the waiting word, because a writer that
	// died between clearing the word and FUTEX_WAKE left the owner asleep
	// with the word clear. Clearing the word first makes a wait that has
	// not started yet return at once.
	s.waiting.Store(0)
	shm.FutexWake(s.waiting, 1)
	s.ctl[sWakes].Add(1)
}

// wake clears the waiting word and wakes the owner if the owner set it.
// A plain load first keeps the line shared while the owner is awake, so a
// publish to an awake owner makes no system call.
func (s *Slot) wake() {
	// Pairs with the owner's Store(1) in Park, made before its last check
	// of the ring and the overflow flag.
	if s.waiting.Load() != 0 && s.waiting.CompareAndSwap(1, 0) {
		shm.FutexWake(s.waiting, 1)
		s.ctl[sWakes].Add(1)
	}
}
