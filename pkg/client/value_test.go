package client_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestWatchDeliversCurrentValueFirst watches a field that already has
// three versions: the first callback carries the third, and a field with
// no value yet gets its first callback only with its first write.
func TestWatchDeliversCurrentValueFirst(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "watcher"})
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "v")
	ids := fieldIDs(t, c, "v/written", "v/empty")
	for _, s := range []string{"one", "two", "three"} {
		publish(t, w, ids[0], s)
	}

	written := make(chan client.Value, 16)
	mustWatch(t, c, ids[0], func(v client.Value) { written <- v })
	v := recvValue(t, written, 5*time.Second)
	if v.Version() != 3 || v.String() != "three" {
		t.Errorf("first callback of v/written: version %d value %q, want version 3 value %q", v.Version(), v.String(), "three")
	}
	if v.ID() != ids[0] {
		t.Errorf("first callback of v/written has ID %d, want %d", v.ID(), ids[0])
	}

	empty := make(chan client.Value, 16)
	mustWatch(t, c, ids[1], func(v client.Value) { empty <- v })
	// The watch of v/written was queued before this one, so once a frame
	// has run after both, v/empty had its chance to deliver.
	frames := c.Stats().Frames
	waitFor(t, 5*time.Second, "a frame after the watch", func() bool { return c.Stats().Frames > frames })
	select {
	case v := <-empty:
		t.Errorf("v/empty, never written, was delivered with version %d", v.Version())
	default:
	}
	publish(t, w, ids[1], "first")
	if v := recvValue(t, empty, 5*time.Second); v.Version() != 1 || v.String() != "first" {
		t.Errorf("v/empty after its first write: version %d value %q, want version 1 value %q", v.Version(), v.String(), "first")
	}
}

// TestValueOutlivesClose keeps a Value from a callback and one from Read
// and reads their bytes after Close unmapped the region: each Value owns a
// copy of its bytes.
func TestValueOutlivesClose(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "closer"})
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "k")
	id := fieldID(t, c, "k/x")
	const want = "a value that must outlive the mapping"
	publish(t, w, id, want)

	values := make(chan client.Value, 1)
	mustWatch(t, c, id, func(v client.Value) { values <- v })
	delivered := recvValue(t, values, 5*time.Second)
	read, err := c.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The writer overwrites both cells of the field, so a Value that shared
	// them, rather than the unmapped region, would now show other bytes.
	publish(t, w, id, "overwritten one")
	publish(t, w, id, "overwritten two")

	for name, v := range map[string]client.Value{"delivered": delivered, "read": read} {
		if v.String() != want {
			t.Errorf("%s value after Close: %q, want %q", name, v.String(), want)
		}
		if !bytes.Equal(v.Bytes(), []byte(want)) {
			t.Errorf("%s value bytes after Close: %q, want %q", name, v.Bytes(), want)
		}
		if v.Len() != len(want) {
			t.Errorf("%s value length after Close: %d, want %d", name, v.Len(), len(want))
		}
	}
}

// TestValueBytesReturnsCopy changes the slice Bytes returned: the Value
// keeps its bytes.
func TestValueBytesReturnsCopy(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "reader"})
	w := claim(t, c, "k")
	id := fieldID(t, c, "k/x")
	publish(t, w, id, "stable")

	v, err := c.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	b := v.Bytes()
	copy(b, "XXXXXX")
	if v.String() != "stable" {
		t.Errorf("value after changing the slice from Bytes: %q, want %q", v.String(), "stable")
	}
}
