package region

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNewLayoutOffsets(t *testing.T) {
	tests := []struct {
		name string
		g    Geometry
		want Layout
	}{
		{
			name: "default",
			g:    DefaultGeometry(),
			want: Layout{
				FieldOff:   4096,
				MaskOff:    4096 + 65536*64,           // 4 MiB of field entries
				ArenaOff:   4096 + 65536*64 + 65536*8, // one mask word per field
				ValuesSize: 4096 + 65536*64 + 65536*8 + 9*2<<20,
				SlotSize:   45056, // 1024 + 4096*8 + 1024*8 = 41984, rounded up to 11 pages
				RingOff:    1024,
				BitmapOff:  1024 + 4096*8,
				SlotsSize:  4096 + 64*45056,
			},
		},
		{
			// 1,000,000 is a multiple of 64, and 256 slots need 4 mask words.
			name: "1M fields 256 slots",
			g: Geometry{MaxFields: 1_000_000, MaxSlots: 256, RingSize: 4096,
				MaxValueSize: 64 << 10, Writers: 8, ArenaSize: 2 << 20},
			want: Layout{
				FieldOff:   4096,
				MaskOff:    4096 + 64_000_000,              // exactly 15625 pages
				ArenaOff:   4096 + 64_000_000 + 32_002_048, // 32,000,000 rounded up to 7813 pages
				ValuesSize: 4096 + 64_000_000 + 32_002_048 + 9*2<<20,
				SlotSize:   159744, // 1024 + 32768 + 125000 = 158792, rounded up to 39 pages
				RingOff:    1024,
				BitmapOff:  1024 + 32768,
				SlotsSize:  4096 + 256*159744,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewLayout(tt.g)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Geometry = tt.g
			if got != tt.want {
				t.Errorf("NewLayout:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.Size() != got.ValuesSize+got.SlotsSize {
				t.Errorf("Size() = %d, want %d", got.Size(), got.ValuesSize+got.SlotsSize)
			}
			if got.SlotOff(1)-got.SlotOff(0) != got.SlotSize {
				t.Errorf("slots are %d bytes apart, want %d", got.SlotOff(1)-got.SlotOff(0), got.SlotSize)
			}
			if got.ArenaStart(tt.g.Writers)+tt.g.ArenaSize != got.ValuesSize {
				t.Errorf("last arena ends at %d, values file is %d bytes",
					got.ArenaStart(tt.g.Writers)+tt.g.ArenaSize, got.ValuesSize)
			}
		})
	}
}

func TestDefaultGeometryFitsSmallShm(t *testing.T) {
	l, err := NewLayout(DefaultGeometry())
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() > 32<<20 {
		t.Errorf("default region needs %d bytes, more than half of a 64 MiB /dev/shm", l.Size())
	}
}

func TestValidateNamesFlag(t *testing.T) {
	tests := []struct {
		flag   string
		change func(*Geometry)
	}{
		{"--max-fields", func(g *Geometry) { g.MaxFields = 0 }},
		{"--max-fields", func(g *Geometry) { g.MaxFields = 63 }},
		{"--max-fields", func(g *Geometry) { g.MaxFields = 100 }},
		{"--max-fields", func(g *Geometry) { g.MaxFields = 1<<24 + 64 }},
		{"--max-fields", func(g *Geometry) { g.MaxFields = -64 }},
		{"--max-clients", func(g *Geometry) { g.MaxSlots = 0 }},
		{"--max-clients", func(g *Geometry) { g.MaxSlots = 4097 }},
		{"--ring-size", func(g *Geometry) { g.RingSize = 0 }},
		{"--ring-size", func(g *Geometry) { g.RingSize = 1 }},
		{"--ring-size", func(g *Geometry) { g.RingSize = 48 }},
		{"--ring-size", func(g *Geometry) { g.RingSize = 1 << 21 }},
		{"--max-value-size", func(g *Geometry) { g.MaxValueSize = 7 }},
		{"--max-value-size", func(g *Geometry) { g.MaxValueSize = 1 << 24 }},
		{"--max-writers", func(g *Geometry) { g.Writers = 0 }},
		{"--max-writers", func(g *Geometry) { g.Writers = 4096 }},
		{"--arena-size", func(g *Geometry) { g.ArenaSize = 0 }},
		{"--arena-size", func(g *Geometry) { g.ArenaSize = 64<<10 + 1 }},
		{"--arena-size", func(g *Geometry) { g.ArenaSize = 1<<40 + 4096 }},
		{"--arena-size", func(g *Geometry) { g.MaxValueSize, g.ArenaSize = 4096, 8192 }}, // no room for the header and two values
	}
	for _, tt := range tests {
		g := testGeometry()
		tt.change(&g)
		t.Run(fmt.Sprintf("%s %+v", tt.flag, g), func(t *testing.T) {
			err := g.Validate()
			if !errors.Is(err, ErrGeometry) {
				t.Fatalf("Validate() = %v, want ErrGeometry", err)
			}
			if !strings.Contains(err.Error(), tt.flag+"=") {
				t.Errorf("error %q does not name %s", err, tt.flag)
			}
			if _, err := NewLayout(g); !errors.Is(err, ErrGeometry) {
				t.Errorf("NewLayout error = %v, want ErrGeometry", err)
			}
		})
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	tests := []func(*Geometry){
		func(g *Geometry) { g.MaxFields = MinFields },
		func(g *Geometry) { g.MaxFields = MaxFieldsLimit },
		func(g *Geometry) { g.MaxSlots = MinSlots },
		func(g *Geometry) { g.MaxSlots = MaxSlotsLimit },
		func(g *Geometry) { g.RingSize = MinRing },
		func(g *Geometry) { g.RingSize = MaxRing },
		func(g *Geometry) { g.MaxValueSize = MinValueSize },
		func(g *Geometry) { g.MaxValueSize, g.ArenaSize = MaxValueLimit, 64<<20 },
		func(g *Geometry) { g.Writers = MinWriters },
		func(g *Geometry) { g.Writers = MaxWritersLimit },
		func(g *Geometry) { g.ArenaSize = MaxArenaSize },
		func(g *Geometry) { g.MaxValueSize, g.ArenaSize = 13, 4096 }, // 256 + 2*16 bytes fit one page
	}
	for _, change := range tests {
		g := testGeometry()
		change(&g)
		if err := g.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", g, err)
		}
	}
}

// atomicWordOffsets returns the byte offsets, within their file, of the
// first and last of every kind of 64-bit word that the region paths access
// atomically.
func atomicWordOffsets(l Layout) map[string][]int64 {
	words := func(base int64, idx ...int) []int64 {
		var offs []int64
		for _, i := range idx {
			offs = append(offs, base+int64(i)*8)
		}
		return offs
	}
	lastField := l.MaxFields - 1
	fieldWords := fieldSize / 8
	lastSlot := l.MaxSlots - 1
	offs := map[string][]int64{
		"header": words(0, hMagic, hLayout, hKind, hMaxFields, hMaxSlots, hRingSize, hMaxValueSize,
			hArenas, hArenaSize, hFileSize, hDaemonPID, hDaemonStart, hReady, hHeartbeat, hIssued),
		"field entry": append(words(l.FieldOff, fVersion, fOwner, fCell0, fCell0+3),
			words(l.FieldOff, lastField*fieldWords+fVersion, lastField*fieldWords+fCell0+3)...),
		"watcher mask": words(l.MaskOff, 0, l.MaxFields*l.maskWords()-1),
	}
	for _, a := range []int{0, l.Writers} {
		offs[fmt.Sprintf("arena %d header", a)] = words(l.ArenaStart(a),
			aTop, aPID, aCounters, aCounters+numWriterCounters-1)
	}
	for _, s := range []int{0, lastSlot} {
		base := l.SlotOff(s)
		offs[fmt.Sprintf("slot %d control", s)] = words(base, sState, sGeneration, sPID, sUID, sSince,
			sTail, sHead, sOverflow, sWaiting, sOverflows, sWakes, sOwnerCounters, sOwnerCounters+numOwnerCounters-1)
		offs[fmt.Sprintf("slot %d ring cells", s)] = words(base+l.RingOff, 0, l.RingSize-1)
		offs[fmt.Sprintf("slot %d bitmap", s)] = words(base+l.BitmapOff, 0, l.bitmapWords()-1)
	}
	return offs
}

// TestAtomicWordsAligned checks that every atomically accessed word sits at
// an offset divisible by 8 inside its file, for geometries with odd slot
// counts, minimum sizes and value sizes that are not multiples of 8.
func TestAtomicWordsAligned(t *testing.T) {
	geometries := []Geometry{
		DefaultGeometry(),
		testGeometry(),
		{MaxFields: 64, MaxSlots: 1, RingSize: 2, MaxValueSize: 8, Writers: 1, ArenaSize: 4096},
		{MaxFields: 192, MaxSlots: 65, RingSize: 8, MaxValueSize: 13, Writers: 3, ArenaSize: 8192},
		{MaxFields: 1_000_000, MaxSlots: 256, RingSize: 1 << 20, MaxValueSize: 1<<24 - 8, Writers: 4095, ArenaSize: 64 << 20},
	}
	for _, g := range geometries {
		t.Run(fmt.Sprintf("%+v", g), func(t *testing.T) {
			l, err := NewLayout(g)
			if err != nil {
				t.Fatal(err)
			}
			for kind, offs := range atomicWordOffsets(l) {
				size := l.ValuesSize
				if strings.HasPrefix(kind, "slot") {
					size = l.SlotsSize
				}
				for _, off := range offs {
					if off%8 != 0 {
						t.Errorf("%s word at offset %d is not 8-byte aligned", kind, off)
					}
					if off < 0 || off+8 > size {
						t.Errorf("%s word at offset %d lies outside its %d-byte file", kind, off, size)
					}
				}
			}
			for name, off := range map[string]int64{"field table": l.FieldOff, "watcher masks": l.MaskOff,
				"arenas": l.ArenaOff, "slot 0": l.SlotOff(0), "slot size": l.SlotSize} {
				if off%page != 0 {
					t.Errorf("%s at %d does not start on a page boundary", name, off)
				}
			}
		})
	}
}

// TestSlotWordsOnOwnLines checks that the slot words written by different
// processes sit on different 128-byte lines.
func TestSlotWordsOnOwnLines(t *testing.T) {
	words := map[string]int{
		"identity": sState, "tail": sTail, "head": sHead, "overflow": sOverflow,
		"waiting": sWaiting, "writer counters": sOverflows, "owner counters": sOwnerCounters,
	}
	lines := map[int]string{}
	for name, w := range words {
		l := w * 8 / line
		if other, ok := lines[l]; ok {
			t.Errorf("%s and %s share line %d", name, other, l)
		}
		lines[l] = name
	}
	if end := (sOwnerCounters + numOwnerCounters) * 8; end > slotCtlSize {
		t.Errorf("owner counters end at byte %d, past the %d control bytes", end, slotCtlSize)
	}
	if (sWakes * 8 / line) != (sOverflows * 8 / line) {
		t.Error("wakes counter is not on the writer counter line")
	}
	if hReady*8/line == hMagic*8/line || hHeartbeat*8/line == hReady*8/line || hIssued*8/line == hHeartbeat*8/line {
		t.Error("header ready word, heartbeat and issued ID do not each have a line")
	}
}

// TestValueLocationsAligned publishes values of sizes that are not
// multiples of 8 and checks that every value cell starts 8-byte aligned,
// which the reader's 8-byte loads need.
func TestValueLocationsAligned(t *testing.T) {
	r, _ := newRegion(t, testGeometry())
	w := mustWriter(t, r, 2)
	for i, n := range []int{0, 1, 3, 7, 9, 13, 100, 1023, 1024} {
		id := uint32(i + 1)
		for range 3 { // fills both cells, then reuses one
			if err := w.Publish(id, make([]byte, n)); err != nil {
				t.Fatal(err)
			}
		}
		f, err := r.field(id)
		if err != nil {
			t.Fatal(err)
		}
		for c := range 2 {
			loc := f[fCell0+2*c].Load()
			start := r.L.ArenaStart(int(loc>>locArenaShift)) + int64(loc&locOffMask)
			if start%8 != 0 {
				t.Errorf("value of %d bytes, cell %d at offset %d is not 8-byte aligned", n, c, start)
			}
		}
	}
}
