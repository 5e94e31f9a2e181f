package ring

import (
	"encoding/binary"
	"math"
	"sync/atomic"
	"testing"
)

// FuzzRingDrain drains a ring whose cells hold arbitrary words, as a
// corrupt or hostile slot file would. Drain must return at most max IDs,
// advance the head by exactly the number returned, and never panic.
func FuzzRingDrain(f *testing.F) {
	f.Add(uint8(0), uint64(0), uint64(0), 16, []byte{})
	f.Add(uint8(2), uint64(0), uint64(3), 8, validCells(8, 0, 3))
	f.Add(uint8(2), uint64(math.MaxUint64-1), uint64(1), 8, validCells(8, math.MaxUint64-1, 3))
	f.Add(uint8(1), uint64(4<<lapBits-2), uint64(4<<lapBits+1), -1, validCells(4, 4<<lapBits-2, 3))
	f.Add(uint8(3), uint64(5), uint64(5), 1000, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, shift uint8, head, tail uint64, max int, raw []byte) {
		n := 2 << (shift % 10)
		words := make([]atomic.Uint64, n+1)
		words[0].Store(tail)
		for i := 1; i <= n && len(raw) >= 8; i++ {
			words[i].Store(binary.LittleEndian.Uint64(raw))
			raw = raw[8:]
		}
		r, err := New(&words[0], words[1:])
		if err != nil {
			t.Fatal(err)
		}

		max %= 4 * n // keeps each run short; negative values stay negative
		newHead, got := r.Drain(head, nil, max)
		if len(got) > max && len(got) > 0 {
			t.Fatalf("Drain(max %d) returned %d IDs", max, len(got))
		}
		if newHead-head != uint64(len(got)) {
			t.Fatalf("head moved from %d to %d for %d IDs", head, newHead, len(got))
		}

		// Appends must end too, whatever the cells hold.
		for id := range uint32(3) {
			r.Append(id)
		}
		r.Ready(newHead)
	})
}

// validCells returns the bytes of n cells after count appends from a ring
// reset at pos, which seeds the fuzzer with well-formed stamps.
func validCells(n int, pos uint64, count int) []byte {
	words := make([]atomic.Uint64, n+1)
	r, err := New(&words[0], words[1:])
	if err != nil {
		panic(err)
	}
	r.Reset(pos)
	for i := range count {
		r.Append(uint32(i + 1))
	}
	var b []byte
	for i := 1; i <= n; i++ {
		b = binary.LittleEndian.AppendUint64(b, words[i].Load())
	}
	return b
}
