package client_test

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestPanickingCallbackIsRecovered lets one callback panic in a frame that
// also delivers another field. The panic is logged with the field's path
// and counted, the other field's callback runs in the same frame, and
// later frames go on.
func TestPanickingCallbackIsRecovered(t *testing.T) {
	run := startDaemon(t)
	var logs syncBuffer
	// A budget far above what the frame needs, so that it never ends the
	// frame between the two fields.
	c := dial(t, run, client.Options{
		Name:        "panicky",
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		FrameBudget: time.Minute,
	})
	w := claim(t, c, "p")
	ids := fieldIDs(t, c, "p/gate", "p/bad", "p/good")
	gate, bad, good := ids[0], ids[1], ids[2]

	// The gate callback holds the dispatcher until release is closed, so
	// that bad and good are queued together and run in one frame.
	entered, release := make(chan struct{}), make(chan struct{})
	mustWatch(t, c, gate, func(v client.Value) {
		if v.String() == "hold" {
			close(entered)
			<-release
		}
	})
	var badFrame atomic.Uint64
	mustWatch(t, c, bad, func(v client.Value) {
		badFrame.Store(c.Stats().Frames)
		panic("boom at version " + strconv.FormatUint(v.Version(), 10))
	})
	goodValues := make(chan client.Value, 16)
	goodFrames := make(chan uint64, 16)
	mustWatch(t, c, good, func(v client.Value) {
		goodFrames <- c.Stats().Frames
		goodValues <- v
	})

	publish(t, w, gate, "hold")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("gate callback did not run")
	}
	publish(t, w, bad, "1")
	publish(t, w, good, "1")
	waitFor(t, 5*time.Second, "bad and good to be queued", func() bool { return c.Stats().Queued == 2 })
	close(release)

	if v := recvValue(t, goodValues, 5*time.Second); v.Version() != 1 {
		t.Errorf("good field delivered version %d, want 1", v.Version())
	}
	if frame := <-goodFrames; frame != badFrame.Load() {
		t.Errorf("good field ran in frame %d, the panicking bad field in frame %d: want the same frame", frame, badFrame.Load())
	}
	if got := c.Stats().Panics; got != 1 {
		t.Errorf("Stats().Panics = %d after one panic, want 1", got)
	}
	log := logs.String()
	if !strings.Contains(log, "p/bad") {
		t.Errorf("log does not name the path p/bad:\n%s", log)
	}
	if !strings.Contains(log, "boom at version 1") {
		t.Errorf("log does not carry the panic value:\n%s", log)
	}

	// Later frames still run, and panic again.
	publish(t, w, bad, "2")
	publish(t, w, good, "2")
	if v := recvValue(t, goodValues, 5*time.Second); v.Version() != 2 {
		t.Errorf("good field delivered version %d in a later frame, want 2", v.Version())
	}
	waitFor(t, 5*time.Second, "the second panic to be counted", func() bool { return c.Stats().Panics == 2 })
}

// TestPanicLogNamesPathOfUnresolvedID watches a field by an ID that the
// watching client never resolved to its path: the panic log still names
// the path, which the client then asks the daemon for.
func TestPanicLogNamesPathOfUnresolvedID(t *testing.T) {
	run := startDaemon(t)
	wc := dial(t, run, client.Options{Name: "writer"})
	w := claim(t, wc, "q")
	id := fieldID(t, wc, "q/unnamed")
	publish(t, w, id, "x")

	var logs syncBuffer
	c := dial(t, run, client.Options{Name: "panicky", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mustWatch(t, c, id, func(client.Value) { panic("boom") })
	waitFor(t, 5*time.Second, "the panic to be counted", func() bool { return c.Stats().Panics == 1 })
	waitFor(t, 5*time.Second, "the panic to be logged", func() bool { return strings.Contains(logs.String(), "boom") })
	if log := logs.String(); !strings.Contains(log, "q/unnamed") {
		t.Errorf("log does not name the path q/unnamed:\n%s", log)
	}
}

// TestBlockedCallbackKeepsDraining blocks the dispatcher in one callback
// for 5 s while 100,000 publishes hit 1,000 other watched fields. The
// drainer keeps emptying the ring meanwhile, so it never overflows. When
// the callback returns, each field fires exactly once with its newest
// value, and the frame that ran over its budget is counted.
func TestBlockedCallbackKeepsDraining(t *testing.T) {
	const fields = 1000
	block, publishes := 5*time.Second, 100_000
	if testing.Short() {
		block, publishes = time.Second, 20_000
	}
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "blocked"})
	wc := dial(t, run, client.Options{Name: "writer"})
	w := claim(t, wc, "b")

	paths := make([]string, fields)
	for i := range paths {
		paths[i] = fmt.Sprintf("b/f%04d", i)
	}
	ids := fieldIDs(t, c, paths...)
	slow := fieldID(t, c, "b/slow")

	entered := make(chan struct{})
	var returned atomic.Bool
	mustWatch(t, c, slow, func(v client.Value) {
		if v.String() == "block" {
			close(entered)
			time.Sleep(block)
			returned.Store(true)
		}
	})
	var blocked atomic.Bool
	calls := make([]atomic.Int64, fields) // calls since the block began
	last := make([]atomic.Uint64, fields)
	for i, id := range ids {
		mustWatch(t, c, id, func(v client.Value) {
			if blocked.Load() {
				calls[i].Add(1)
			}
			last[i].Store(v.Version())
		})
		publish(t, w, id, "0")
	}
	waitFor(t, 10*time.Second, "the first value of every field", func() bool {
		for i := range last {
			if last[i].Load() != 1 {
				return false
			}
		}
		return true
	})

	blocked.Store(true)
	publish(t, w, slow, "block")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("blocking callback did not run")
	}
	start := time.Now()
	before := c.Stats()
	for k := range publishes {
		publish(t, w, ids[k%fields], strconv.Itoa(k))
	}
	if returned.Load() {
		t.Fatalf("%d publishes took %v, longer than the %v block: the test cannot run", publishes, time.Since(start), block)
	}

	// Each field's first publish puts it in the ring once, and later ones
	// coalesce on its pending bit until the dispatcher takes it. The stats
	// are loaded before returned, so the last ones kept were taken while
	// the callback still blocked.
	during := before
	waitFor(t, block+5*time.Second, "the drainer to take every field or the callback to return", func() bool {
		st := c.Stats()
		if returned.Load() {
			return true
		}
		during = st
		return st.Drained >= before.Drained+fields
	})
	if n := during.Drained - before.Drained; n < fields {
		t.Fatalf("the drainer took %d of %d fields during the %v block, want all", n, fields, block)
	}
	if during.Callbacks != before.Callbacks {
		t.Errorf("%d callbacks ran while the dispatcher was blocked", during.Callbacks-before.Callbacks)
	}

	final := uint64(1 + publishes/fields)
	waitFor(t, block+10*time.Second, "every field's newest version after the block", func() bool {
		for i := range last {
			if last[i].Load() != final {
				return false
			}
		}
		return true
	})
	after := c.Stats()
	if after.Overflows != 0 || after.Rebuilds != 0 {
		t.Errorf("ring overflowed during the block: %d overflows, %d rebuilds", after.Overflows, after.Rebuilds)
	}
	if after.Overruns <= before.Overruns {
		t.Errorf("Stats().Overruns = %d, was %d before the %v callback: the overrun was not counted", after.Overruns, before.Overruns, block)
	}
	for i := range calls {
		if n := calls[i].Load(); n != 1 {
			t.Errorf("%s fired %d times after the block, want once", paths[i], n)
		}
	}
}

// TestCancelInsideCallbackStopsCalls cancels a watch from its own
// callback: it is not called again, while a second watch of the same
// field goes on.
func TestCancelInsideCallbackStopsCalls(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "canceler"})
	w := claim(t, c, "c")
	id := fieldID(t, c, "c/x")

	var calls atomic.Int64
	var cancel func()
	assigned := make(chan struct{})
	cancel = mustWatch(t, c, id, func(client.Value) {
		if calls.Add(1) == 1 {
			<-assigned
			cancel()
		}
	})
	close(assigned)
	control := make(chan client.Value, 64)
	mustWatch(t, c, id, func(v client.Value) { control <- v })

	for i := range 20 {
		publish(t, w, id, strconv.Itoa(i))
	}
	// Both watches are called from the same delivery of the field, so once
	// the control watch has the last version, a canceled watch that was
	// still called would have been called for it.
	waitFor(t, 5*time.Second, "the control watch to see version 20", func() bool {
		for {
			select {
			case v := <-control:
				if v.Version() == 20 {
					return true
				}
			default:
				return false
			}
		}
	})
	if n := calls.Load(); n != 1 {
		t.Errorf("callback ran %d times, want once: it canceled itself in its first call", n)
	}
}

// TestCancelStopsCallsImmediately hammers cancel from other goroutines
// while a writer publishes without pause: once cancel returns, the
// callback is not running and never runs again.
func TestCancelStopsCallsImmediately(t *testing.T) {
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	const workers = 4
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "hammered", FrameInterval: -1, DrainInterval: -1})
	wc := dial(t, run, client.Options{Name: "writer"})
	w := claim(t, wc, "h")
	id := fieldID(t, wc, "h/x")

	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := w.Publish(id, []byte(strconv.Itoa(i))); err != nil {
				writerDone <- err
				return
			}
		}
	}()

	var late, called atomic.Int64
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range rounds / workers {
				var canceled atomic.Bool
				var calls atomic.Int64
				cancel, err := c.Watch(id, func(client.Value) {
					calls.Add(1)
					if canceled.Load() {
						late.Add(1)
					}
					// Stay in the call for a while, so that a cancel that
					// returned without waiting for it would be seen.
					time.Sleep(100 * time.Microsecond)
					if canceled.Load() {
						late.Add(1)
					}
				})
				if err != nil {
					t.Errorf("worker %d: watch: %v", worker, err)
					return
				}
				// Every other round waits until the callback runs, so cancel
				// races with a running call.
				if round%2 == 0 {
					for calls.Load() == 0 {
						time.Sleep(10 * time.Microsecond)
					}
				}
				cancel()
				canceled.Store(true)
				called.Add(calls.Load())
			}
		}()
	}
	wg.Wait()

	// Let the canceled callbacks have more chances to run wrongly.
	time.Sleep(100 * time.Millisecond)
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatalf("publish: %v", err)
	}
	if n := late.Load(); n > 0 {
		t.Errorf("callbacks ran %d times after their cancel returned", n)
	}
	if called.Load() == 0 {
		t.Errorf("no callback ran at all: the test did not race cancel with calls")
	}
	if n := c.Stats().Watches; n != 0 {
		t.Errorf("Stats().Watches = %d after every watch was canceled, want 0", n)
	}
}

// TestCloseInsideCallbackReturns closes the client from a callback: Close
// returns there without deadlock, and the client is closed afterwards.
func TestCloseInsideCallbackReturns(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "self-closer"})
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "z")
	id := fieldID(t, c, "z/x")
	publish(t, w, id, "x")

	closed := make(chan error, 1)
	mustWatch(t, c, id, func(client.Value) { closed <- c.Close() })
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close inside a callback: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close inside a callback did not return within 10s")
	}

	if _, err := c.Read(id); err != client.ErrClosed {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if _, err := c.Watch(id, func(client.Value) {}); err != client.ErrClosed {
		t.Errorf("Watch after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseWaitsForRunningCallback closes the client from another
// goroutine while a callback runs: Close returns only after the callback
// has returned.
func TestCloseWaitsForRunningCallback(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "closer"})
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "z")
	id := fieldID(t, c, "z/x")
	publish(t, w, id, "x")

	entered, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	mustWatch(t, c, id, func(client.Value) {
		close(entered)
		<-release
		returned.Store(true)
	})
	<-entered
	closeDone := make(chan struct{})
	go func() {
		c.Close()
		close(closeDone)
	}()
	select {
	case <-closeDone:
		t.Fatal("Close returned while a callback was still running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closeDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s of the callback's return")
	}
	if !returned.Load() {
		t.Error("Close returned before the callback did")
	}
}

func mustWatch(t testing.TB, c *client.Client, id client.FieldID, fn func(client.Value)) (cancel func()) {
	t.Helper()
	cancel, err := c.Watch(id, fn)
	if err != nil {
		t.Fatalf("watch field %d: %v", id, err)
	}
	return cancel
}
