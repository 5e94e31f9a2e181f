package e2e

import (
	"fmt"
	"testing"
	"time"
)

// stressSize is the shape of TestWritersAndWatchersConverge.
type stressSize struct {
	fieldsPerWriter int
	publishes       int // in total, split evenly between the writers
}

// stressSizeFor returns the full size, or a smaller one under -short.
// The full size took 8 to 15 s under the race detector on a 2-core VM.
func stressSizeFor() stressSize {
	if testing.Short() {
		return stressSize{fieldsPerWriter: 1000, publishes: 100_000}
	}
	return stressSize{fieldsPerWriter: 5000, publishes: 1_000_000}
}

// TestWritersAndWatchersConverge runs one daemon with 64-entry rings, two
// writer processes that each own 5,000 fields, and three watcher processes
// that watch all 10,000. The writers publish 1,000,000 values in all, at
// random over their fields. Afterwards every watcher's last delivered
// version of every field must equal the field's final version. No watcher
// may have seen a version that was not newer than the one before, or a
// value that does not carry its field's path and version.
// The rings are far smaller than the number of fields, so they overflow
// and the watchers recover from their pending bitmaps.
func TestWritersAndWatchersConverge(t *testing.T) {
	size := stressSizeFor()
	prefixes := []string{"w0", "w1"}
	d := startDaemon(t, "--ring-size", "64", "--max-clients", "16")

	// Watchers first, so every field is watched before the first publish.
	watchers := make([]*helper, 3)
	for i := range watchers {
		watchers[i] = launchHelper(t, d, helperArgs{
			Role:      roleWatcher,
			Name:      fmt.Sprintf("watcher-%d", i),
			Prefixes:  prefixes,
			PerPrefix: size.fieldsPerWriter,
		})
	}
	writers := make([]*helper, len(prefixes))
	for i, p := range prefixes {
		writers[i] = launchHelper(t, d, helperArgs{Role: roleWriter, Name: "writer-" + p})
	}
	for _, h := range watchers {
		h.awaitReady(3 * time.Minute)
	}
	for i, h := range writers {
		h.awaitReady(30 * time.Second)
		h.call(command{Op: opClaim, Prefixes: []string{prefixes[i]}}, 30*time.Second)
	}

	start := time.Now()
	for i, h := range writers {
		h.send(command{
			Op:    opBurst,
			Paths: fieldPaths(prefixes[i], size.fieldsPerWriter),
			Count: size.publishes / len(writers),
			Seed:  uint64(i + 1),
		})
	}
	final := make(map[string]uint64)
	var total uint64
	for _, h := range writers {
		r := h.recv(5 * time.Minute)
		if r.Error != "" {
			t.Fatalf("writer %q: %s", h.args.Name, r.Error)
		}
		t.Logf("writer %q: %d publishes in %v", h.args.Name, size.publishes/len(writers), r.Elapsed.Round(time.Millisecond))
		for p, v := range r.Versions {
			final[p] = v
			total += v
		}
	}
	if len(final) != len(prefixes)*size.fieldsPerWriter {
		t.Fatalf("writers reported %d final versions, want %d", len(final), len(prefixes)*size.fieldsPerWriter)
	}
	// Every field started at version 0, so the versions add up to the
	// publishes.
	if total != uint64(size.publishes) {
		t.Fatalf("final versions add up to %d, want %d publishes", total, size.publishes)
	}

	for _, h := range watchers {
		h.send(command{Op: opExpect, Final: final, Timeout: time.Minute})
	}
	for _, h := range watchers {
		r := h.recv(2 * time.Minute)
		if r.Error != "" {
			t.Fatalf("watcher %q: %s", h.args.Name, r.Error)
		}
		checkWatcherReport(t, h.args.Name, r, final)
		st := r.Stats
		t.Logf("watcher %q: waited %v for the final versions after the writers stopped; %d callbacks, %d drained, %d rebuilds, %d overflows, %d overruns, %d stale",
			h.args.Name, r.Elapsed.Round(time.Millisecond), r.Callbacks, st.Drained, st.Rebuilds, st.Overflows, st.Overruns, st.Stale)
		if st.Rebuilds == 0 && st.Overflows == 0 {
			t.Errorf("watcher %q: no ring overflow with 64-entry rings and %d fields, so the bitmap recovery went untested",
				h.args.Name, len(final))
		}
	}
	t.Logf("%d publishes delivered to 3 watchers in %v", size.publishes, time.Since(start).Round(time.Millisecond))
}

// checkWatcherReport fails the test for every violation a watcher
// reported and for every field whose last delivered version is not final.
func checkWatcherReport(t *testing.T, name string, r reply, final map[string]uint64) {
	t.Helper()
	if r.ViolationCount > 0 {
		t.Errorf("watcher %q: %d deliveries broke the version order or carried a wrong value, for example:\n%v",
			name, r.ViolationCount, r.Violations)
	}
	wrong := 0
	for p, want := range final {
		got, ok := r.Versions[p]
		if ok && got == want {
			continue
		}
		wrong++
		if wrong <= maxListed {
			t.Errorf("watcher %q: %s: last delivered version %d, final version %d", name, p, got, want)
		}
	}
	if wrong > 0 {
		t.Errorf("watcher %q: %d of %d fields did not reach their final version", name, wrong, len(final))
	}
}
