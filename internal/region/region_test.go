package region

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldd/fieldd/internal/shm"
)

func TestPublishDrainRead(t *testing.T) {
	r, files := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	rd := mustReader(t, r, 1)
	watch(t, r, 1, 5, 9)

	for i := range 10 {
		id := uint32(5 + i%7) // fields 5 to 11; only 5 and 9 are watched
		if err := w.Publish(id, []byte("hello world, value")); err != nil {
			t.Fatal(err)
		}
	}
	ids := rd.Drain(nil, 100)
	if want := []uint32{5, 9}; !slices.Equal(ids, want) {
		t.Fatalf("Drain = %v, want %v", ids, want)
	}
	if again := rd.Drain(nil, 100); len(again) != 0 {
		t.Fatalf("second Drain = %v, want nothing", again)
	}

	v, ver, gone, err := rd.Take(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != "hello world, value" || ver != 2 || gone {
		t.Errorf("Take(5) = %q, version %d, gone %v; want the value at version 2", v, ver, gone)
	}
	if rd.Pending(5) {
		t.Error("field 5 is still pending after Take")
	}
	if !rd.Pending(9) {
		t.Error("field 9 is not pending before Take")
	}

	// A read-only mapping of the values file reads the same value and
	// cannot get a writer.
	ro, err := Open(files.ValuesRO, files.Slots, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Writable() {
		t.Error("region opened read-only reports Writable")
	}
	v, ver, _, err = ro.ReadInto(5, nil)
	if err != nil || string(v) != "hello world, value" || ver != 2 {
		t.Errorf("read-only ReadInto(5) = %q, %d, %v", v, ver, err)
	}
	if _, err := ro.Writer(1); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Writer on a read-only region: error = %v, want ErrReadOnly", err)
	}
}

func TestCoalescedPublishCounted(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	rd := mustReader(t, r, 0)
	watch(t, r, 0, 3)

	for range 5 {
		if err := w.Publish(3, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	c, err := r.WriterCounters(1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Publishes != 5 || c.Notified != 1 || c.Coalesced != 4 {
		t.Errorf("counters = %+v; want 5 publishes, 1 notified, 4 coalesced", c)
	}
	if ids := rd.Drain(nil, 10); !slices.Equal(ids, []uint32{3}) {
		t.Fatalf("Drain = %v, want [3]", ids)
	}

	// A publish after Take queues the field again; one before it does not.
	if err := w.Publish(3, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if ids := rd.Drain(nil, 10); len(ids) != 0 {
		t.Errorf("Drain before Take = %v, want nothing", ids)
	}
	if _, ver, _, _ := rd.Take(3, nil); ver != 6 {
		t.Errorf("Take version = %d, want 6", ver)
	}
	if err := w.Publish(3, []byte("z")); err != nil {
		t.Fatal(err)
	}
	if ids := rd.Drain(nil, 10); !slices.Equal(ids, []uint32{3}) {
		t.Errorf("Drain after Take and publish = %v, want [3]", ids)
	}
}

func TestReadUnwrittenField(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	v, ver, gone, err := r.ReadInto(7, []byte("old"))
	if err != nil || len(v) != 0 || ver != 0 || gone {
		t.Errorf("ReadInto of a field never written = %q, %d, %v, %v", v, ver, gone, err)
	}
}

func TestBadArguments(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	last := uint32(r.L.MaxFields - 1)

	for _, id := range []uint32{0, last + 1, math.MaxUint32} {
		if err := w.Publish(id, nil); !errors.Is(err, ErrBadID) {
			t.Errorf("Publish(%d) error = %v, want ErrBadID", id, err)
		}
		if _, _, _, err := r.ReadInto(id, nil); !errors.Is(err, ErrBadID) {
			t.Errorf("ReadInto(%d) error = %v, want ErrBadID", id, err)
		}
		if err := r.SetWatch(id, 0, true); !errors.Is(err, ErrBadID) {
			t.Errorf("SetWatch(%d) error = %v, want ErrBadID", id, err)
		}
		if r.Version(id) != 0 || r.Owner(id) != -1 || r.Watched(id, 0) {
			t.Errorf("field %d: Version %d, Owner %d, Watched %v", id, r.Version(id), r.Owner(id), r.Watched(id, 0))
		}
	}
	if err := w.Publish(last, nil); err != nil {
		t.Errorf("Publish to the last field %d: %v", last, err)
	}

	for _, a := range []int{-1, r.L.Writers + 1} {
		if _, err := r.Writer(a); !errors.Is(err, ErrBadArena) {
			t.Errorf("Writer(%d) error = %v, want ErrBadArena", a, err)
		}
		if _, err := r.WriterCounters(a); !errors.Is(err, ErrBadArena) {
			t.Errorf("WriterCounters(%d) error = %v, want ErrBadArena", a, err)
		}
	}
	for _, s := range []int{-1, r.L.MaxSlots} {
		if _, err := r.Slot(s); !errors.Is(err, ErrBadSlot) {
			t.Errorf("Slot(%d) error = %v, want ErrBadSlot", s, err)
		}
		if _, err := r.Reader(s); !errors.Is(err, ErrBadSlot) {
			t.Errorf("Reader(%d) error = %v, want ErrBadSlot", s, err)
		}
		if err := r.SetWatch(1, s, true); !errors.Is(err, ErrBadSlot) {
			t.Errorf("SetWatch(1, %d) error = %v, want ErrBadSlot", s, err)
		}
	}

	err := w.Publish(1, make([]byte, r.L.MaxValueSize+1))
	if !errors.Is(err, ErrValueTooBig) {
		t.Errorf("Publish of %d bytes: error = %v, want ErrValueTooBig", r.L.MaxValueSize+1, err)
	}
	if err := w.Publish(1, make([]byte, r.L.MaxValueSize)); err != nil {
		t.Errorf("Publish of exactly %d bytes: %v", r.L.MaxValueSize, err)
	}
}

func TestArenaFull(t *testing.T) {
	g := testGeometry()
	g.MaxValueSize, g.ArenaSize = 1024, 4096 // room for 3840 value bytes
	r, _ := newRegion(t, g)
	w := mustWriter(t, r, 1)

	var err error
	id := uint32(1)
	for ; id < 10 && err == nil; id++ {
		err = w.Publish(id, make([]byte, 1024))
	}
	if !errors.Is(err, ErrArenaFull) {
		t.Fatalf("publishing 1 KiB values to new fields: error = %v, want ErrArenaFull", err)
	}
	if !strings.Contains(err.Error(), "--arena-size") {
		t.Errorf("error %q does not name --arena-size", err)
	}
	if id-1 != 4 { // three values fit, the fourth does not
		t.Errorf("arena full at field %d, want 4", id-1)
	}
	c, _ := r.WriterCounters(1)
	if c.ArenaFull != 1 {
		t.Errorf("ArenaFull counter = %d, want 1", c.ArenaFull)
	}
	if c.BytesUsed > c.BytesTotal {
		t.Errorf("arena uses %d of %d bytes", c.BytesUsed, c.BytesTotal)
	}
	// The field whose publish failed keeps no version.
	if v := r.Version(4); v != 0 {
		t.Errorf("Version(4) after a failed publish = %d, want 0", v)
	}
}

func TestSameSizeReusesCells(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	publish := func(n int) {
		t.Helper()
		if err := w.Publish(1, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	used := func() int64 {
		c, _ := r.WriterCounters(1)
		return c.BytesUsed
	}

	publish(100)
	publish(100)
	before := used()
	for range 50 {
		publish(100)
		publish(97) // fits the same 104-byte cells
	}
	if after := used(); after != before {
		t.Errorf("arena grew from %d to %d bytes while values kept their size", before, after)
	}
	publish(200)
	if used() == before {
		t.Error("a larger value did not take new arena space")
	}
}

func TestRetireAndRevive(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	rd := mustReader(t, r, 2)
	watch(t, r, 2, 8)

	if err := w.Publish(8, []byte("alive")); err != nil {
		t.Fatal(err)
	}
	rd.Drain(nil, 10)
	rd.Take(8, nil)

	if err := w.Retire(8); err != nil {
		t.Fatal(err)
	}
	if ids := rd.Drain(nil, 10); !slices.Equal(ids, []uint32{8}) {
		t.Fatalf("Drain after Retire = %v, want [8]", ids)
	}
	v, ver, gone, err := rd.Take(8, nil)
	if err != nil || len(v) != 0 || ver != 2 || !gone {
		t.Errorf("Take after Retire = %q, version %d, gone %v, %v; want empty, 2, gone", v, ver, gone, err)
	}

	if err := w.Publish(8, []byte("back")); err != nil {
		t.Fatal(err)
	}
	v, ver, gone, err = rd.Take(8, nil)
	if err != nil || string(v) != "back" || ver != 3 || gone {
		t.Errorf("Take after revival = %q, version %d, gone %v, %v", v, ver, gone, err)
	}
}

func TestRaiseQueuesThroughOverflow(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	watch(t, r, 0, 12)
	watch(t, r, 3, 12)
	watch(t, r, 3, 13)

	r.Raise(12)
	r.Raise(math.MaxUint32) // ignored
	for _, s := range []int{0, 3} {
		rd := mustReader(t, r, s)
		if !rd.HasWork() {
			t.Errorf("slot %d: HasWork after Raise = false", s)
		}
		if ids := rd.Drain(nil, 10); !slices.Equal(ids, []uint32{12}) {
			t.Errorf("slot %d: Drain after Raise = %v, want [12]", s, ids)
		}
		c := rd.Slot().Counters()
		if c.Owner[CtrRebuilds] != 1 {
			t.Errorf("slot %d: rebuilds = %d, want 1", s, c.Owner[CtrRebuilds])
		}
	}
	if ids := mustReader(t, r, 1).Drain(nil, 10); len(ids) != 0 {
		t.Errorf("slot 1 watches nothing but drained %v", ids)
	}
}

func TestSlotResetWipes(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	watch(t, r, 1, idRange(1, 40)...)
	for _, id := range idRange(1, 40) { // overflows the 16-cell ring
		w.Publish(id, []byte("v"))
	}
	s, _ := r.Slot(1)
	if c := s.Counters(); c.Overflows != 1 || c.Pending != 39 {
		t.Fatalf("before Reset: %d overflows, %d pending; want 1, 39", c.Overflows, c.Pending)
	}

	since := time.Unix(1700000000, 5)
	info := SlotInfo{InUse: true, Generation: 7, PID: 1234, UID: 1000, Since: since}
	s.Reset(info)
	if got := s.Info(); got != info {
		t.Errorf("Info() = %+v, want %+v", got, info)
	}
	if c := s.Counters(); c != (SlotCounters{}) {
		t.Errorf("Counters() after Reset = %+v, want zero", c)
	}
	rd := mustReader(t, r, 1)
	if rd.HasWork() {
		t.Error("HasWork after Reset = true")
	}
	if ids := rd.Drain(nil, 100); len(ids) != 0 {
		t.Errorf("Drain after Reset = %v", ids)
	}
}

func TestHeaderAccessors(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	start := time.Unix(1700000123, 0)
	r.SetDaemon(4321, start)
	r.SetIssued(77)
	if err := r.SetOwner(9, 3); err != nil {
		t.Fatal(err)
	}
	r.SetArenaOwner(3, 999, 0)

	if r.DaemonPID() != 4321 {
		t.Errorf("DaemonPID() = %d, want 4321", r.DaemonPID())
	}
	if r.Heartbeat() != start.Unix() {
		t.Errorf("Heartbeat() = %d, want %d", r.Heartbeat(), start.Unix())
	}
	if r.Issued() != 77 {
		t.Errorf("Issued() = %d, want 77", r.Issued())
	}
	if r.Owner(9) != 3 {
		t.Errorf("Owner(9) = %d, want 3", r.Owner(9))
	}
	if c, _ := r.WriterCounters(3); c.PID != 999 {
		t.Errorf("arena 3 PID = %d, want 999", c.PID)
	}
}

// corruptible is a pair of region files copied to the heap, so that a test
// can damage them without touching the mapped originals.
type corruptible struct{ values, slots []byte }

func copyFiles(r *Region) corruptible {
	return corruptible{alignedCopy(r.values), alignedCopy(r.slots)}
}

// setWord stores v in header word i of b.
func setWord(b []byte, i int, v uint64) {
	shm.MustUint64s(b, 0, headerSize/8)[i].Store(v)
}

func TestAttachRejectsCorruptHeader(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	if err := w.Publish(3, []byte("kept")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		corrupt func(c *corruptible)
		want    string
	}{
		{"magic", func(c *corruptible) { setWord(c.values, hMagic, Magic^1) }, "magic"},
		{"layout version", func(c *corruptible) { setWord(c.slots, hLayout, 2) }, "layout version 2, this build reads 1"},
		{"file kind", func(c *corruptible) { c.values, c.slots = c.slots, c.values }, "file kind"},
		{"ready word", func(c *corruptible) { setWord(c.values, hReady, 0) }, "ready word not set"},
		{"geometry", func(c *corruptible) { setWord(c.slots, hMaxFields, 100) }, "--max-fields=100"},
		{"huge geometry word", func(c *corruptible) { setWord(c.values, hArenaSize, 1<<62) }, "--arena-size"},
		{"field count above 2^32", func(c *corruptible) {
			// Wraps to the real count where int has 32 bits.
			setWord(c.values, hMaxFields, 1<<32+256)
			setWord(c.slots, hMaxFields, 1<<32+256)
		}, "--max-fields"},
		{"file size word", func(c *corruptible) { setWord(c.values, hFileSize, uint64(len(c.values)+4096)) }, "header says"},
		{"short file", func(c *corruptible) { c.values = c.values[:len(c.values)-4096] }, "file is"},
		{"header only", func(c *corruptible) { c.slots = c.slots[:100] }, "shorter than the header"},
		{"empty", func(c *corruptible) { c.values = nil }, "shorter than the header"},
		{"geometries differ", func(c *corruptible) { setWord(c.slots, hMaxValueSize, 512) }, "different geometries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := copyFiles(r)
			tt.corrupt(&c)
			_, err := Attach(c.values, c.slots, false)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Attach error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	c := copyFiles(r)
	a, err := Attach(c.values, c.slots, false)
	if err != nil {
		t.Fatalf("Attach of an intact copy: %v", err)
	}
	v, ver, _, err := a.ReadInto(3, nil)
	if err != nil || string(v) != "kept" || ver != 1 {
		t.Errorf("ReadInto on the copy = %q, %d, %v", v, ver, err)
	}
}

func TestReadIntoReportsCorruptLocation(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 1)
	if err := w.Publish(3, []byte("value")); err != nil {
		t.Fatal(err)
	}
	f, _ := r.field(3)
	c := fCell0 + 2*int(f[fVersion].Load()&1)
	good := f[c].Load()

	for name, loc := range map[string]uint64{
		"arena out of range":   uint64(r.L.Writers+1) << locArenaShift,
		"offset in header":     good&^locOffMask | 8,
		"offset past arena":    good&^locOffMask | uint64(r.L.ArenaSize),
		"offset not 8-aligned": good + 4,
	} {
		f[c].Store(loc)
		if _, _, _, err := r.ReadInto(3, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: ReadInto error = %v, want ErrCorrupt", name, err)
		}
	}
	f[c].Store(good)
	if v, _, _, err := r.ReadInto(3, nil); err != nil || !bytes.Equal(v, []byte("value")) {
		t.Errorf("ReadInto after repair = %q, %v", v, err)
	}
}

func TestDrainDropsOutOfRangeIDs(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	rd := mustReader(t, r, 0)
	s := rd.Slot()
	bad := []uint32{0, uint32(r.L.MaxFields), 1 << 31, math.MaxUint32}
	for _, id := range append(bad, 7) {
		if !s.ring.Append(id) {
			t.Fatalf("Append(%d) = false", id)
		}
	}

	if ids := rd.Drain(nil, 100); !slices.Equal(ids, []uint32{7}) {
		t.Errorf("Drain = %v, want [7]", ids)
	}
	if n := s.Counters().Owner[CtrBadIDs]; n != uint64(len(bad)) {
		t.Errorf("bad IDs counted = %d, want %d", n, len(bad))
	}
	for _, id := range bad {
		if _, _, _, err := rd.Take(id, nil); !errors.Is(err, ErrBadID) {
			t.Errorf("Take(%d) error = %v, want ErrBadID", id, err)
		}
	}
}
