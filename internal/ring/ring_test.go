package ring

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newRing returns a ring of n cells over zeroed heap words.
func newRing(t testing.TB, n int) *Ring {
	t.Helper()
	words := make([]atomic.Uint64, n+1)
	r, err := New(&words[0], words[1:])
	if err != nil {
		t.Fatalf("New(%d cells): %v", n, err)
	}
	return r
}

// appendAll appends ids and fails the test at the first one rejected.
func appendAll(t *testing.T, r *Ring, ids ...uint32) {
	t.Helper()
	for _, id := range ids {
		if !r.Append(id) {
			t.Fatalf("Append(%d) = false, want true (tail %d)", id, r.Tail())
		}
	}
}

func seq(from, to uint32) []uint32 {
	var ids []uint32
	for id := from; id < to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func TestNewCapacity(t *testing.T) {
	for _, n := range []int{0, 1, 3, 6, 12, 1000} {
		words := make([]atomic.Uint64, n+1)
		_, err := New(&words[0], words[1:])
		if !errors.Is(err, ErrCapacity) {
			t.Errorf("New(%d cells) error = %v, want ErrCapacity", n, err)
		}
	}
	for _, n := range []int{2, 4, 1024} {
		r := newRing(t, n)
		if r.Cap() != n {
			t.Errorf("Cap() = %d, want %d", r.Cap(), n)
		}
	}
}

func TestDrainEmptyRing(t *testing.T) {
	r := newRing(t, 8)
	if r.Ready(0) {
		t.Error("Ready(0) on a zeroed ring = true, want false")
	}
	head, got := r.Drain(0, nil, 100)
	if head != 0 {
		t.Errorf("head after draining an empty ring = %d, want 0", head)
	}
	if len(got) != 0 {
		t.Errorf("drained %v from an empty ring", got)
	}
}

func TestAppendDrainOrder(t *testing.T) {
	r := newRing(t, 8)
	appendAll(t, r, seq(1, 6)...)
	if !r.Ready(0) {
		t.Error("Ready(0) after appends = false, want true")
	}

	head, got := r.Drain(0, nil, 100)
	if want := seq(1, 6); !slices.Equal(got, want) {
		t.Fatalf("first drain = %v, want %v", got, want)
	}
	if head != 5 {
		t.Fatalf("head = %d, want 5", head)
	}

	// The next eight entries wrap around the end of the cells.
	appendAll(t, r, seq(6, 14)...)
	head, got = r.Drain(head, nil, 100)
	if want := seq(6, 14); !slices.Equal(got, want) {
		t.Errorf("second drain = %v, want %v", got, want)
	}
	if head != 13 {
		t.Errorf("head = %d, want 13", head)
	}
	if r.Tail() != 13 {
		t.Errorf("Tail() = %d, want 13", r.Tail())
	}
}

func TestDrainStopsAtMax(t *testing.T) {
	r := newRing(t, 8)
	appendAll(t, r, seq(1, 7)...)

	head, got := r.Drain(0, nil, 4)
	if want := seq(1, 5); !slices.Equal(got, want) {
		t.Fatalf("drain with max 4 = %v, want %v", got, want)
	}
	head, got = r.Drain(head, got[:0], 0)
	if len(got) != 0 || head != 4 {
		t.Fatalf("drain with max 0 = %v, head %d; want nothing at head 4", got, head)
	}
	head, got = r.Drain(head, got[:0], 4)
	if want := seq(5, 7); !slices.Equal(got, want) {
		t.Errorf("drain of the rest = %v, want %v", got, want)
	}
	if head != 6 {
		t.Errorf("head = %d, want 6", head)
	}
}

func TestDrainAppendsToDst(t *testing.T) {
	r := newRing(t, 4)
	appendAll(t, r, 7, 8)
	_, got := r.Drain(0, []uint32{99}, 10)
	if want := []uint32{99, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("Drain = %v, want %v", got, want)
	}
}

func TestAppendFullRing(t *testing.T) {
	r := newRing(t, 4)
	appendAll(t, r, 1, 2, 3, 4)
	if r.Append(5) {
		t.Fatal("Append to a full ring = true, want false")
	}
	if r.Tail() != 4 {
		t.Fatalf("Tail() after a rejected append = %d, want 4", r.Tail())
	}

	head, got := r.Drain(0, nil, 1)
	if !slices.Equal(got, []uint32{1}) {
		t.Fatalf("drain of one = %v, want [1]", got)
	}
	appendAll(t, r, 6)
	if r.Append(7) {
		t.Fatal("Append to a full ring after one drain = true, want false")
	}

	_, got = r.Drain(head, nil, 100)
	if want := []uint32{2, 3, 4, 6}; !slices.Equal(got, want) {
		t.Errorf("drain = %v, want %v: a rejected append must leave no trace", got, want)
	}
}

// TestResetAtPositions fills and empties the ring several times after
// Reset at positions that put the first cell anywhere in a lap, just below
// a lap-number wrap, and just below the wrap of the 64-bit position.
func TestResetAtPositions(t *testing.T) {
	for _, n := range []int{2, 4, 16} {
		lapWrap := uint64(n) << lapBits // first position of lap 0 again
		positions := []uint64{0, 1, 7, 8, 1<<32 - 3, lapWrap - 1, lapWrap - uint64(n) - 1,
			math.MaxUint64 - uint64(n), math.MaxUint64 - 1, math.MaxUint64}
		for _, pos := range positions {
			t.Run(fmt.Sprintf("cap%d/pos%d", n, pos), func(t *testing.T) {
				r := newRing(t, n)
				appendAll(t, r, 1, 2) // dirty the cells before the reset
				r.Reset(pos)
				if r.Tail() != pos {
					t.Fatalf("Tail() = %d, want %d", r.Tail(), pos)
				}
				if r.Ready(pos) {
					t.Fatalf("Ready(%d) right after Reset = true", pos)
				}

				head := pos
				for round := range uint32(3) {
					want := seq(round*100+1, round*100+1+uint32(n))
					appendAll(t, r, want...)
					if r.Append(999) {
						t.Fatalf("round %d: Append to a full ring = true", round)
					}
					var got []uint32
					head, got = r.Drain(head, nil, 2*n)
					if !slices.Equal(got, want) {
						t.Fatalf("round %d: drained %v, want %v", round, got, want)
					}
				}
				if want := pos + 3*uint64(n); head != want {
					t.Errorf("head = %d, want %d", head, want)
				}
			})
		}
	}
}

// TestPositionAndLapWrap interleaves appends and drains across the wrap of
// the lap number and of the 64-bit position, against a FIFO model.
func TestPositionAndLapWrap(t *testing.T) {
	const n = 4
	tests := []struct {
		name    string
		start   uint64
		wrapped func(r *Ring, start, head uint64) bool
	}{
		{"position", math.MaxUint64 - 9, func(_ *Ring, start, head uint64) bool { return head < start }},
		{"lap", n<<lapBits - 9, func(r *Ring, start, head uint64) bool { return r.lap(head) < r.lap(start) }},
	}
	for _, tt := range tests {
		start := tt.start
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(t, n)
			r.Reset(start)
			head := start
			var model []uint32
			next := uint32(1)
			for step := range 40 {
				for range 3 {
					ok := r.Append(next)
					if ok != (len(model) < n) {
						t.Fatalf("step %d: Append(%d) = %v with %d queued", step, next, ok, len(model))
					}
					if ok {
						model = append(model, next)
					}
					next++
				}
				var got []uint32
				head, got = r.Drain(head, nil, 2)
				want := model[:min(2, len(model))]
				if !slices.Equal(got, want) {
					t.Fatalf("step %d: drained %v, want %v", step, got, want)
				}
				model = model[len(want):]
			}
			if !tt.wrapped(r, start, head) {
				t.Errorf("head %d (lap %d) did not wrap from %d (lap %d)", head, r.lap(head), start, r.lap(start))
			}
		})
	}
}

// fillAsDeadProducer claims the cell at the tail the way Append does and
// stops before moving the tail, like a producer killed between its two
// compare-and-swaps.
func fillAsDeadProducer(t *testing.T, r *Ring, id uint32) {
	t.Helper()
	tail := r.Tail()
	if !r.cells[tail&r.mask].CompareAndSwap(emptyCell(r.lap(tail)), fullCell(r.lap(tail), id)) {
		t.Fatalf("cell at tail %d is not empty for its lap", tail)
	}
}

func TestAppendHelpsTailPastDeadProducer(t *testing.T) {
	r := newRing(t, 4)
	fillAsDeadProducer(t, r, 7)

	appendAll(t, r, 8)
	if r.Tail() != 2 {
		t.Errorf("Tail() = %d, want 2", r.Tail())
	}
	_, got := r.Drain(0, nil, 10)
	if want := []uint32{7, 8}; !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
}

// TestAppendAfterDeadProducerDrained checks that the ring stays usable when
// the consumer drains the entry of a dead producer before any other
// producer has moved the tail past it.
func TestAppendAfterDeadProducerDrained(t *testing.T) {
	r := newRing(t, 4)
	fillAsDeadProducer(t, r, 7)
	head, got := r.Drain(0, nil, 10)
	if !slices.Equal(got, []uint32{7}) {
		t.Fatalf("drained %v, want [7]", got)
	}

	for id := uint32(8); id < 12; id++ {
		if !r.Append(id) {
			t.Fatalf("Append(%d) = false with %d of 4 cells in use", id, id-8)
		}
	}
	_, got = r.Drain(head, nil, 10)
	if want := seq(8, 12); !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
}

// TestConcurrentAppendExactlyOnce runs many producers against one consumer
// on a small ring. Every ID arrives exactly once, and the IDs of each
// producer arrive in the order it appended them.
func TestConcurrentAppendExactlyOnce(t *testing.T) {
	producers, perProducer := 8, 20000
	if testing.Short() {
		perProducer = 2000
	}
	r := newRing(t, 8)

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				id := uint32(p*perProducer + i + 1)
				for !r.Append(id) {
					runtime.Gosched()
				}
			}
		})
	}

	total := producers * perProducer
	seen := make([]bool, total+1)
	last := make([]int, producers) // last index seen per producer
	for p := range last {
		last[p] = -1
	}
	deadline := time.Now().Add(time.Minute)
	var head uint64
	var got []uint32
	for n := 0; n < total; {
		if time.Now().After(deadline) {
			t.Fatalf("drained %d of %d IDs before the deadline", n, total)
		}
		head, got = r.Drain(head, got[:0], 64)
		if len(got) == 0 {
			runtime.Gosched()
		}
		for _, id := range got {
			if id == 0 || int(id) > total {
				t.Fatalf("drained ID %d, which no producer appended", id)
			}
			if seen[id] {
				t.Fatalf("drained ID %d twice", id)
			}
			seen[id] = true
			p, i := int(id-1)/perProducer, int(id-1)%perProducer
			if i <= last[p] {
				t.Fatalf("producer %d: index %d after %d", p, i, last[p])
			}
			last[p] = i
			n++
		}
	}
	wg.Wait()

	if _, rest := r.Drain(head, nil, 64); len(rest) != 0 {
		t.Errorf("drained %v after every ID had arrived", rest)
	}
}
