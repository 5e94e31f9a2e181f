package registry

import (
	"errors"
	"fmt"
)

// ErrNoneFree is wrapped by [Alloc.Get] when every index is in use.
var ErrNoneFree = errors.New("no free index")

// Alloc hands out indexes from a fixed range, lowest first, and counts a
// generation per index so a reused index can be distinguished from its last use.
// It is not safe for concurrent use.
type Alloc struct {
	used []bool
	gen  []uint64
	base int
	n    int
}

// NewAlloc returns an allocator of indexes base..base+n-1.
func NewAlloc(base, n int) *Alloc {
	return &Alloc{used: make([]bool, n), gen: make([]uint64, n), base: base}
}

// Get returns a free index and its new generation.
func (a *Alloc) Get() (int, uint64, error) {
	for i, u := range a.used {
		if !u {
			a.used[i] = true
			a.gen[i]++
			a.n++
			return a.base + i, a.gen[i], nil
		}
	}
	return 0, 0, fmt.Errorf("%w: all %d in use", ErrNoneFree, len(a.used))
}

// Reserve marks index i in use, as a daemon does for an index that a
// process from before its restart still holds. It reports false when i is
// out of range or already in use.
func (a *Alloc) Reserve(i int) bool {
	i -= a.base
	if i < 0 || i >= len(a.used) || a.used[i] {
		return false
	}
	a.used[i] = true
	a.n++
	return true
}

// Put frees index i.
func (a *Alloc) Put(i int) {
	i -= a.base
	if i >= 0 && i < len(a.used) && a.used[i] {
		a.used[i] = false
		a.n--
	}
}

// InUse returns how many indexes are handed out.
func (a *Alloc) InUse() int { return a.n }

// SetGeneration raises index i's generation to at least g, so a daemon that
// reopens a region continues the generations stored in it.
func (a *Alloc) SetGeneration(i int, g uint64) {
	i -= a.base
	if i >= 0 && i < len(a.gen) && a.gen[i] < g {
		a.gen[i] = g
	}
}
