// Package region lays out fieldd's two shared region files and implements
// the publish, drain and read paths over them.
//
// The values file holds what readers may only read; the daemon sends it to
// readers as a read-only fd and to writers as a read-write one. The slots
// file holds what every client writes: rings, pending bitmaps and counters.
//
//	values file                          slots file
//	+-----------------------+ 0          +-----------------------+ 0
//	| header (4 KiB)        |            | header (4 KiB)        |
//	+-----------------------+            +-----------------------+
//	| field table           |            | slot 0                |
//	|  64 B per field ID:   |            |  control lines (1 KiB)|
//	|  version, owner,      |            |   identity, tail,     |
//	|  2 value cells        |            |   head, overflow,     |
//	+-----------------------+            |   waiting, counters   |
//	| watcher masks         |            |  ring cells (8 B each)|
//	|  1 bit per slot       |            |  pending bitmap       |
//	|  per field ID         |            |   (1 bit per field)   |
//	+-----------------------+            +-----------------------+
//	| arena 0 (daemon)      |            | slot 1 ...            |
//	|  header, value bytes  |            |                       |
//	| arena 1..writers      |            |                       |
//	+-----------------------+            +-----------------------+
//
// Every table starts on a 4 KiB boundary, every atomic word is 8-byte
// aligned, and words that different processes write sit on different
// 128-byte lines.
package region

import (
	"errors"
	"fmt"
)

// Magic starts both region files ("fielddR1" read as little-endian bytes).
const Magic uint64 = 0x315264646c656966

// LayoutVersion changes whenever the meaning of any offset changes.
const LayoutVersion uint64 = 1

// File kinds stored in the header.
const (
	KindValues uint64 = 1
	KindSlots  uint64 = 2
)

const (
	page        = 4096
	line        = 128
	headerSize  = page
	fieldSize   = 64
	slotCtlSize = 1024
	arenaHdr    = 256
)

// Header word indexes (in 8-byte words from the start of a file).
const (
	hMagic        = 0
	hLayout       = 1
	hKind         = 2
	hMaxFields    = 3
	hMaxSlots     = 4
	hRingSize     = 5
	hMaxValueSize = 6
	hArenas       = 7
	hArenaSize    = 8
	hFileSize     = 9
	hDaemonPID    = 10
	hDaemonStart  = 11
	hReady        = line / 8     // written last by the daemon, alone on its line
	hHeartbeat    = 2 * line / 8 // daemon clock, seconds
	hIssued       = 3 * line / 8 // highest field ID the daemon has issued
)

// readyWord is the value of the ready word of a complete region.
func readyWord(kind uint64) uint64 { return Magic ^ LayoutVersion<<56 ^ kind }

// Geometry is the set of sizes that fix a layout. Each has a range that
// [Geometry.Validate] checks, and the daemon flag that sets it.
type Geometry struct {
	MaxFields    int   // --max-fields: field IDs 1..MaxFields-1, a multiple of 64
	MaxSlots     int   // --max-clients: connected clients at once
	RingSize     int   // --ring-size: cells per slot ring, a power of two
	MaxValueSize int   // --max-value-size: bytes in one value
	Writers      int   // --max-writers: writer arenas besides the daemon's
	ArenaSize    int64 // --arena-size: bytes per writer arena, a multiple of 4 KiB
}

// Limits of each geometry parameter.
const (
	MinFields, MaxFieldsLimit   = 64, 1 << 24
	MinSlots, MaxSlotsLimit     = 1, 4096
	MinRing, MaxRing            = 2, 1 << 20
	MinValueSize, MaxValueLimit = 8, 1<<24 - 8
	MinWriters, MaxWritersLimit = 1, 4095
	MaxArenaSize                = 1 << 40
)

// DefaultGeometry fits both files (about 25 MiB) into a container's
// default 64 MiB /dev/shm with room to spare.
func DefaultGeometry() Geometry {
	return Geometry{
		MaxFields:    1 << 16,
		MaxSlots:     64,
		RingSize:     4096,
		MaxValueSize: 64 << 10,
		Writers:      8,
		ArenaSize:    2 << 20,
	}
}

// ErrGeometry is wrapped by every error of [Geometry.Validate].
var ErrGeometry = errors.New("invalid region geometry")

// Validate checks every size against its range and names the flag that
// sets a wrong one.
func (g Geometry) Validate() error {
	bad := func(flag string, v any, want string) error {
		return fmt.Errorf("%w: %s=%v: must be %s", ErrGeometry, flag, v, want)
	}
	switch {
	case g.MaxFields < MinFields || g.MaxFields > MaxFieldsLimit || g.MaxFields%64 != 0:
		return bad("--max-fields", g.MaxFields, fmt.Sprintf("a multiple of 64 from %d to %d", MinFields, MaxFieldsLimit))
	case g.MaxSlots < MinSlots || g.MaxSlots > MaxSlotsLimit:
		return bad("--max-clients", g.MaxSlots, fmt.Sprintf("from %d to %d", MinSlots, MaxSlotsLimit))
	case g.RingSize < MinRing || g.RingSize > MaxRing || g.RingSize&(g.RingSize-1) != 0:
		return bad("--ring-size", g.RingSize, fmt.Sprintf("a power of two from %d to %d", MinRing, MaxRing))
	case g.MaxValueSize < MinValueSize || g.MaxValueSize > MaxValueLimit:
		return bad("--max-value-size", g.MaxValueSize, fmt.Sprintf("from %d to %d bytes", MinValueSize, MaxValueLimit))
	case g.Writers < MinWriters || g.Writers > MaxWritersLimit:
		return bad("--max-writers", g.Writers, fmt.Sprintf("from %d to %d", MinWriters, MaxWritersLimit))
	case g.ArenaSize%page != 0 || g.ArenaSize < arenaHdr+2*int64(roundUp8(g.MaxValueSize)) || g.ArenaSize > MaxArenaSize:
		return bad("--arena-size", g.ArenaSize, fmt.Sprintf("a multiple of 4096 from %d (two values of --max-value-size) to %d bytes",
			roundPage(int64(arenaHdr+2*roundUp8(g.MaxValueSize))), int64(MaxArenaSize)))
	}
	return nil
}

func roundUp8(n int) int            { return (n + 7) &^ 7 }
func roundPage(n int64) int64       { return (n + page - 1) &^ (page - 1) }
func (g Geometry) maskWords() int   { return (g.MaxSlots + 63) / 64 }
func (g Geometry) bitmapWords() int { return g.MaxFields / 64 }

// Layout holds the byte offsets of every table, computed from a Geometry.
type Layout struct {
	Geometry

	FieldOff   int64 // field table, in the values file
	MaskOff    int64 // watcher masks, in the values file
	ArenaOff   int64 // first arena, in the values file
	ValuesSize int64

	SlotSize  int64 // bytes per slot, a multiple of 4 KiB
	RingOff   int64 // within a slot
	BitmapOff int64 // within a slot
	SlotsSize int64
}

// NewLayout validates g and computes its offsets.
func NewLayout(g Geometry) (Layout, error) {
	if err := g.Validate(); err != nil {
		return Layout{}, err
	}
	l := Layout{Geometry: g}
	l.FieldOff = headerSize
	l.MaskOff = l.FieldOff + roundPage(int64(g.MaxFields)*fieldSize)
	l.ArenaOff = l.MaskOff + roundPage(int64(g.MaxFields)*int64(g.maskWords())*8)
	l.ValuesSize = l.ArenaOff + int64(g.Writers+1)*g.ArenaSize

	l.RingOff = slotCtlSize
	l.BitmapOff = l.RingOff + int64(g.RingSize)*8
	l.SlotSize = roundPage(l.BitmapOff + int64(g.bitmapWords())*8)
	l.SlotsSize = headerSize + int64(g.MaxSlots)*l.SlotSize
	return l, nil
}

// Size returns the bytes both files need together.
func (l Layout) Size() int64 { return l.ValuesSize + l.SlotsSize }

// SlotOff returns the offset of slot i in the slots file.
func (l Layout) SlotOff(i int) int64 { return headerSize + int64(i)*l.SlotSize }

// ArenaStart returns the offset of arena a in the values file.
func (l Layout) ArenaStart(a int) int64 { return l.ArenaOff + int64(a)*l.ArenaSize }
