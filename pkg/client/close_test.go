package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestMethodsAfterCloseReturnErrClosed calls every method after Close:
// each returns ErrClosed instead of touching the unmapped region, and
// Stats returns the counters as they were at Close.
func TestMethodsAfterCloseReturnErrClosed(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "closed"})
	w := claim(t, c, "x")
	ids := fieldIDs(t, c, "x/a", "x/b")
	publish(t, w, ids[0], "v")
	values := make(chan client.Value, 1)
	mustWatch(t, c, ids[0], func(v client.Value) { values <- v })
	recvValue(t, values, 5*time.Second)
	before := c.Stats()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An ID that the client has not resolved to a path, so FieldPath must
	// ask the daemon.
	unnamed := ids[1] + 1
	calls := map[string]func() error{
		"Read": func() error { _, err := c.Read(ids[0]); return err },
		"Watch": func() error {
			_, err := c.Watch(ids[0], func(client.Value) {})
			return err
		},
		"Update":    func() error { return c.Update(ctx, ids[1], []byte("v")) },
		"FieldPath": func() error { _, err := c.FieldPath(ctx, unnamed); return err },
		"FieldID":   func() error { _, err := c.FieldID(ctx, "x/new"); return err },
		"Claim":     func() error { _, err := c.Claim(ctx, "y"); return err },
		"Publish":   func() error { return w.Publish(ids[0], []byte("v")) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, client.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	after := c.Stats()
	if after.Callbacks != before.Callbacks || after.Slot != before.Slot || after.Generation != before.Generation {
		t.Errorf("Stats after Close: %+v, want the counters from before Close: %+v", after, before)
	}
}

// TestReadConcurrentWithClose reads fields and stats from several
// goroutines while the client closes: every call returns a value or
// ErrClosed, and none touches the region after it was unmapped.
func TestReadConcurrentWithClose(t *testing.T) {
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	run := startDaemon(t)
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "r")
	for range rounds {
		c := dial(t, run, client.Options{Name: "reader"})
		id := fieldID(t, c, "r/x")
		publish(t, w, id, "v")

		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c.Stats()
					_, err := c.Read(id)
					if errors.Is(err, client.ErrClosed) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		c.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Read during Close: %v", err)
		}
	}
}
