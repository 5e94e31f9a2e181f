package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestWatchAfterChangesDeliversNewest changes a field five times in a
// writer process and only then watches it: the first callback carries
// version 5 although nothing is written after the watch.
func TestWatchAfterChangesDeliversNewest(t *testing.T) {
	d := startDaemon(t)
	w := startHelper(t, d, helperArgs{Role: roleWriter, Name: "writer"})
	w.call(command{Op: opClaim, Prefixes: []string{"doc"}}, 10*time.Second)
	r := w.call(command{Op: opPublish, Paths: []string{"doc/a"}, Count: 5}, 10*time.Second)
	if got := r.Versions["doc/a"]; got != 5 {
		t.Fatalf("doc/a is at version %d after five publishes, want 5", got)
	}

	c := d.dial(t, client.Options{Name: "late-watcher"})
	values := watchValues(t, c, "doc/a")
	v := nextValue(t, values, 5*time.Second)
	if v.Version() != 5 {
		t.Errorf("first callback has version %d, want 5", v.Version())
	}
	if want := encodeValue("doc/a", 5); v.String() != want {
		t.Errorf("first callback has value %q, want %q", v.String(), want)
	}
	expectNoValue(t, values, 100*time.Millisecond)
}

// TestChangeBetweenReadAndWatchDelivered lets a writer process change a
// field after a client read it and before the client watches it: the
// watcher gets the newer version without any later write.
func TestChangeBetweenReadAndWatchDelivered(t *testing.T) {
	d := startDaemon(t)
	w := startHelper(t, d, helperArgs{Role: roleWriter, Name: "writer"})
	w.call(command{Op: opClaim, Prefixes: []string{"doc"}}, 10*time.Second)
	w.call(command{Op: opPublish, Paths: []string{"doc/b"}}, 10*time.Second)

	c := d.dial(t, client.Options{Name: "reader"})
	id := fieldID(t, c, "doc/b")
	read, err := c.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	if read.Version() != 1 {
		t.Fatalf("Read returned version %d, want 1", read.Version())
	}

	r := w.call(command{Op: opPublish, Paths: []string{"doc/b"}}, 10*time.Second)
	if got := r.Versions["doc/b"]; got != 2 {
		t.Fatalf("doc/b is at version %d after the second publish, want 2", got)
	}

	values := watchValues(t, c, "doc/b")
	v := nextValue(t, values, 5*time.Second)
	if v.Version() != 2 {
		t.Errorf("first callback has version %d, want 2", v.Version())
	}
	if want := encodeValue("doc/b", 2); v.String() != want {
		t.Errorf("first callback has value %q, want %q", v.String(), want)
	}
}

// TestRewatchAfterCancelDeliversNewest cancels a watch, lets the field
// change twice, and watches it again: the new watch starts with the
// newest version, whatever the earlier watch left in the slot.
func TestRewatchAfterCancelDeliversNewest(t *testing.T) {
	d := startDaemon(t)
	w := startHelper(t, d, helperArgs{Role: roleWriter, Name: "writer"})
	w.call(command{Op: opClaim, Prefixes: []string{"doc"}}, 10*time.Second)
	w.call(command{Op: opPublish, Paths: []string{"doc/c"}}, 10*time.Second)

	c := d.dial(t, client.Options{Name: "rewatcher"})
	id := fieldID(t, c, "doc/c")
	for round := range 20 {
		values := make(chan client.Value, 16)
		cancel, err := c.Watch(id, func(v client.Value) { values <- v })
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(1 + 2*round)
		if v := nextValue(t, values, 5*time.Second); v.Version() != want {
			t.Fatalf("round %d: first callback has version %d, want %d", round, v.Version(), want)
		}
		// Publish once while watched, cancel, publish once more unwatched.
		w.call(command{Op: opPublish, Paths: []string{"doc/c"}}, 10*time.Second)
		cancel()
		w.call(command{Op: opPublish, Paths: []string{"doc/c"}}, 10*time.Second)
	}
}

func fieldID(t testing.TB, c *client.Client, path string) client.FieldID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.FieldID(ctx, path)
	if err != nil {
		t.Fatalf("field ID of %s: %v", path, err)
	}
	return id
}

// watchValues watches path and returns the channel its callback sends
// every value to. The channel holds 1,024 values; the callback blocks
// when it is full.
func watchValues(t testing.TB, c *client.Client, path string) <-chan client.Value {
	t.Helper()
	values := make(chan client.Value, 1024)
	if _, err := c.Watch(fieldID(t, c, path), func(v client.Value) { values <- v }); err != nil {
		t.Fatalf("watch %s: %v", path, err)
	}
	return values
}

func nextValue(t testing.TB, values <-chan client.Value, timeout time.Duration) client.Value {
	t.Helper()
	select {
	case v := <-values:
		return v
	case <-time.After(timeout):
		t.Fatalf("no callback within %v", timeout)
	}
	panic("unreachable")
}

// expectNoValue fails the test if a callback runs within d.
func expectNoValue(t testing.TB, values <-chan client.Value, d time.Duration) {
	t.Helper()
	select {
	case v := <-values:
		t.Errorf("unexpected callback with version %d and value %q", v.Version(), v.String())
	case <-time.After(d):
	}
}
