package e2e

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestClaimHeldByLiveWriterNamesPID claims, from the test process, prefixes
// that a writer process holds or overlaps, and the reverse: each rejection
// carries the holder's pid in the error and in its message.
func TestClaimHeldByLiveWriterNamesPID(t *testing.T) {
	d := startDaemon(t)
	w := startHelper(t, d, helperArgs{Role: roleWriter, Name: "holder"})
	w.call(command{Op: opClaim, Prefixes: []string{"doc"}}, 10*time.Second)

	c := d.dial(t, client.Options{Name: "claimer"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, prefix := range []string{"doc", "doc/a/b"} {
		_, err := c.Claim(ctx, prefix)
		checkClaimedBy(t, err, prefix, w.pid())
	}

	if _, err := c.Claim(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	r := w.try(command{Op: opClaim, Prefixes: []string{"mine/x"}}, 10*time.Second)
	if r.Code != client.CodeClaimed {
		t.Errorf("writer process claiming mine/x: code %q, want %q (error %q)", r.Code, client.CodeClaimed, r.Error)
	}
	if r.Holder != os.Getpid() {
		t.Errorf("writer process claiming mine/x: holder %d, want the test's pid %d", r.Holder, os.Getpid())
	}
	if !strings.Contains(r.Error, strconv.Itoa(os.Getpid())) {
		t.Errorf("writer process claiming mine/x: error %q does not name the test's pid %d", r.Error, os.Getpid())
	}
}

// checkClaimedBy checks that err rejects a claim of prefix because the
// writer with pid holds it.
func checkClaimedBy(t testing.TB, err error, prefix string, pid int) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Errorf("claim %s: error %v, want a *client.Error", prefix, err)
		return
	}
	if ce.Code != client.CodeClaimed {
		t.Errorf("claim %s: code %q, want %q", prefix, ce.Code, client.CodeClaimed)
	}
	if ce.Holder != pid {
		t.Errorf("claim %s: holder %d, want the writer's pid %d", prefix, ce.Holder, pid)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(pid)) {
		t.Errorf("claim %s: error %q does not name the writer's pid %d", prefix, err, pid)
	}
}

// TestKilledWriterReleasesPrefixes kills a writer process with SIGKILL:
// its prefixes become free for another writer, its fields keep their last
// values, and a watcher of them keeps receiving changes from the new
// writer.
func TestKilledWriterReleasesPrefixes(t *testing.T) {
	d := startDaemon(t)
	w := startHelper(t, d, helperArgs{Role: roleWriter, Name: "doomed"})
	w.call(command{Op: opClaim, Prefixes: []string{"doc"}}, 10*time.Second)
	paths := []string{"doc/a", "doc/b"}
	w.call(command{Op: opPublish, Paths: paths, Count: 3}, 10*time.Second)

	c := d.dial(t, client.Options{Name: "survivor"})
	values := watchValues(t, c, "doc/a")
	if v := nextValue(t, values, 5*time.Second); v.Version() != 3 {
		t.Fatalf("first callback of doc/a has version %d, want 3", v.Version())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Claim(ctx, "doc")
	checkClaimedBy(t, err, "doc", w.pid())

	w.kill()
	var nw *client.Writer
	waitFor(t, 10*time.Second, "a claim of doc to succeed after its writer was killed", func() bool {
		nw, err = c.Claim(ctx, "doc")
		var ce *client.Error
		if err != nil && (!errors.As(err, &ce) || ce.Code != client.CodeClaimed) {
			t.Fatalf("claim doc after its writer was killed: %v", err)
		}
		return err == nil
	})

	for _, p := range paths {
		v, err := c.Read(fieldID(t, c, p))
		if err != nil {
			t.Fatal(err)
		}
		if v.Version() != 3 {
			t.Errorf("%s has version %d after its writer died, want 3", p, v.Version())
		}
		if want := encodeValue(p, 3); v.String() != want {
			t.Errorf("%s has value %q after its writer died, want %q", p, v.String(), want)
		}
	}

	if err := nw.Publish(fieldID(t, c, "doc/a"), []byte(encodeValue("doc/a", 4))); err != nil {
		t.Fatalf("publish doc/a from the new writer: %v", err)
	}
	if v := nextValue(t, values, 5*time.Second); v.Version() != 4 {
		t.Errorf("callback after the new writer's publish has version %d, want 4", v.Version())
	}
}
