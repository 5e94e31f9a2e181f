package region

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzGeometry is the smallest useful region: 20 KiB of values and 12 KiB
// of slots.
func fuzzGeometry() Geometry {
	return Geometry{MaxFields: 64, MaxSlots: 2, RingSize: 4, MaxValueSize: 64, Writers: 1, ArenaSize: 4096}
}

// fuzzRegion creates a region of g with values published to fields 1 to
// 9, watched by both slots so that slot 0's ring overflows, and returns
// heap copies of its files.
func fuzzRegion(tb testing.TB, g Geometry) corruptible {
	r, _ := newRegion(tb, g)
	w := mustWriter(tb, r, 1)
	watch(tb, r, 0, idRange(1, 10)...)
	watch(tb, r, 1, 2, 3)
	for id := uint32(1); id < 10; id++ {
		for ver := range uint64(id % 3) {
			if err := w.Publish(id, fillValue(nil, ver+1, int(id*7))); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := w.Retire(9); err != nil {
		tb.Fatal(err)
	}
	return copyFiles(r)
}

// overlay returns a heap copy of base with hdr over its start and body at
// offset headerSize. When hdr holds a file size word of at most 1 MiB, the
// copy has that size, so that inputs can describe other geometries.
func overlay(base, hdr, body []byte) []byte {
	size := len(base)
	if len(hdr) >= (hFileSize+1)*8 {
		if fs := binary.NativeEndian.Uint64(hdr[hFileSize*8:]); fs <= 1<<20 {
			size = int(fs)
		}
	}
	b := alignedCopy(make([]byte, size))
	copy(b, base)
	copy(b, hdr[:min(len(hdr), headerSize)])
	if size > headerSize {
		copy(b[headerSize:], body)
	}
	return b
}

// FuzzAttach gives Attach region files whose headers, field table and
// first slot hold arbitrary bytes. Attach must return an error wrapping
// ErrInvalid or a region whose read, drain, take and publish paths work
// without a panic and return only values and IDs in range.
func FuzzAttach(f *testing.F) {
	base := fuzzRegion(f, fuzzGeometry())
	other := fuzzRegion(f, Geometry{MaxFields: 128, MaxSlots: 3, RingSize: 8, MaxValueSize: 200, Writers: 2, ArenaSize: 8192})
	table := func(c corruptible) ([]byte, []byte) {
		return c.values[headerSize : 2*headerSize], c.slots[headerSize : 2*headerSize]
	}

	f.Add([]byte{}, []byte{}, []byte{}, []byte{})
	vt, st := table(base)
	f.Add(base.values[:512], base.slots[:512], vt, st)
	vt, st = table(other)
	f.Add(other.values[:512], other.slots[:512], vt, st)
	f.Add(other.values[:512], other.slots[:512], []byte{}, []byte{})
	f.Add(base.values[:100], base.slots[:512], []byte{}, bytes.Repeat([]byte{0xff}, 4096))

	f.Fuzz(func(t *testing.T, vhdr, shdr, vbody, sbody []byte) {
		values, slots := overlay(base.values, vhdr, vbody), overlay(base.slots, shdr, sbody)
		r, err := Attach(values, slots, true)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Attach error %v does not wrap ErrInvalid", err)
			}
			return
		}
		exerciseRegion(t, r)
	})
}

// exerciseRegion runs every read, drain and publish path over r once.
func exerciseRegion(t *testing.T, r *Region) {
	buf := make([]byte, 0, 64)
	for id := uint32(0); id <= uint32(r.L.MaxFields); id++ {
		v, _, _, err := r.ReadInto(id, buf)
		if err == nil && len(v) > r.L.MaxValueSize {
			t.Fatalf("ReadInto(%d) returned %d bytes, more than the maximum %d", id, len(v), r.L.MaxValueSize)
		}
		r.Owner(id)
		r.Watched(id, 0)
	}

	for s := range r.L.MaxSlots {
		rd, err := r.Reader(s)
		if err != nil {
			t.Fatal(err)
		}
		rd.HasWork()
		ids := rd.Drain(nil, 2*r.L.RingSize)
		if len(ids) > 2*r.L.RingSize+r.L.MaxFields {
			t.Fatalf("slot %d: Drain returned %d IDs", s, len(ids))
		}
		for _, id := range ids {
			if id == 0 || int(id) >= r.L.MaxFields {
				t.Fatalf("slot %d: Drain returned ID %d, out of range", s, id)
			}
			rd.Take(id, buf)
		}
		rd.Slot().Counters()
		rd.Slot().Info()
	}

	for a := 0; a <= r.L.Writers; a++ {
		if _, err := r.WriterCounters(a); err != nil {
			t.Fatal(err)
		}
	}
	w, err := r.Writer(r.L.Writers)
	if err != nil {
		t.Fatal(err)
	}
	w.Publish(1, []byte("fuzz"))
	w.Publish(uint32(r.L.MaxFields-1), make([]byte, r.L.MaxValueSize))
	w.Retire(2)
	r.Raise(1)
}

// FuzzReadInto stores arbitrary version and value-cell words in one field
// entry of a valid region, with arbitrary bytes in the arena, and reads the
// field. ReadInto must return a known error, or exactly the bytes at the
// location the cell of that version names.
func FuzzReadInto(f *testing.F) {
	base := fuzzRegion(f, fuzzGeometry())
	r, err := Attach(base.values, base.slots, true)
	if err != nil {
		f.Fatal(err)
	}
	for id := uint32(1); id < 10; id++ {
		e, _ := r.field(id)
		f.Add(id, e[fVersion].Load(), e[fCell0].Load(), e[fCell0+1].Load(), e[fCell0+2].Load(), e[fCell0+3].Load(), []byte("arena bytes"))
	}
	f.Add(uint32(5), uint64(1), uint64(0), uint64(0), uint64(1)<<48|256, uint64(64)<<32|64, []byte{})
	f.Add(uint32(5), uint64(1), uint64(0), uint64(0), uint64(1)<<48|4088, uint64(8)<<32|8, []byte{})
	f.Add(uint32(1<<31), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), []byte{})

	arena := r.L.ArenaStart(1) + arenaHdr
	f.Fuzz(func(t *testing.T, id uint32, ver, loc0, len0, loc1, len1 uint64, data []byte) {
		if id < 1<<31 {
			id %= uint32(r.L.MaxFields) + 1 // mostly valid IDs, and 0 and MaxFields
		}
		copy(r.values[arena:r.L.ValuesSize], data)
		e, err := r.field(id)
		if err == nil {
			for i, w := range []uint64{ver, 0, loc0, len0, loc1, len1} {
				e[i].Store(w)
			}
		}

		v, gotVer, _, err := r.ReadInto(id, nil)
		switch {
		case errors.Is(err, ErrBadID) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrContended):
			return
		case err != nil:
			t.Fatalf("ReadInto(%d): unexpected error %v", id, err)
		case gotVer != ver:
			t.Fatalf("ReadInto(%d) version = %d, stored %d", id, gotVer, ver)
		case ver == 0:
			if len(v) != 0 {
				t.Fatalf("ReadInto(%d) of version 0 returned %d bytes", id, len(v))
			}
			return
		}

		loc, ln := loc0, len0
		if ver&1 == 1 {
			loc, ln = loc1, len1
		}
		n := int(ln & lenMask)
		start := r.L.ArenaStart(int(loc>>locArenaShift)) + int64(loc&locOffMask)
		if len(v) != n {
			t.Fatalf("ReadInto(%d) returned %d bytes, the cell says %d", id, len(v), n)
		}
		if n > 0 && !bytes.Equal(v, r.values[start:start+int64(n)]) {
			t.Fatalf("ReadInto(%d) returned bytes that differ from the arena at %d", id, start)
		}
	})
}
