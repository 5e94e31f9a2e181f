package region

import (
	"fmt"
	"testing"
)

// benchFields is the number of distinct fields the notification benchmarks
// cycle through. It equals the ring size, so one cycle fills each ring
// without overflow.
const benchFields = 4096

func benchGeometry() Geometry {
	return Geometry{
		MaxFields:    benchFields + 64,
		MaxSlots:     16,
		RingSize:     benchFields,
		MaxValueSize: 1024,
		Writers:      1,
		ArenaSize:    1 << 20,
	}
}

// benchRegion returns a region whose fields 1 to benchFields are watched
// by slots 0 to slots-1, the writer of arena 1, and a reader per slot.
func benchRegion(b *testing.B, slots int) (*Region, *Writer, []*Reader) {
	r, _ := newRegion(b, benchGeometry())
	var readers []*Reader
	for s := range slots {
		watch(b, r, s, idRange(1, benchFields+1)...)
		readers = append(readers, mustReader(b, r, s))
	}
	return r, mustWriter(b, r, 1), readers
}

// drainAll empties each reader's ring and clears the pending bits of what
// it drained, as Take would, without reading the values.
func drainAll(readers []*Reader, ids []uint32) []uint32 {
	for _, rd := range readers {
		ids = rd.Drain(ids[:0], benchFields)
		for _, id := range ids {
			rd.s.pending.Clear(id)
		}
	}
	return ids
}

// checkNoOverflow fails the benchmark if any reader's ring overflowed,
// which would mean it measured the overflow path instead of appends.
func checkNoOverflow(b *testing.B, readers []*Reader) {
	for _, rd := range readers {
		if c := rd.Slot().Counters(); c.Overflows != 0 {
			b.Fatalf("slot %d overflowed %d times", rd.Slot().Index, c.Overflows)
		}
	}
}

// BenchmarkPublish measures Writer.Publish of an 8-byte value, unless the
// name gives another size.
func BenchmarkPublish(b *testing.B) {
	value := make([]byte, 8)

	for _, size := range []int{8, 64} {
		b.Run(fmt.Sprintf("unwatched/%dB", size), func(b *testing.B) {
			r, w, _ := benchRegion(b, 0)
			v := make([]byte, size)
			b.ReportAllocs()
			for b.Loop() {
				w.Publish(1, v)
			}
			if r.Version(1) == 0 {
				b.Fatal("no publish took effect")
			}
		})
	}

	// The pending bit stays set, so every publish after the first only
	// loads it and counts a coalesced notification.
	b.Run("coalesced", func(b *testing.B) {
		r, w, readers := benchRegion(b, 1)
		b.ReportAllocs()
		for b.Loop() {
			w.Publish(1, value)
		}
		if c, _ := r.WriterCounters(1); c.Notified != 1 {
			b.Fatalf("%d notifications queued, want 1", c.Notified)
		}
		checkNoOverflow(b, readers)
	})

	// Every publish goes to a field whose pending bit is clear in every
	// watching slot, so each one sets the bit and appends to each ring. The
	// readers drain and clear the bits outside the timer after each round
	// of benchFields publishes.
	for _, slots := range []int{1, 16} {
		b.Run(fmt.Sprintf("first/%dslots", slots), func(b *testing.B) {
			r, w, readers := benchRegion(b, slots)
			var ids []uint32
			id := uint32(1)
			b.ReportAllocs()
			for b.Loop() {
				w.Publish(id, value)
				if id++; id > benchFields {
					b.StopTimer()
					ids = drainAll(readers, ids)
					id = 1
					b.StartTimer()
				}
			}
			checkNoOverflow(b, readers)
			if c, _ := r.WriterCounters(1); c.Coalesced != 0 {
				b.Fatalf("%d publishes coalesced, want 0", c.Coalesced)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*slots), "ns/notification")
		})
	}

	// One notification end to end in one thread: publish, drain the ring
	// entry, and take the value, which clears the pending bit.
	b.Run("cycle", func(b *testing.B) {
		_, w, readers := benchRegion(b, 1)
		rd := readers[0]
		ids := make([]uint32, 0, 4)
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			w.Publish(1, value)
			ids = rd.Drain(ids[:0], 4)
			buf, _, _, _ = rd.Take(ids[0], buf)
		}
		checkNoOverflow(b, readers)
	})
}

// BenchmarkDrain measures Reader.Drain of a full ring of benchFields
// entries. Filling the ring and clearing the pending bits are untimed.
func BenchmarkDrain(b *testing.B) {
	_, w, readers := benchRegion(b, 1)
	rd := readers[0]
	value := make([]byte, 8)
	ids := make([]uint32, 0, benchFields)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for id := uint32(1); id <= benchFields; id++ {
			w.Publish(id, value)
		}
		b.StartTimer()

		ids = rd.Drain(ids[:0], benchFields)

		b.StopTimer()
		if len(ids) != benchFields {
			b.Fatalf("drained %d entries, want %d", len(ids), benchFields)
		}
		for _, id := range ids {
			rd.s.pending.Clear(id)
		}
		b.StartTimer()
	}
	entries := float64(b.N) * benchFields
	b.ReportMetric(entries/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/entries, "ns/entry")
}

// BenchmarkRead measures ReadInto of a value into a buffer that fits it.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{8, 64, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			r, w, _ := benchRegion(b, 0)
			if err := w.Publish(1, fillValue(nil, 1, size)); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, size)
			b.ReportAllocs()
			for b.Loop() {
				buf, _, _, _ = r.ReadInto(1, buf)
			}
			if err := checkValue(buf, 1, size); err != nil {
				b.Fatal(err)
			}
		})
	}
}
