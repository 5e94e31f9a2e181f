package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/fieldd/fieldd/pkg/client"
)

// maxListed is how many violations or missing fields a report lists; the
// rest are only counted.
const maxListed = 20

// tracker records the last version delivered for each of a set of paths
// and checks every delivery: versions strictly increase per path, and the
// value is the one a writer helper encodes for that path and version.
type tracker struct {
	paths []string
	last  []atomic.Uint64
	calls atomic.Uint64

	mu         sync.Mutex
	violations []string
	nviolation int
}

func newTracker(paths []string) *tracker {
	return &tracker{paths: paths, last: make([]atomic.Uint64, len(paths))}
}

// callback returns the watch callback for path i.
func (tr *tracker) callback(i int) func(client.Value) {
	return func(v client.Value) { tr.observe(i, v) }
}

func (tr *tracker) observe(i int, v client.Value) {
	tr.calls.Add(1)
	path, ver := tr.paths[i], v.Version()
	if prev := tr.last[i].Load(); ver <= prev {
		tr.violate("%s: version %d delivered after version %d", path, ver, prev)
		return
	}
	if got, want := v.String(), encodeValue(path, ver); got != want {
		tr.violate("%s: version %d carries %q, want %q", path, ver, got, want)
	}
	tr.last[i].Store(ver)
}

func (tr *tracker) violate(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.nviolation++
	if len(tr.violations) < maxListed {
		tr.violations = append(tr.violations, fmt.Sprintf(format, args...))
	}
}

// missingCount returns how many paths in final have not been delivered
// with their final version yet.
func (tr *tracker) missingCount(final map[string]uint64) int {
	n := 0
	for i, p := range tr.paths {
		if want, ok := final[p]; ok && tr.last[i].Load() != want {
			n++
		}
	}
	return n
}

// report returns the last delivered versions, the violations and the
// paths whose last version differs from final.
func (tr *tracker) report(final map[string]uint64) reply {
	r := reply{Versions: make(map[string]uint64, len(tr.paths)), Callbacks: tr.calls.Load()}
	for i, p := range tr.paths {
		last := tr.last[i].Load()
		r.Versions[p] = last
		if want, ok := final[p]; ok && last != want {
			r.MissingCount++
			if len(r.Missing) < maxListed {
				r.Missing = append(r.Missing, fmt.Sprintf("%s: last delivered version %d, final %d", p, last, want))
			}
		}
	}
	tr.mu.Lock()
	r.Violations = append(r.Violations, tr.violations...)
	r.ViolationCount = tr.nviolation
	tr.mu.Unlock()
	return r
}
