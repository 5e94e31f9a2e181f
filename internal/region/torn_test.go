package region

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// tornGeometry allows values of up to 64 KiB and gives each arena room for
// both cells of a field to grow to that size several times.
func tornGeometry() Geometry {
	g := testGeometry()
	g.MaxValueSize, g.ArenaSize = 64<<10, 4<<20
	return g
}

// TestReadIntoNeverTorn races a writer that rewrites one field many times
// against a reader that calls ReadInto in a loop. Every value has two equal
// halves derived from its version, so a read that mixes two versions, or
// pairs a value with the wrong version, fails the check.
func TestReadIntoNeverTorn(t *testing.T) {
	sizes := []int{1, 7, 8, 13, 64, 1001, 4099, 65535, 65536}
	tests := []struct {
		name string
		size func(ver uint64) int
	}{
		{"mixed", func(ver uint64) int { return sizes[ver%uint64(len(sizes))] }},
	}
	for _, n := range sizes {
		tests = append(tests, struct {
			name string
			size func(ver uint64) int
		}{fmt.Sprint(n), func(uint64) int { return n }})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			publishes := uint64(20000)
			if tt.size(0) >= 4096 || tt.name == "mixed" {
				publishes = 3000
			}
			if testing.Short() {
				publishes /= 10
			}
			r, _ := newRegion(t, tornGeometry())
			w := mustWriter(t, r, 1)
			if err := w.Publish(1, fillValue(nil, 1, tt.size(1))); err != nil {
				t.Fatal(err)
			}

			var done atomic.Bool
			var reads, overlapped, contended int
			var readErr error
			started := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				var buf []byte
				close(started)
				for !done.Load() {
					v, ver, _, err := r.ReadInto(1, buf)
					buf = v
					if errors.Is(err, ErrContended) {
						contended++
						continue
					}
					if err == nil {
						err = checkValue(v, ver, tt.size(ver))
					}
					if err != nil {
						readErr = err
						return
					}
					reads++
					if ver < publishes {
						overlapped++
					}
				}
			})

			<-started
			var buf []byte
			for ver := uint64(2); ver <= publishes; ver++ {
				buf = fillValue(buf, ver, tt.size(ver))
				if err := w.Publish(1, buf); err != nil {
					t.Fatal(err)
				}
			}
			done.Store(true)
			wg.Wait()

			if readErr != nil {
				t.Fatal(readErr)
			}
			if overlapped == 0 {
				t.Fatalf("none of %d reads ran while the writer was publishing", reads)
			}
			t.Logf("%d reads, %d during the writes, %d gave up as contended", reads, overlapped, contended)
		})
	}
}

// TestSequenceCheckCatchesRewriteMidCopy stops a read halfway through its
// copy, as a reader preempted there would be, lets the writer publish two
// more versions (the second rewrites the cell being copied), and finishes
// the copy. The copy is torn, and the version check that ReadInto makes
// after its copy detects it; ReadInto itself then returns the newest value.
func TestSequenceCheckCatchesRewriteMidCopy(t *testing.T) {
	for _, n := range []int{16, 13, 4096, 65535} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r, _ := newRegion(t, tornGeometry())
			w := mustWriter(t, r, 1)
			for ver := uint64(1); ver <= 3; ver++ {
				if err := w.Publish(1, fillValue(nil, ver, n)); err != nil {
					t.Fatal(err)
				}
			}

			// The first half of a read, with the steps ReadInto takes.
			f, _ := r.field(1)
			ver := f[fVersion].Load()
			c := fCell0 + 2*int(ver&1)
			src, size, ok := r.cellBytes(f[c].Load(), f[c+1].Load())
			if !ok || size != n {
				t.Fatalf("cell of version %d: ok %v, %d bytes", ver, ok, size)
			}
			dst := make([]byte, len(src)*8)
			half := len(src) / 2
			for i := range src[:half] {
				binary.NativeEndian.PutUint64(dst[i*8:], src[i].Load())
			}

			for next := ver + 1; next <= ver+2; next++ {
				if err := w.Publish(1, fillValue(nil, next, n)); err != nil {
					t.Fatal(err)
				}
			}

			for i := half; i < len(src); i++ {
				binary.NativeEndian.PutUint64(dst[i*8:], src[i].Load())
			}
			if checkValue(dst[:n], ver, n) == nil && checkValue(dst[:n], ver+2, n) == nil {
				t.Fatal("the copy is not torn, so the test does not exercise the version check")
			}
			if after := f[fVersion].Load(); after == ver {
				t.Fatalf("version after the rewrite is still %d", after)
			}

			v, got, _, err := r.ReadInto(1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != ver+2 {
				t.Errorf("ReadInto version = %d, want %d", got, ver+2)
			}
			if err := checkValue(v, got, n); err != nil {
				t.Error(err)
			}
		})
	}
}
