package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldd/fieldd/pkg/client"
)

// watchLineJSON is one line of watch -o json output.
type watchLineJSON struct {
	Path    string    `json:"path"`
	ID      uint32    `json:"id"`
	Version uint64    `json:"version"`
	Value   string    `json:"value"`
	Gone    bool      `json:"gone"`
	Time    time.Time `json:"time"`
}

// watcher prints the values that the client's callbacks deliver and
// counts them. The callbacks run on the client's dispatcher goroutine;
// mu also orders them with the summary that the command goroutine reads.
type watcher struct {
	out       io.Writer
	json      bool
	pathWidth int
	count     int // stop after this many values; 0 means no limit

	mu        sync.Mutex
	stopped   bool // set when the watch ends; later values are dropped
	values    int
	coalesced uint64            // versions never delivered because a newer one replaced them
	last      map[string]uint64 // newest version delivered, by path
	err       error             // first write error
	done      chan struct{}     // closed when count values arrived or a write failed
	closeOnce sync.Once
}

func newWatch(g *globals) *cobra.Command {
	var (
		count   int
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "watch PATH...",
		Short: "Print each new value of the given fields as it arrives",
		Long: `Print each new value of the given fields as it arrives: the current value
first, when the field has one, then every change, at most once per field per
dispatch frame with the newest version. A path that does not exist yet is
created, so a watch can start before the writer of its field.

The watch ends after --count values in all, after --timeout, or on SIGINT or
SIGTERM. Unless -o json is given, a one-line summary then goes to stderr:
values printed, notifications received, frames and callbacks of this
client, and the versions coalesced, which are versions that a newer version
replaced before this client delivered them.

With -o json each value is one JSON object per line, with path, id,
version, value (a string), gone and time.

Exit codes: 0 when --count values arrived, or when the watch ran without
--count until --timeout or a signal; 3 when --timeout passed before --count
values arrived; 1 on an error, or on a signal before --count values arrived.`,
		Args: cobra.MinimumNArgs(1),
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if count < 0 {
				return fmt.Errorf("invalid --count %d: must be 0 (no limit) or more", count)
			}
			if timeout < 0 {
				return fmt.Errorf("invalid --timeout %s: must be 0 (none) or more", timeout)
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return runWatch(g, dedupe(args), count, timeout)
		}),
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many values in all (0: no limit)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop after this duration, such as 10s or 1m (0: none)")
	return cmd
}

func runWatch(g *globals, paths []string, count int, timeout time.Duration) error {
	ctx, stop := signalContext()
	defer stop()
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	ids, err := c.FieldIDs(ctx, paths...)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	w := &watcher{
		out:   os.Stdout,
		json:  g.json(),
		count: count,
		last:  make(map[string]uint64),
		done:  make(chan struct{}),
	}
	for _, p := range paths {
		w.pathWidth = max(w.pathWidth, len(p))
	}

	start := time.Now()
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for i, id := range ids {
		path := paths[i]
		cancel, err := c.Watch(id, func(v client.Value) { w.deliver(path, v) })
		if err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		defer cancel()
	}

	var end error
	select {
	case <-w.done:
	case <-expired:
		if count > 0 {
			end = &runError{code: exitTimedOut, err: fmt.Errorf("watch timed out after %s with %d of %d values", timeout, w.delivered(), count)}
		}
	case <-ctx.Done():
		if count > 0 {
			end = fmt.Errorf("watch interrupted after %d of %d values", w.delivered(), count)
		}
	}

	// Stop printing before the client's counters are read, so the summary
	// describes the values printed, give or take the callback running now.
	w.mu.Lock()
	w.stopped = true
	values, coalesced, werr := w.values, w.coalesced, w.err
	w.mu.Unlock()
	st := c.Stats()
	c.Close()
	if werr != nil {
		return fmt.Errorf("watch: write output: %w", werr)
	}
	if !w.json {
		fmt.Fprintf(os.Stderr, "watch: %s in %s: %d notifications received, %d frames, %d callbacks, %d versions coalesced\n",
			plural(values, "value"), time.Since(start).Round(time.Millisecond), st.Drained, st.Frames, st.Callbacks, coalesced)
	}
	return end
}

// deliver prints one value and counts it, unless count values were
// printed already.
func (w *watcher) deliver(path string, v client.Value) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.err != nil || w.count > 0 && w.values >= w.count {
		return
	}
	w.values++
	if last := w.last[path]; last > 0 && v.Version() > last+1 {
		w.coalesced += v.Version() - last - 1
	}
	w.last[path] = v.Version()

	if err := w.print(now, path, v); err != nil {
		w.err = err
		w.closeOnce.Do(func() { close(w.done) })
		return
	}
	if w.count > 0 && w.values == w.count {
		w.closeOnce.Do(func() { close(w.done) })
	}
}

func (w *watcher) print(now time.Time, path string, v client.Value) error {
	if w.json {
		line, err := json.Marshal(watchLineJSON{
			Path: path, ID: uint32(v.ID()), Version: v.Version(), Value: v.String(), Gone: v.Gone(), Time: now,
		})
		if err != nil {
			return err
		}
		_, err = w.out.Write(append(line, '\n'))
		return err
	}
	value := displayValue(v.Bytes())
	if v.Gone() {
		value = "(gone)"
	}
	_, err := fmt.Fprintf(w.out, "%s  %-*s  %8d  %s\n", now.Format("15:04:05.000"), w.pathWidth, path, v.Version(), value)
	return err
}

func (w *watcher) delivered() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.values
}

// dedupe returns paths without repeats, in their first order.
func dedupe(paths []string) []string {
	seen := make(map[string]bool, len(paths))
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// plural returns n and noun, with an s unless n is 1.
func plural[N ~int | ~uint64](n N, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
