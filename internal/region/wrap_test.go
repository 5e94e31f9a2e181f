package region

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestPositionWrapDeliversEveryField starts a slot's ring a few positions
// below the wrap of the 64-bit position, where the lap number wraps too, or
// below a wrap of the 31-bit lap number alone. It publishes 100 distinct
// fields in batches that fit the ring and drains after each batch. Every
// field arrives once, in publish order, with no overflow.
func TestPositionWrapDeliversEveryField(t *testing.T) {
	for _, ringSize := range []int{2, 8, 16} {
		starts := map[string]uint64{
			"position": math.MaxUint64 - 3,
			"lap":      uint64(ringSize)<<31 - 3,
		}
		for name, start := range starts {
			t.Run(fmt.Sprintf("%s/ring%d", name, ringSize), func(t *testing.T) {
				g := testGeometry()
				g.RingSize = ringSize
				r, _ := newRegion(t, g)
				w := mustWriter(t, r, 1)
				s, _ := r.Slot(0)
				s.ResetRingAt(start)
				rd := mustReader(t, r, 0)
				ids := idRange(1, 101)
				watch(t, r, 0, ids...)

				delivered := map[uint32]uint64{}
				var got []uint32
				for batch := range slices.Chunk(ids, ringSize) {
					for _, id := range batch {
						if err := w.Publish(id, []byte{byte(id)}); err != nil {
							t.Fatal(err)
						}
					}
					got = rd.Drain(got[:0], 1000)
					if !slices.Equal(got, batch) {
						t.Fatalf("Drain = %v, want %v", got, batch)
					}
					for _, id := range got {
						v, ver, _, err := rd.Take(id, nil)
						if err != nil || len(v) != 1 || v[0] != byte(id) {
							t.Fatalf("Take(%d) = %v, %v", id, v, err)
						}
						delivered[id] = ver
					}
				}

				if len(delivered) != 100 {
					t.Errorf("delivered %d fields, want 100", len(delivered))
				}
				c := s.Counters()
				if c.Overflows != 0 {
					t.Errorf("overflows = %d, want 0", c.Overflows)
				}
				if want := start + 100; c.Head != want || c.Tail != want {
					t.Errorf("head %d, tail %d; want both %d", c.Head, c.Tail, want)
				}
			})
		}
	}
}

// TestPositionWrapWithOverflow publishes 100 distinct fields at once into
// a ring of 8 cells placed just below the position wrap. The ring overflows,
// the bitmap scan recovers every field, and afterwards the wrapped ring
// takes new entries again without overflow.
//
// A drain that follows an overflow returns the IDs still in the ring and
// then every pending ID, so IDs may repeat within that one drain. The
// callers of [Reader.Drain] deduplicate, as it documents.
func TestPositionWrapWithOverflow(t *testing.T) {
	g := testGeometry()
	g.RingSize = 8
	r, _ := newRegion(t, g)
	w := mustWriter(t, r, 1)
	s, _ := r.Slot(0)
	s.ResetRingAt(math.MaxUint64 - 3)
	rd := mustReader(t, r, 0)
	ids := idRange(1, 101)
	watch(t, r, 0, ids...)

	for _, id := range ids {
		if err := w.Publish(id, []byte{byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if c := s.Counters(); c.Overflows != 1 {
		t.Fatalf("overflows = %d, want 1", c.Overflows)
	}
	got := rd.Drain(nil, 1000)
	seen := map[uint32]bool{}
	for _, id := range got {
		seen[id] = true
		if _, _, _, err := rd.Take(id, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 100 {
		t.Fatalf("drained %d distinct fields, want 100", len(seen))
	}
	if more := rd.Drain(nil, 1000); len(more) != 0 {
		t.Fatalf("second Drain = %v, want nothing", more)
	}

	for _, id := range ids[:8] {
		if err := w.Publish(id, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := rd.Drain(nil, 1000); !slices.Equal(got, ids[:8]) {
		t.Errorf("Drain after the wrap = %v, want %v", got, ids[:8])
	}
	c := s.Counters()
	if c.Overflows != 1 {
		t.Errorf("overflows after the wrap = %d, want still 1", c.Overflows)
	}
	if c.Head >= math.MaxUint64-3 {
		t.Errorf("head %d did not wrap", c.Head)
	}
}
