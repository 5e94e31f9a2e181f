package region

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fieldd/fieldd/internal/shm"
)

// File names inside the runtime directory.
const (
	ValuesFile = "values"
	SlotsFile  = "slots"
)

// Files are the open region files the daemon hands out.
type Files struct {
	Values   *os.File // read-write
	ValuesRO *os.File // read-only, for readers
	Slots    *os.File // read-write
}

// Close closes every file.
func (f *Files) Close() error {
	if f == nil {
		return nil
	}
	var first error
	for _, x := range []*os.File{f.Values, f.ValuesRO, f.Slots} {
		if x != nil {
			if err := x.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Create builds both region files in dir for geometry g: reserve, map,
// write the header, and store the ready word last. It replaces files that
// exist. A file system too small for the region gives an error naming both
// sizes and the flags that shrink it.
func Create(dir string, g Geometry, pid int) (_ *Region, _ *Files, err error) {
	l, err := NewLayout(g)
	if err != nil {
		return nil, nil, err
	}
	files := &Files{}
	var r *Region
	defer func() {
		if err != nil {
			files.Close()
			if r != nil {
				r.Close()
			}
		}
	}()

	vpath, spath := filepath.Join(dir, ValuesFile), filepath.Join(dir, SlotsFile)
	os.Remove(vpath)
	os.Remove(spath)
	if files.Values, err = shm.Create(vpath, l.ValuesSize); err != nil {
		return nil, nil, sizeHint(err, l)
	}
	if files.Slots, err = shm.Create(spath, l.SlotsSize); err != nil {
		return nil, nil, sizeHint(err, l)
	}
	if files.ValuesRO, err = shm.OpenOwned(vpath, os.O_RDONLY, 0); err != nil {
		return nil, nil, fmt.Errorf("open %s read-only: %w", vpath, err)
	}

	vm, err := shm.Map(files.Values, true)
	if err != nil {
		return nil, nil, err
	}
	sm, err := shm.Map(files.Slots, true)
	if err != nil {
		vm.Close()
		return nil, nil, err
	}
	r, err = build(l, vm.Bytes(), sm.Bytes(), true)
	if err != nil {
		vm.Close()
		sm.Close()
		return nil, nil, err
	}
	r.maps = []*shm.Mapping{vm, sm}

	r.writeHeader(r.vhdr, KindValues, l.ValuesSize, pid)
	r.writeHeader(r.shdr, KindSlots, l.SlotsSize, pid)
	for i := range r.slotv {
		r.slotv[i].Reset(SlotInfo{})
	}
	// The ready words go last: a process that sees them sees the whole
	// layout above.
	r.vhdr[hReady].Store(readyWord(KindValues))
	r.shdr[hReady].Store(readyWord(KindSlots))
	return r, files, nil
}

func sizeHint(err error, l Layout) error {
	return fmt.Errorf("%w (the region needs %d bytes in all; lower --max-fields, --max-clients, --ring-size, --max-writers or --arena-size, or use a larger --runtime-dir file system)",
		err, l.Size())
}

// writeHeader stores every header word but the ready word.
func (r *Region) writeHeader(h []atomic.Uint64, kind uint64, size int64, pid int) {
	g := r.L.Geometry
	h[hMagic].Store(Magic)
	h[hLayout].Store(LayoutVersion)
	h[hKind].Store(kind)
	h[hMaxFields].Store(uint64(g.MaxFields))
	h[hMaxSlots].Store(uint64(g.MaxSlots))
	h[hRingSize].Store(uint64(g.RingSize))
	h[hMaxValueSize].Store(uint64(g.MaxValueSize))
	h[hArenas].Store(uint64(g.Writers + 1))
	h[hArenaSize].Store(uint64(g.ArenaSize))
	h[hFileSize].Store(uint64(size))
	h[hDaemonPID].Store(uint64(pid))
}

func (r *Region) arenaHdr(a int) []atomic.Uint64 {
	off := r.L.ArenaStart(a)
	return unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&r.values[off])), arenaHdr/8)
}

// Open maps region files handed over as fds and validates them. writable
// maps the values file read-write, which needs a read-write fd.
func Open(values, slots *os.File, writable bool) (*Region, error) {
	vm, err := shm.Map(values, writable)
	if err != nil {
		return nil, err
	}
	sm, err := shm.Map(slots, true)
	if err != nil {
		vm.Close()
		return nil, err
	}
	r, err := Attach(vm.Bytes(), sm.Bytes(), writable)
	if err != nil {
		vm.Close()
		sm.Close()
		return nil, err
	}
	r.maps = []*shm.Mapping{vm, sm}
	return r, nil
}

// Reopen maps the region files left in dir by an earlier daemon and
// returns them if they are valid and have geometry g. Values, versions and
// owners survive; the caller resets the slots.
func Reopen(dir string, g Geometry) (*Region, *Files, error) {
	vpath, spath := filepath.Join(dir, ValuesFile), filepath.Join(dir, SlotsFile)
	files := &Files{}
	var err error
	fail := func(e error) (*Region, *Files, error) {
		files.Close()
		return nil, nil, e
	}
	if files.Values, err = shm.OpenOwned(vpath, os.O_RDWR, 0); err != nil {
		return fail(err)
	}
	if files.ValuesRO, err = shm.OpenOwned(vpath, os.O_RDONLY, 0); err != nil {
		return fail(err)
	}
	if files.Slots, err = shm.OpenOwned(spath, os.O_RDWR, 0); err != nil {
		return fail(err)
	}
	r, err := Open(files.Values, files.Slots, true)
	if err != nil {
		return fail(err)
	}
	if r.L.Geometry != g {
		r.Close()
		return fail(fmt.Errorf("%w: geometry %+v differs from the requested %+v", ErrInvalid, r.L.Geometry, g))
	}
	return r, files, nil
}

// RebuildSlots reopens a valid values file of geometry g in dir and builds
// a new slots file beside it, so values and versions survive a slots file
// that fails validation. The caller has moved the old slots file aside.
func RebuildSlots(dir string, g Geometry, pid int) (_ *Region, _ *Files, err error) {
	l, err := NewLayout(g)
	if err != nil {
		return nil, nil, err
	}
	vpath, spath := filepath.Join(dir, ValuesFile), filepath.Join(dir, SlotsFile)
	files := &Files{}
	var maps []*shm.Mapping
	defer func() {
		if err != nil {
			files.Close()
			for _, m := range maps {
				m.Close()
			}
		}
	}()
	if files.Values, err = shm.OpenOwned(vpath, os.O_RDWR, 0); err != nil {
		return nil, nil, err
	}
	if files.ValuesRO, err = shm.OpenOwned(vpath, os.O_RDONLY, 0); err != nil {
		return nil, nil, err
	}
	vm, err := shm.Map(files.Values, true)
	if err != nil {
		return nil, nil, err
	}
	maps = append(maps, vm)
	lv, err := readHeader(vm.Bytes(), KindValues)
	if err != nil {
		return nil, nil, fmt.Errorf("values file: %w", err)
	}
	if lv.Geometry != g {
		return nil, nil, fmt.Errorf("%w: values file geometry %+v differs from the requested %+v", ErrInvalid, lv.Geometry, g)
	}

	os.Remove(spath)
	if files.Slots, err = shm.Create(spath, l.SlotsSize); err != nil {
		return nil, nil, sizeHint(err, l)
	}
	sm, err := shm.Map(files.Slots, true)
	if err != nil {
		return nil, nil, err
	}
	maps = append(maps, sm)
	r, err := build(l, vm.Bytes(), sm.Bytes(), true)
	if err != nil {
		return nil, nil, err
	}
	r.maps = maps
	r.writeHeader(r.shdr, KindSlots, l.SlotsSize, pid)
	for i := range r.slotv {
		r.slotv[i].Reset(SlotInfo{})
	}
	r.shdr[hReady].Store(readyWord(KindSlots))
	return r, files, nil
}

// SetDaemon stores the daemon's pid and start time in the values header.
func (r *Region) SetDaemon(pid int, start time.Time) {
	r.vhdr[hDaemonPID].Store(uint64(pid))
	r.vhdr[hDaemonStart].Store(uint64(start.UnixNano()))
	r.Beat(start)
}

// Beat stores the daemon heartbeat.
func (r *Region) Beat(now time.Time) { r.vhdr[hHeartbeat].Store(uint64(now.Unix())) }

// SetIssued stores the highest issued field ID. Only the daemon calls it,
// before it returns the ID to anyone.
func (r *Region) SetIssued(id uint32) { r.vhdr[hIssued].Store(uint64(id)) }

// SetOwner stores the arena index that owns field id. Only the daemon
// calls it, while no other writer may publish to the field.
func (r *Region) SetOwner(id uint32, arena int) error {
	f, err := r.field(id)
	if err != nil {
		return err
	}
	f[fOwner].Store(uint64(arena))
	return nil
}

// SetArenaOwner records which process holds arena a and when that process
// started, so a restarted daemon can tell whether it still runs.
func (r *Region) SetArenaOwner(a int, pid int32, procStart uint64) {
	if a >= 0 && a <= r.L.Writers {
		h := r.arenaHdr(a)
		h[aPID].Store(uint64(pid))
		h[aProcStart].Store(procStart)
	}
}

// ArenaOwner returns the pid and start time stored by SetArenaOwner.
func (r *Region) ArenaOwner(a int) (int32, uint64) {
	if a < 0 || a > r.L.Writers {
		return 0, 0
	}
	h := r.arenaHdr(a)
	return int32(h[aPID].Load()), h[aProcStart].Load()
}

// ClearFieldsAbove zeroes the version, owner and cells of every field
// whose ID is above issued and returns how many held a version. Only the
// daemon calls it, at start, before any client connects.
func (r *Region) ClearFieldsAbove(issued uint32) int {
	n := 0
	for id := uint64(issued) + 1; id < uint64(r.L.MaxFields); id++ {
		f, _ := r.field(uint32(id))
		if f[fVersion].Load() == 0 && f[fOwner].Load() == 0 {
			continue
		}
		n++
		for i := range f {
			f[i].Store(0)
		}
	}
	return n
}

// RetainWatches clears, in every field's watcher mask, the bits of the
// slots whose keep entry is false.
func (r *Region) RetainWatches(keep []bool) {
	n := r.L.maskWords()
	words := make([]uint64, n)
	for i, k := range keep {
		if k && i < r.L.MaxSlots {
			words[i/64] |= 1 << (i % 64)
		}
	}
	for i := range r.masks {
		w := words[i%n]
		if m := r.masks[i].Load(); m&^w != 0 {
			r.masks[i].And(w)
		}
	}
}

// ClearSlotWatches removes slot from the watcher mask of every field. The
// daemon calls it for a slot whose watch set it does not know, such as
// one left by an earlier daemon.
func (r *Region) ClearSlotWatches(slot int) {
	if slot < 0 || slot >= r.L.MaxSlots {
		return
	}
	n := r.L.maskWords()
	bit := uint64(1) << (slot % 64)
	for i := slot / 64; i < len(r.masks); i += n {
		if r.masks[i].Load()&bit != 0 {
			r.masks[i].And(^bit)
		}
	}
}

// SetWatch sets or clears slot's bit in field id's watcher mask. Only the
// daemon calls it. Setting comes before the daemon replies to the watch,
// so every publish after the reply notifies the slot.
func (r *Region) SetWatch(id uint32, slot int, on bool) error {
	if _, err := r.field(id); err != nil {
		return err
	}
	if slot < 0 || slot >= r.L.MaxSlots {
		return fmt.Errorf("%w: %d not in 0..%d", ErrBadSlot, slot, r.L.MaxSlots-1)
	}
	w := &r.mask(id)[slot/64]
	bit := uint64(1) << (slot % 64)
	if on {
		w.Or(bit)
	} else {
		w.And(^bit)
	}
	return nil
}

// Raise marks field id pending in every slot that watches it and raises
// their overflow flags. The daemon calls it for each field of a writer that
// died, which may have stored a version and died before notifying.
func (r *Region) Raise(id uint32) {
	if _, err := r.field(id); err != nil {
		return
	}
	mask := r.mask(id)
	for i := range mask {
		m := mask[i].Load()
		for s := i * 64; m != 0; s, m = s+1, m>>1 {
			if m&1 != 0 && s < len(r.slotv) {
				r.slotv[s].raise(id)
			}
		}
	}
}
