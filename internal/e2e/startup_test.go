package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestNewClientMissesNoUpdate starts a new client while eight writer
// processes publish 1,000 updates each, over and over: the previous client
// closes and the new one connects, usually into the same slot, and
// watches every field while the writes go on. Once the writers stop, the
// new client's last delivered version of every field must equal the
// field's final version, so every update after Watch returned was either
// delivered or covered by the value Watch delivered first.
func TestNewClientMissesNoUpdate(t *testing.T) {
	const (
		writerCount     = 8
		fieldsPerWriter = 4
		updates         = 1000
	)
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	d := startDaemon(t, "--max-clients", "12", "--max-writers", "8")

	writers := make([]*helper, writerCount)
	paths := make([][]string, writerCount)
	var all []string
	for i := range writers {
		prefix := fmt.Sprintf("s%d", i)
		paths[i] = fieldPaths(prefix, fieldsPerWriter)
		all = append(all, paths[i]...)
		writers[i] = launchHelper(t, d, helperArgs{Role: roleWriter, Name: "writer-" + prefix})
	}
	for i, h := range writers {
		h.awaitReady(30 * time.Second)
		h.call(command{Op: opClaim, Prefixes: []string{fmt.Sprintf("s%d", i)}}, 30*time.Second)
	}

	// Rounds in which updates landed after the last Watch returned: those
	// exercise the start-up window.
	overlapped := 0
	var prev *client.Client
	for round := range rounds {
		// Each burst lasts a few milliseconds: 1,000 publishes with a short
		// sleep after every 50. Each writer publishes its fields one after
		// the other, so some fields stop changing before Watch, some while
		// it runs and some after it.
		for i, h := range writers {
			h.send(command{
				Op:         opBurst,
				Paths:      paths[i],
				Count:      updates,
				Sequential: true,
				PaceEvery:  50,
				PaceFor:    200 * time.Microsecond,
			})
		}
		if prev != nil {
			prev.Close()
		}
		opts := client.Options{Name: "new-client"}
		if round%2 == 1 {
			opts.FrameInterval, opts.DrainInterval = -1, -1
		}
		c := d.dial(t, opts)
		tr := watchAll(t, c, all)
		after := readVersions(t, c, all)

		final := make(map[string]uint64)
		for _, h := range writers {
			r := h.recv(time.Minute)
			if r.Error != "" {
				t.Fatalf("round %d: writer %q: %s", round, h.args.Name, r.Error)
			}
			for p, v := range r.Versions {
				final[p] = v
			}
		}
		for p, v := range final {
			if after[p] < v {
				overlapped++
				break
			}
		}

		deadline := time.Now().Add(10 * time.Second)
		for tr.missingCount(final) > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		r := tr.report(final)
		if r.MissingCount > 0 {
			t.Fatalf("round %d (slot %d): %d of %d fields never delivered their final version:\n%v",
				round, c.Slot(), r.MissingCount, len(all), r.Missing)
		}
		if r.ViolationCount > 0 {
			t.Fatalf("round %d (slot %d): %d deliveries broke the version order or carried a wrong value:\n%v",
				round, c.Slot(), r.ViolationCount, r.Violations)
		}
		prev = c
	}

	t.Logf("%d of %d rounds had updates after the last Watch returned", overlapped, rounds)
	if overlapped < rounds/4 {
		t.Errorf("only %d of %d rounds had updates after the last Watch returned: the writers finish too early to test the start-up window",
			overlapped, rounds)
	}
}

// watchAll watches every path with a new tracker.
func watchAll(t testing.TB, c *client.Client, paths []string) *tracker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := c.FieldIDs(ctx, paths...)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTracker(paths)
	for i, id := range ids {
		if _, err := c.Watch(id, tr.callback(i)); err != nil {
			t.Fatalf("watch %s: %v", paths[i], err)
		}
	}
	return tr
}

// readVersions reads the current version of every path.
func readVersions(t testing.TB, c *client.Client, paths []string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := c.FieldIDs(ctx, paths...)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]uint64, len(paths))
	for i, id := range ids {
		v, err := c.Read(id)
		if err != nil {
			t.Fatalf("read %s: %v", paths[i], err)
		}
		out[paths[i]] = v.Version()
	}
	return out
}
