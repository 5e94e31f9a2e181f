package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldd/fieldd/internal/proto"
)

func mustOpen(t *testing.T, path string) *Log {
	t.Helper()
	l, err := Open(path, 1<<10, 256)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLogIDsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paths.log")
	l := mustOpen(t, path)
	for i, p := range []string{"a", "b", "c"} {
		id, created, err := l.Create(p)
		if err != nil || !created || id != uint32(i+1) {
			t.Fatalf("Create(%q) = %d, %v, %v", p, id, created, err)
		}
	}
	if id, created, _ := l.Create("b"); id != 2 || created {
		t.Fatalf("Create of an existing path = %d, %v; want 2, false", id, created)
	}
	l.Close()

	l2 := mustOpen(t, path)
	for i, p := range []string{"a", "b", "c"} {
		if id, ok := l2.Lookup(p); !ok || id != uint32(i+1) {
			t.Errorf("Lookup(%q) = %d, %v after reopen", p, id, ok)
		}
	}
	if id, _, _ := l2.Create("d"); id != 4 {
		t.Errorf("new path after reopen got ID %d, want 4", id)
	}
}

func TestLogCutsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paths.log")
	l := mustOpen(t, path)
	l.Create("a")
	l.Create("bb")
	l.Close()
	b, _ := os.ReadFile(path)
	// Every strict prefix of the last record is a torn append.
	for cut := 1; cut < recHeader+2; cut++ {
		os.WriteFile(path, b[:len(b)-cut], 0o600)
		l2, err := Open(path, 1<<10, 256)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if l2.Len() != 1 {
			t.Errorf("cut %d: %d IDs, want 1", cut, l2.Len())
		}
		if id, _, _ := l2.Create("cc"); id != 2 {
			t.Errorf("cut %d: next ID %d, want 2", cut, id)
		}
		l2.Close()
	}
}

func TestLogRejectsCorruptMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paths.log")
	l := mustOpen(t, path)
	l.Create("a")
	l.Create("b")
	l.Close()
	b, _ := os.ReadFile(path)
	b[recHeader] ^= 0xff // the path byte of the first record
	os.WriteFile(path, b, 0o600)
	if _, err := Open(path, 1<<10, 256); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

func TestLogFull(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "p"), 3, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Create("a")
	l.Create("b")
	if _, _, err := l.Create("c"); !errors.Is(err, ErrFull) {
		t.Fatalf("Create past the table = %v, want ErrFull", err)
	}
}

func TestLogUnder(t *testing.T) {
	l := mustOpen(t, filepath.Join(t.TempDir(), "p"))
	for _, p := range []string{"a/x", "ab", "a", "a/y/z"} {
		l.Create(p)
	}
	got := l.Under("a", proto.HasPrefix)
	if len(got) != 3 || got[0] != 1 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("Under(a) = %v, want [1 3 4]", got)
	}
}

func TestAllocReusesWithNewGeneration(t *testing.T) {
	a := NewAlloc(1, 2)
	i, g, _ := a.Get()
	j, _, _ := a.Get()
	if i != 1 || j != 2 || g != 1 {
		t.Fatalf("Get = %d (gen %d), %d", i, g, j)
	}
	if _, _, err := a.Get(); !errors.Is(err, ErrNoneFree) {
		t.Fatalf("third Get = %v, want ErrNoneFree", err)
	}
	a.Put(1)
	i, g, _ = a.Get()
	if i != 1 || g != 2 || a.InUse() != 2 {
		t.Fatalf("reused index %d gen %d in use %d", i, g, a.InUse())
	}
}

// FuzzLogOpen feeds arbitrary log files to Open: it returns an error or a
// log whose IDs run densely from 1, never panics.
func FuzzLogOpen(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	l, _ := Open(seed, 1<<10, 256)
	l.Create("a/b")
	l.Create("c")
	l.Close()
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "p")
		os.WriteFile(path, data, 0o600)
		l, err := Open(path, 1<<10, 256)
		if err != nil {
			return
		}
		defer l.Close()
		for id := uint32(1); id <= l.Len(); id++ {
			p, ok := l.Path(id)
			if !ok {
				t.Fatalf("ID %d of %d has no path", id, l.Len())
			}
			if got, _ := l.Lookup(p); got != id {
				t.Fatalf("Lookup(Path(%d)) = %d", id, got)
			}
		}
	})
}
