package region

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/fieldd/fieldd/internal/bitmap"
	"github.com/fieldd/fieldd/internal/ring"
	"github.com/fieldd/fieldd/internal/shm"
)

// Errors returned by the region paths.
var (
	ErrBadID        = errors.New("field ID out of range")
	ErrValueTooBig  = errors.New("value exceeds the maximum value size (raise --max-value-size)")
	ErrArenaFull    = errors.New("writer arena is full (raise --arena-size)")
	ErrCorrupt      = errors.New("region holds an invalid value location")
	ErrContended    = errors.New("value changed during every read attempt")
	ErrInvalid      = errors.New("invalid region")
	ErrReadOnly     = errors.New("region is mapped read-only")
	ErrBadSlot      = errors.New("slot index out of range")
	ErrBadArena     = errors.New("arena index out of range")
	errNotReadyWord = errors.New("ready word not set: the region is incomplete")
)

// Field table entry, in 8-byte words.
const (
	fVersion = 0 // written by the field's owner only, after the value
	fOwner   = 1 // arena index of the owning writer; written by the daemon
	fCell0   = 2 // cell c: loc at fCell0+2c, len at fCell0+2c+1
)

// A cell's loc word is the arena index in the high 16 bits and the byte
// offset of the value inside that arena in the low 48. Its len word is the
// capacity in the high 32 bits, a gone flag in bit 31 and the value length
// in the low 31.
const (
	locArenaShift = 48
	locOffMask    = 1<<locArenaShift - 1
	lenGone       = 1 << 31
	lenMask       = lenGone - 1
)

// Region is a mapped pair of region files. Its methods are safe for
// concurrent use unless their documentation states otherwise. The comment
// at each word's definition names the process that writes it.
type Region struct {
	L        Layout
	values   []byte
	slots    []byte
	writable bool

	vhdr   []atomic.Uint64
	shdr   []atomic.Uint64
	fields []atomic.Uint64
	masks  []atomic.Uint64
	slotv  []Slot

	maps []*shm.Mapping // unmapped by Close when the region owns them
}

// Attach builds a Region over already mapped bytes after checking both
// headers: magic, layout version, file kind, geometry ranges, sizes
// against len(values) and len(slots), and the ready words. A region that
// fails any check is an error wrapping [ErrInvalid], never a panic.
func Attach(values, slots []byte, writable bool) (*Region, error) {
	lv, err := readHeader(values, KindValues)
	if err != nil {
		return nil, fmt.Errorf("values file: %w", err)
	}
	ls, err := readHeader(slots, KindSlots)
	if err != nil {
		return nil, fmt.Errorf("slots file: %w", err)
	}
	if lv.Geometry != ls.Geometry {
		return nil, fmt.Errorf("%w: values and slots files have different geometries", ErrInvalid)
	}
	if int64(len(values)) != lv.ValuesSize || int64(len(slots)) != lv.SlotsSize {
		return nil, fmt.Errorf("%w: sizes %d and %d bytes, layout needs %d and %d",
			ErrInvalid, len(values), len(slots), lv.ValuesSize, lv.SlotsSize)
	}
	return build(lv, values, slots, writable)
}

func readHeader(b []byte, kind uint64) (Layout, error) {
	if len(b) < headerSize {
		return Layout{}, fmt.Errorf("%w: %d bytes is shorter than the header", ErrInvalid, len(b))
	}
	h, err := shm.Uint64s(b, 0, headerSize/8)
	if err != nil {
		return Layout{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if m := h[hMagic].Load(); m != Magic {
		return Layout{}, fmt.Errorf("%w: magic %#x, want %#x", ErrInvalid, m, Magic)
	}
	if v := h[hLayout].Load(); v != LayoutVersion {
		return Layout{}, fmt.Errorf("%w: layout version %d, this build reads %d: upgrade the older of fieldd and the client",
			ErrInvalid, v, LayoutVersion)
	}
	if k := h[hKind].Load(); k != kind {
		return Layout{}, fmt.Errorf("%w: file kind %d, want %d", ErrInvalid, k, kind)
	}
	// Pairs with the daemon's store of the ready word after the region was
	// built: everything below was written before it.
	if h[hReady].Load() != readyWord(kind) {
		return Layout{}, fmt.Errorf("%w: %w", ErrInvalid, errNotReadyWord)
	}
	word := func(i int) int {
		v := h[i].Load()
		// The second check rejects values that int cannot hold on 32-bit
		// platforms, which would otherwise wrap to a valid size.
		if v > 1<<40 || uint64(int(v)) != v {
			return -1
		}
		return int(v)
	}
	g := Geometry{
		MaxFields:    word(hMaxFields),
		MaxSlots:     word(hMaxSlots),
		RingSize:     word(hRingSize),
		MaxValueSize: word(hMaxValueSize),
		Writers:      word(hArenas) - 1,
		ArenaSize:    int64(word(hArenaSize)),
	}
	l, err := NewLayout(g)
	if err != nil {
		return Layout{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	size := int64(l.ValuesSize)
	if kind == KindSlots {
		size = l.SlotsSize
	}
	if fs := h[hFileSize].Load(); fs != uint64(size) || int64(len(b)) != size {
		return Layout{}, fmt.Errorf("%w: file is %d bytes, header says %d, layout needs %d", ErrInvalid, len(b), fs, size)
	}
	return l, nil
}

// build makes the typed views. The layout has been validated, so every
// offset is in range and aligned, and a failure here is a bug.
func build(l Layout, values, slots []byte, writable bool) (*Region, error) {
	r := &Region{L: l, values: values, slots: slots, writable: writable}
	var err error
	view := func(b []byte, off int64, n int) []atomic.Uint64 {
		if err != nil {
			return nil
		}
		var w []atomic.Uint64
		w, err = shm.Uint64s(b, int(off), n)
		return w
	}
	r.vhdr = view(values, 0, headerSize/8)
	r.shdr = view(slots, 0, headerSize/8)
	r.fields = view(values, l.FieldOff, l.MaxFields*fieldSize/8)
	r.masks = view(values, l.MaskOff, l.MaxFields*l.maskWords())
	r.slotv = make([]Slot, l.MaxSlots)
	for i := range r.slotv {
		s := &r.slotv[i]
		off := l.SlotOff(i)
		s.Index = i
		s.ctl = view(slots, off, slotCtlSize/8)
		cells := view(slots, off+l.RingOff, l.RingSize)
		s.pending = bitmap.New(view(slots, off+l.BitmapOff, l.bitmapWords()))
		if err != nil {
			break
		}
		s.ring, err = ring.New(&s.ctl[sTail], cells)
		if err != nil {
			break
		}
		s.waiting, err = shm.Uint32At(slots, int(off)+sWaiting*8)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return r, nil
}

// Close unmaps the files if the region mapped them itself.
func (r *Region) Close() error {
	var errs []error
	for _, m := range r.maps {
		errs = append(errs, m.Close())
	}
	r.maps = nil
	return errors.Join(errs...)
}

// Writable reports whether the values file is mapped read-write.
func (r *Region) Writable() bool { return r.writable }

// Issued returns the highest field ID the daemon has issued; IDs 1 to
// Issued are valid. The daemon stores it before it returns a new ID.
func (r *Region) Issued() uint32 { return uint32(r.vhdr[hIssued].Load()) }

// DaemonPID returns the pid of the daemon that built the region.
func (r *Region) DaemonPID() int { return int(r.vhdr[hDaemonPID].Load()) }

// Heartbeat returns the daemon's last heartbeat, in Unix seconds.
func (r *Region) Heartbeat() int64 { return int64(r.vhdr[hHeartbeat].Load()) }

func (r *Region) field(id uint32) ([]atomic.Uint64, error) {
	// The comparison is in uint64 because int(id) is negative from 2^31 on
	// 32-bit platforms.
	if id == 0 || uint64(id) >= uint64(r.L.MaxFields) {
		return nil, fmt.Errorf("%w: %d not in 1..%d", ErrBadID, id, r.L.MaxFields-1)
	}
	i := int(id) * (fieldSize / 8)
	return r.fields[i : i+fieldSize/8 : i+fieldSize/8], nil
}

func (r *Region) mask(id uint32) []atomic.Uint64 {
	n := r.L.maskWords()
	i := int(id) * n
	return r.masks[i : i+n : i+n]
}

// Version returns the current version of field id, 0 when it was never
// written or id is out of range.
func (r *Region) Version(id uint32) uint64 {
	f, err := r.field(id)
	if err != nil {
		return 0
	}
	return f[fVersion].Load()
}

// Owner returns the arena index of the writer that owns field id; 0 is the
// daemon.
func (r *Region) Owner(id uint32) int {
	f, err := r.field(id)
	if err != nil {
		return -1
	}
	return int(f[fOwner].Load())
}

// Watched reports whether slot watches field id.
func (r *Region) Watched(id uint32, slot int) bool {
	if _, err := r.field(id); err != nil || slot < 0 || slot >= r.L.MaxSlots {
		return false
	}
	return r.mask(id)[slot/64].Load()&(1<<(slot%64)) != 0
}

// Slot returns slot i.
func (r *Region) Slot(i int) (*Slot, error) {
	if i < 0 || i >= len(r.slotv) {
		return nil, fmt.Errorf("%w: %d not in 0..%d", ErrBadSlot, i, len(r.slotv)-1)
	}
	return &r.slotv[i], nil
}

// ReadInto copies the newest complete value of field id into dst (grown
// if needed) and returns it with its version and whether the writer
// retired the field. Version 0 means the field has no value yet.
//
// The copy is a sequence lock over two cells: load the version, copy the
// cell it selects with 8-byte atomic loads, and accept the copy only if
// the version is unchanged, so a value is never torn. The writer only
// rewrites the cell that the current version does not select, so a reader
// retries only when a new version was stored during its copy.
func (r *Region) ReadInto(id uint32, dst []byte) ([]byte, uint64, bool, error) {
	f, err := r.field(id)
	if err != nil {
		return dst[:0], 0, false, err
	}
	for range 1000 {
		ver := f[fVersion].Load() // pairs with the writer's Store in Publish
		if ver == 0 {
			return dst[:0], 0, false, nil
		}
		c := fCell0 + 2*int(ver&1)
		loc, ln := f[c].Load(), f[c+1].Load()
		src, n, ok := r.cellBytes(loc, ln)
		if ok {
			dst = copyWords(dst, src, n)
		}
		if f[fVersion].Load() == ver {
			if !ok {
				return dst[:0], ver, false, fmt.Errorf("%w: field %d loc %#x len %#x", ErrCorrupt, id, loc, ln)
			}
			return dst, ver, ln&lenGone != 0, nil
		}
	}
	return dst[:0], 0, false, fmt.Errorf("%w: field %d", ErrContended, id)
}

// cellBytes returns the words holding a cell's value and its length in
// bytes, after checking that they lie inside one arena.
func (r *Region) cellBytes(loc, ln uint64) ([]atomic.Uint64, int, bool) {
	arena := int(loc >> locArenaShift)
	off := int64(loc & locOffMask)
	capacity := int64(ln >> 32)
	n := int(ln & lenMask)
	if arena > r.L.Writers || off < arenaHdr || off%8 != 0 || capacity%8 != 0 ||
		capacity > r.L.ArenaSize-off || int64(n) > capacity || n > r.L.MaxValueSize {
		return nil, 0, false
	}
	if n == 0 {
		return nil, 0, true
	}
	start := r.L.ArenaStart(arena) + off
	w := unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&r.values[start])), (n+7)/8)
	return w, n, true
}

// copyWords copies n bytes from src into dst with 8-byte atomic loads.
func copyWords(dst []byte, src []atomic.Uint64, n int) []byte {
	if cap(dst) < (n+7)&^7 {
		dst = make([]byte, (n+7)&^7)
	}
	dst = dst[:(n+7)&^7]
	for i := range src {
		binary.NativeEndian.PutUint64(dst[i*8:], src[i].Load())
	}
	return dst[:n]
}
