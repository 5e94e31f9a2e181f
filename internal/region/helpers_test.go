package region

import (
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// testGeometry returns a small geometry; tests change fields as needed.
func testGeometry() Geometry {
	return Geometry{
		MaxFields:    256,
		MaxSlots:     4,
		RingSize:     16,
		MaxValueSize: 1024,
		Writers:      4,
		ArenaSize:    64 << 10,
	}
}

// newRegion creates a region for g in a temporary directory. The region
// is closed when the test ends.
func newRegion(t testing.TB, g Geometry) (*Region, *Files) {
	t.Helper()
	r, files, err := Create(t.TempDir(), g, os.Getpid())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		r.Close()
		files.Close()
	})
	return r, files
}

func mustWriter(t testing.TB, r *Region, arena int) *Writer {
	t.Helper()
	w, err := r.Writer(arena)
	if err != nil {
		t.Fatalf("Writer(%d): %v", arena, err)
	}
	return w
}

func mustReader(t testing.TB, r *Region, slot int) *Reader {
	t.Helper()
	rd, err := r.Reader(slot)
	if err != nil {
		t.Fatalf("Reader(%d): %v", slot, err)
	}
	return rd
}

// watch adds slot to the watcher masks of ids.
func watch(t testing.TB, r *Region, slot int, ids ...uint32) {
	t.Helper()
	for _, id := range ids {
		if err := r.SetWatch(id, slot, true); err != nil {
			t.Fatalf("SetWatch(%d, %d): %v", id, slot, err)
		}
	}
}

// idRange returns the IDs from lo up to but not including hi.
func idRange(lo, hi uint32) []uint32 {
	ids := make([]uint32, 0, hi-lo)
	for id := lo; id < hi; id++ {
		ids = append(ids, id)
	}
	return ids
}

// valueByte returns byte i of the test value of version ver and length n.
// The second half of the value repeats the first half, and an odd length
// ends in one more byte, so a value torn between two versions shows.
func valueByte(ver uint64, i, n int) byte {
	half := n / 2
	if i >= half && i < 2*half {
		i -= half
	}
	x := ver*0x9e3779b97f4a7c15 ^ uint64(i+1)*0xbf58476d1ce4e5b9
	return byte(x >> 56)
}

// fillValue returns the test value of version ver and length n, reusing
// dst's storage when it is large enough.
func fillValue(dst []byte, ver uint64, n int) []byte {
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = valueByte(ver, i, n)
	}
	return dst
}

// checkValue returns an error unless b is the test value of version ver
// and of length n. A negative n accepts any length.
func checkValue(b []byte, ver uint64, n int) error {
	if n >= 0 && len(b) != n {
		return fmt.Errorf("version %d: value has %d bytes, want %d", ver, len(b), n)
	}
	half := len(b) / 2
	for i := range half {
		if b[i] != b[half+i] {
			return fmt.Errorf("version %d, %d bytes: halves differ at byte %d (%#x, %#x)", ver, len(b), i, b[i], b[half+i])
		}
	}
	for i, c := range b {
		if want := valueByte(ver, i, len(b)); c != want {
			return fmt.Errorf("version %d, %d bytes: byte %d is %#x, want %#x", ver, len(b), i, c, want)
		}
	}
	return nil
}

// alignedCopy copies b into heap memory that starts on an 8-byte boundary,
// as [Attach] needs for its atomic views.
func alignedCopy(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	w := make([]atomic.Uint64, (len(b)+7)/8)
	c := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(b))
	copy(c, b)
	return c
}

// waitFor polls cond every millisecond until it returns true, and fails
// the test if it has not after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}
