package shm

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// alignedBytes returns n zeroed bytes that start on an 8-byte boundary.
func alignedBytes(n int) []byte {
	w := make([]atomic.Uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

func TestUint64sBounds(t *testing.T) {
	b := alignedBytes(64)
	tests := []struct {
		off, n int
		ok     bool
	}{
		{0, 8, true},
		{8, 7, true},
		{56, 1, true},
		{64, 0, true},
		{0, 0, true},
		{8, 8, false},
		{64, 1, false},
		{72, 0, false},
		{-8, 1, false},
		{0, -1, false},
		{4, 1, false},  // misaligned
		{12, 2, false}, // misaligned
	}
	for _, tt := range tests {
		w, err := Uint64s(b, tt.off, tt.n)
		if (err == nil) != tt.ok {
			t.Errorf("Uint64s(off %d, n %d) error = %v, want ok %v", tt.off, tt.n, err, tt.ok)
			continue
		}
		if err == nil && len(w) != tt.n {
			t.Errorf("Uint64s(off %d, n %d) has %d words", tt.off, tt.n, len(w))
		}
	}
}

func TestUint64sAliasBytes(t *testing.T) {
	b := alignedBytes(32)
	w, err := Uint64s(b, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	w[1].Store(0xff)
	if b[16] != 0xff && b[23] != 0xff {
		t.Errorf("store through the view did not reach bytes 16..23: % x", b[16:24])
	}

	word, err := Uint64At(b, 16)
	if err != nil {
		t.Fatal(err)
	}
	if word != &w[1] {
		t.Error("Uint64At(16) and Uint64s(8, 2)[1] are different words")
	}
}

func TestUint32At(t *testing.T) {
	b := alignedBytes(16)
	for _, off := range []int{0, 4, 12} {
		if _, err := Uint32At(b, off); err != nil {
			t.Errorf("Uint32At(%d): %v", off, err)
		}
	}
	for _, off := range []int{2, 13, 16, -4} {
		if _, err := Uint32At(b, off); err == nil {
			t.Errorf("Uint32At(%d) = nil error, want one", off)
		}
	}
}

func TestMustUint64sPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustUint64s with a misaligned offset did not panic")
		}
	}()
	MustUint64s(alignedBytes(16), 3, 1)
}
