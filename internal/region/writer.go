package region

import (
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Arena header words, in 8-byte words from the start of an arena.
const (
	aTop       = 0 // next free byte offset in the arena; written by the arena's writer
	aPID       = 1 // pid of the writer that holds the arena; written by the daemon
	aProcStart = 2 // that writer's start time from /proc/PID/stat; written by the daemon

	// Line 1: counters written by the arena's writer only.
	aCounters = line / 8
)

// Writer counters, as indexes from aCounters.
const (
	CtrPublishes  = iota // values stored
	CtrCoalesced         // notifications skipped because the pending bit was set
	CtrNotified          // notifications queued in a slot
	CtrArenaFull         // publishes rejected for lack of arena space
	CtrAllocBytes        // arena bytes handed out
	numWriterCounters
)

// Writer publishes values into fields with the storage of one arena. A
// Writer is not safe for concurrent use, and at most one Writer may publish
// to a given field at a time: the daemon's owner word decides which.
type Writer struct {
	r     *Region
	arena int
	hdr   []atomic.Uint64
	ctr   *[numWriterCounters]uint64
}

// Writer returns the writer for arena a. Arena 0 belongs to the daemon.
func (r *Region) Writer(a int) (*Writer, error) {
	if !r.writable {
		return nil, ErrReadOnly
	}
	if a < 0 || a > r.L.Writers {
		return nil, fmt.Errorf("%w: %d not in 0..%d", ErrBadArena, a, r.L.Writers)
	}
	hdr := r.arenaHdr(a)
	w := &Writer{
		r:     r,
		arena: a,
		hdr:   hdr,
		// Only this arena's writer stores these counters, so it adds with
		// plain stores; readers load them atomically. That is exact on
		// 64-bit platforms, where aligned 8-byte stores do not tear.
		ctr: (*[numWriterCounters]uint64)(unsafe.Pointer(&hdr[aCounters])),
	}
	if w.hdr[aTop].Load() < arenaHdr {
		w.hdr[aTop].Store(arenaHdr)
	}
	return w, nil
}

// Arena returns the writer's arena index.
func (w *Writer) Arena() int { return w.arena }

// Publish stores value as the new value of field id and notifies every slot
// that watches it. The caller must own the field. It allocates no memory;
// a value whose size fits the cell it replaces reuses the cell's bytes.
func (w *Writer) Publish(id uint32, value []byte) error {
	return w.store(id, value, 0)
}

// Retire stores an empty value flagged as gone, so watchers learn that the
// field went away. A later Publish brings it back with a higher version.
func (w *Writer) Retire(id uint32) error {
	return w.store(id, nil, lenGone)
}

func (w *Writer) store(id uint32, value []byte, flags uint64) error {
	f, err := w.r.field(id)
	if err != nil {
		return err
	}
	n := len(value)
	if n > w.r.L.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrValueTooBig, n, w.r.L.MaxValueSize)
	}

	// Fill the cell the current version does not select. Readers of that
	// cell belong to an older version and retry when they see the version
	// store below.
	ver := f[fVersion].Load()
	c := fCell0 + 2*int((ver+1)&1)
	loc, ln := f[c].Load(), f[c+1].Load()
	if _, _, ok := w.r.cellBytes(loc, ln); !ok || int(ln>>32) < n || loc == 0 {
		if loc, err = w.alloc(n); err != nil {
			w.ctr[CtrArenaFull]++
			return fmt.Errorf("publish field %d: %w", id, err)
		}
		ln = uint64((n+7)&^7) << 32
	}
	if n > 0 {
		start := w.r.L.ArenaStart(int(loc>>locArenaShift)) + int64(loc&locOffMask)
		copy(w.r.values[start:start+int64(n)], value)
	}
	// A rewrite of the same size leaves both cell words as they are; each
	// skipped atomic store saves a full barrier on amd64.
	if f[c].Load() != loc {
		f[c].Store(loc)
	}
	if newLen := ln&^(lenGone|lenMask) | flags | uint64(n); f[c+1].Load() != newLen {
		f[c+1].Store(newLen)
	}

	// The version store publishes the cell. Readers pair their first and
	// second version loads with it. The value bytes above are plain stores:
	// on amd64 the store below is an XCHG, a full barrier, and on arm64 it
	// is a store-release, so no reader can see the new version before the
	// bytes. Other platforms rely on the same ordering of sync/atomic.
	f[fVersion].Store(ver + 1)
	w.ctr[CtrPublishes]++

	w.notify(id)
	return nil
}

// alloc hands out n bytes (at least 8, rounded up to 8) from the arena.
func (w *Writer) alloc(n int) (uint64, error) {
	size := int64(max((n+7)&^7, 8))
	top := int64(w.hdr[aTop].Load())
	if top < arenaHdr || top > w.r.L.ArenaSize || size > w.r.L.ArenaSize-top {
		return 0, fmt.Errorf("%w: arena %d has %d of %d bytes in use, %d more needed",
			ErrArenaFull, w.arena, top, w.r.L.ArenaSize, size)
	}
	w.hdr[aTop].Store(uint64(top + size))
	w.ctr[CtrAllocBytes] += uint64(size)
	return uint64(w.arena)<<locArenaShift | uint64(top), nil
}

// notify queues id in every slot whose bit is set in the field's watcher
// mask. The mask is loaded after the version store, so a slot that started
// watching before the store is notified, and one that starts later reads
// the value itself when its watch queues the field.
func (w *Writer) notify(id uint32) {
	mask := w.r.mask(id)
	for i := range mask {
		m := mask[i].Load() // pairs with the daemon's Or in SetWatch
		for m != 0 {
			s := i*64 + bits.TrailingZeros64(m)
			m &= m - 1
			if s >= len(w.r.slotv) {
				break
			}
			if w.r.slotv[s].notify(id) {
				w.ctr[CtrCoalesced]++
			} else {
				w.ctr[CtrNotified]++
			}
		}
	}
}

// WriterCounters is a snapshot of an arena's counters.
type WriterCounters struct {
	PID                                       int32
	Publishes, Coalesced, Notified, ArenaFull uint64
	BytesUsed, BytesTotal                     int64
}

// WriterCounters returns a snapshot of arena a's counters.
func (r *Region) WriterCounters(a int) (WriterCounters, error) {
	if a < 0 || a > r.L.Writers {
		return WriterCounters{}, fmt.Errorf("%w: %d not in 0..%d", ErrBadArena, a, r.L.Writers)
	}
	h := r.arenaHdr(a)
	return WriterCounters{
		PID:        int32(h[aPID].Load()),
		Publishes:  h[aCounters+CtrPublishes].Load(),
		Coalesced:  h[aCounters+CtrCoalesced].Load(),
		Notified:   h[aCounters+CtrNotified].Load(),
		ArenaFull:  h[aCounters+CtrArenaFull].Load(),
		BytesUsed:  int64(h[aTop].Load()),
		BytesTotal: r.L.ArenaSize,
	}, nil
}
