package bitmap

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func newBitmap(words int) Bitmap { return New(make([]atomic.Uint64, words)) }

func TestSetClear(t *testing.T) {
	b := newBitmap(4)
	last := uint32(b.Len() - 1)
	for _, i := range []uint32{0, 1, 63, 64, 127, 128, last} {
		if !b.Set(i) {
			t.Errorf("Set(%d) on a clear bit = false, want true", i)
		}
		if b.Set(i) {
			t.Errorf("Set(%d) on a set bit = true, want false", i)
		}
		if !b.IsSet(i) {
			t.Errorf("IsSet(%d) after Set = false", i)
		}
		if b.Count() != 1 {
			t.Errorf("Count() with bit %d set = %d, want 1", i, b.Count())
		}
		if !b.Clear(i) {
			t.Errorf("Clear(%d) on a set bit = false, want true", i)
		}
		if b.Clear(i) {
			t.Errorf("Clear(%d) on a clear bit = true, want false", i)
		}
		if b.IsSet(i) {
			t.Errorf("IsSet(%d) after Clear = true", i)
		}
	}
	if b.Len() != 256 {
		t.Errorf("Len() = %d, want 256", b.Len())
	}
}

func TestSetLeavesOtherBits(t *testing.T) {
	b := newBitmap(2)
	b.Set(5)
	b.Set(70)
	b.Clear(6)
	b.Clear(69)
	if got := b.AppendSet(nil); !slices.Equal(got, []uint32{5, 70}) {
		t.Errorf("set bits = %v, want [5 70]", got)
	}
}

func TestOutOfRange(t *testing.T) {
	for _, b := range []Bitmap{{}, New(nil), newBitmap(1)} {
		n := uint32(b.Len())
		for _, i := range []uint32{n, n + 1, n + 64, math.MaxUint32} {
			if b.Set(i) {
				t.Errorf("Len %d: Set(%d) = true", n, i)
			}
			if b.IsSet(i) {
				t.Errorf("Len %d: IsSet(%d) = true", n, i)
			}
			if b.Clear(i) {
				t.Errorf("Len %d: Clear(%d) = true", n, i)
			}
			if got, ok := b.Next(i); ok {
				t.Errorf("Len %d: Next(%d) = %d, true", n, i, got)
			}
		}
		if b.Count() != 0 {
			t.Errorf("Len %d: Count() = %d after out-of-range sets", n, b.Count())
		}
	}
}

func TestNext(t *testing.T) {
	b := newBitmap(4)
	last := uint32(b.Len() - 1)
	for _, i := range []uint32{3, 64, 200, last} {
		b.Set(i)
	}
	tests := []struct {
		from uint32
		want uint32
		ok   bool
	}{
		{0, 3, true},
		{3, 3, true},
		{4, 64, true},
		{63, 64, true},
		{65, 200, true},
		{201, last, true},
		{last, last, true},
		{last + 1, 0, false},
		{math.MaxUint32, 0, false},
	}
	for _, tt := range tests {
		got, ok := b.Next(tt.from)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Next(%d) = %d, %v; want %d, %v", tt.from, got, ok, tt.want, tt.ok)
		}
	}

	b.Clear(last)
	if got, ok := b.Next(201); ok {
		t.Errorf("Next(201) with no bit above 200 = %d, true", got)
	}
	if got, ok := newBitmap(4).Next(0); ok {
		t.Errorf("Next(0) on an empty bitmap = %d, true", got)
	}
}

func TestAppendSetAndCount(t *testing.T) {
	b := newBitmap(3)
	want := []uint32{0, 1, 62, 63, 64, 100, 128, 191}
	for _, i := range slices.Backward(want) {
		b.Set(i)
	}
	if got := b.AppendSet([]uint32{999}); !slices.Equal(got, append([]uint32{999}, want...)) {
		t.Errorf("AppendSet = %v, want 999 then %v", got, want)
	}
	if b.Count() != len(want) {
		t.Errorf("Count() = %d, want %d", b.Count(), len(want))
	}

	var walked []uint32
	for i, ok := b.Next(0); ok; i, ok = b.Next(i + 1) {
		walked = append(walked, i)
	}
	if !slices.Equal(walked, want) {
		t.Errorf("walk with Next = %v, want %v", walked, want)
	}

	b.Reset()
	if b.Count() != 0 {
		t.Errorf("Count() after Reset = %d", b.Count())
	}
	if got := b.AppendSet(nil); len(got) != 0 {
		t.Errorf("AppendSet after Reset = %v", got)
	}
}

// TestConcurrentSetOneWinner races many setters on every bit of one word.
// Exactly one Set per bit reports the change, and no bit is lost, which a
// load followed by a plain store would not guarantee.
func TestConcurrentSetOneWinner(t *testing.T) {
	const setters = 8
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	b := newBitmap(1)
	for range rounds {
		var wins atomic.Int64
		var wg sync.WaitGroup
		for range setters {
			wg.Go(func() {
				for i := range uint32(64) {
					if b.Set(i) {
						wins.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if wins.Load() != 64 {
			t.Fatalf("%d Set calls reported a change, want 64", wins.Load())
		}
		if b.Count() != 64 {
			t.Fatalf("Count() = %d, want 64", b.Count())
		}
		b.Reset()
	}
}
