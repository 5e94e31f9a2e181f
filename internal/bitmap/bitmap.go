// Package bitmap implements the pending bitmap of a slot: one bit per field
// ID over a view of shared 64-bit words. Writers set bits, and only the
// slot's owner clears them.
package bitmap

import (
	"math/bits"
	"sync/atomic"
)

// Bitmap is a fixed-size set of bit indexes over shared words. The zero
// value is an empty bitmap of length 0. A Bitmap is a view: copies share
// the same words.
type Bitmap struct {
	words []atomic.Uint64
}

// New returns a bitmap over words, 64 bits per word.
func New(words []atomic.Uint64) Bitmap { return Bitmap{words: words} }

// Len returns the number of bits.
func (b Bitmap) Len() int { return len(b.words) * 64 }

// IsSet reports whether bit i is set. An index out of range is never set.
func (b Bitmap) IsSet(i uint32) bool {
	w := int(i >> 6)
	if w >= len(b.words) {
		return false
	}
	return b.words[w].Load()&(1<<(i&63)) != 0
}

// Set sets bit i and reports whether this call changed it from clear to
// set. A plain load comes first, so that setting an already set bit leaves
// the cache line shared instead of taking it exclusive. Out of range
// indexes are ignored and report false.
func (b Bitmap) Set(i uint32) bool {
	w := int(i >> 6)
	if w >= len(b.words) {
		return false
	}
	m := uint64(1) << (i & 63)
	word := &b.words[w]
	if word.Load()&m != 0 {
		return false
	}
	// Pairs with the And in Clear: whichever of the two comes first in the
	// word's modification order decides whether this call queues the ID.
	return word.Or(m)&m == 0
}

// Clear clears bit i and reports whether it was set.
func (b Bitmap) Clear(i uint32) bool {
	w := int(i >> 6)
	if w >= len(b.words) {
		return false
	}
	m := uint64(1) << (i & 63)
	return b.words[w].And(^m)&m != 0
}

// Next returns the lowest set bit at index from or above, and false when
// there is none. Callers resume a scan by passing the last index plus one.
func (b Bitmap) Next(from uint32) (uint32, bool) {
	w := int(from >> 6)
	if w >= len(b.words) {
		return 0, false
	}
	word := b.words[w].Load() &^ (1<<(from&63) - 1)
	for {
		if word != 0 {
			return uint32(w<<6 + bits.TrailingZeros64(word)), true
		}
		w++
		if w >= len(b.words) {
			return 0, false
		}
		word = b.words[w].Load()
	}
}

// AppendSet appends the index of every set bit to dst, in increasing order.
func (b Bitmap) AppendSet(dst []uint32) []uint32 {
	for w := range b.words {
		word := b.words[w].Load()
		for word != 0 {
			dst = append(dst, uint32(w<<6+bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
	return dst
}

// Count returns the number of set bits.
func (b Bitmap) Count() int {
	n := 0
	for w := range b.words {
		n += bits.OnesCount64(b.words[w].Load())
	}
	return n
}

// Reset clears every bit. Only the owner may call it, and only while no
// writer can reach the bitmap.
func (b Bitmap) Reset() {
	for w := range b.words {
		b.words[w].Store(0)
	}
}
