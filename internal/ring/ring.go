// Package ring implements the many-producer, one-consumer ring of field IDs
// that each slot holds in shared memory.
//
// Every cell is one 64-bit word: a stamp in the high half and a field ID in
// the low half. The stamp is the lap number (position / capacity, modulo
// 2^31) shifted left by one, with the low bit set when the cell is full.
//
//	63           33  32  31                0
//	+--------------+----+-------------------+
//	| lap mod 2^31 |full|     field ID      |
//	+--------------+----+-------------------+
//
// A producer claims and fills a cell with one compare-and-swap from "empty
// for lap L" to "full for lap L", so a producer killed at any instruction
// leaves either no trace or a complete entry: never a hole. The shared tail
// is only a hint that producers move forward together; the consumer never
// reads it and follows the stamps instead. All-zero memory is an empty ring
// at position 0.
package ring

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
)

const (
	lapBits = 31
	lapMask = 1<<lapBits - 1

	// maxTries bounds the compare-and-swap loop of Append. Each failed try
	// means another producer made progress, so giving up only happens under
	// heavy contention, and the caller then raises the overflow flag, which
	// makes the consumer rescan the pending bitmap: nothing is lost.
	maxTries = 64
)

// ErrCapacity is returned by [New] for a capacity that is not a power of two
// in range.
var ErrCapacity = errors.New("ring: capacity must be a power of two from 2 to 2^30")

// Ring is a view of a shared ring: the tail word and the cells.
type Ring struct {
	tail  *atomic.Uint64 // written by producers only
	cells []atomic.Uint64
	mask  uint64
	shift uint
}

// New returns a ring over tail and cells. The capacity is len(cells).
func New(tail *atomic.Uint64, cells []atomic.Uint64) (*Ring, error) {
	n := len(cells)
	if n < 2 || n > 1<<30 || n&(n-1) != 0 {
		return nil, fmt.Errorf("%w: got %d", ErrCapacity, n)
	}
	return &Ring{
		tail:  tail,
		cells: cells,
		mask:  uint64(n - 1),
		shift: uint(bits.TrailingZeros(uint(n))),
	}, nil
}

// Cap returns the number of cells.
func (r *Ring) Cap() int { return len(r.cells) }

func (r *Ring) lap(pos uint64) uint32 { return uint32(pos>>r.shift) & lapMask }

func emptyCell(lap uint32) uint64 { return uint64(lap<<1) << 32 }

func fullCell(lap, id uint32) uint64 { return uint64(lap<<1|1)<<32 | uint64(id) }

// Append puts id at the tail and reports whether it did. False means the
// ring is full (or contended beyond [maxTries]); the caller must then raise
// the slot's overflow flag. Append never waits for the consumer.
func (r *Ring) Append(id uint32) bool {
	for range maxTries {
		t := r.tail.Load()
		lap := r.lap(t)
		cell := &r.cells[t&r.mask]

		// The claim and the publish of the entry are this one CAS; it pairs
		// with the consumer's Store of emptyCell in Drain.
		if cell.CompareAndSwap(emptyCell(lap), fullCell(lap, id)) {
			r.tail.CompareAndSwap(t, t+1)
			return true
		}

		v := cell.Load()
		stamp := uint32(v >> 32)
		clap, full := stamp>>1, stamp&1 == 1
		switch {
		case clap == lap && full:
			// Another producer filled cell t but may have died before moving
			// the tail: move it for them.
			r.tail.CompareAndSwap(t, t+1)
		case clap == (lap-1)&lapMask && full:
			// The consumer has not yet taken the entry of the previous lap.
			return false
		case clap == (lap+1)&lapMask:
			// The consumer already took the entry at t, so the tail belongs
			// past t. If that entry's producer died before moving the tail,
			// no other producer moves it, so move it here.
			r.tail.CompareAndSwap(t, t+1)
		default:
			// The tail moved on since it was loaded, or the consumer freed the
			// cell between the CAS and the load: try again.
		}
	}
	return false
}

// Drain moves up to max entries from head onwards to dst and returns the
// new head and dst. Only the single consumer calls it, with the head it got
// from the previous call. A cell whose stamp is not "full for the lap of
// head" ends the drain, whatever it holds, so arbitrary cell contents can
// stop a drain early but never make it loop or index out of range. Field
// IDs are returned as stored; the caller checks their range.
func (r *Ring) Drain(head uint64, dst []uint32, max int) (uint64, []uint32) {
	for range max {
		lap := r.lap(head)
		cell := &r.cells[head&r.mask]
		v := cell.Load() // pairs with the producer's CAS in Append
		if uint32(v>>32) != lap<<1|1 {
			break
		}
		dst = append(dst, uint32(v))
		// Release the cell to producers of the next lap.
		cell.Store(emptyCell((lap + 1) & lapMask))
		head++
	}
	return head, dst
}

// Ready reports whether the cell at head holds an entry for the consumer.
func (r *Ring) Ready(head uint64) bool {
	v := r.cells[head&r.mask].Load()
	return uint32(v>>32) == r.lap(head)<<1|1
}

// Reset empties the ring and places both ends at pos. Every cell is
// stamped empty for the lap in which position pos or later next reaches
// it. It must only run while no producer or consumer uses the ring.
func (r *Ring) Reset(pos uint64) {
	for i := range r.cells {
		p := pos + ((uint64(i) - pos) & r.mask)
		r.cells[i].Store(emptyCell(r.lap(p)))
	}
	r.tail.Store(pos)
}

// Tail returns the shared tail position, for statistics only.
func (r *Ring) Tail() uint64 { return r.tail.Load() }
