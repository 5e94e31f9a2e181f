package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestHelperProcess is the entry point of the helper processes that other
// tests start (see [launchHelper]); in a normal run it skips.
func TestHelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("runs only as a helper process started by another test")
	}
	var args helperArgs
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatalf("decode %s: %v", helperEnv, err)
	}

	out := &replyWriter{enc: json.NewEncoder(os.Stdout)}
	var err error
	switch args.Role {
	case roleWriter:
		err = runWriter(args, out)
	case roleWatcher:
		err = runWatcher(args, out)
	case roleRestart:
		err = runRestart(args, out)
	default:
		err = fmt.Errorf("unknown helper role %q", args.Role)
	}
	if err != nil {
		out.send(reply{Error: err.Error()})
		t.Fatal(err)
	}
}

// replyWriter writes replies as JSON lines on stdout.
type replyWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *replyWriter) send(r reply) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.enc.Encode(r)
}

func dialHelper(args helperArgs) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Dial(ctx, client.Options{
		RuntimeDir:    args.RuntimeDir,
		Name:          args.Name,
		FrameInterval: args.FrameInterval,
		DrainInterval: args.DrainInterval,
	})
}

// readCommands decodes commands from stdin and runs each through do until
// stdin closes.
func readCommands(do func(command) (reply, error), out *replyWriter) error {
	in := json.NewDecoder(os.Stdin)
	for {
		var cmd command
		if err := in.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode command: %w", err)
		}
		r, err := do(cmd)
		if err != nil {
			r.Error = err.Error()
			var ce *client.Error
			if errors.As(err, &ce) {
				r.Code, r.Holder = ce.Code, ce.Holder
			}
		}
		out.send(r)
	}
}

// runWriter connects and then runs writer commands. A failed command is
// reported in its reply, and the helper goes on.
func runWriter(args helperArgs, out *replyWriter) error {
	c, err := dialHelper(args)
	if err != nil {
		return err
	}
	defer c.Close()
	out.send(reply{PID: os.Getpid(), Slot: c.Slot()})

	wr := &writerRole{c: c}
	return readCommands(wr.do, out)
}

type writerRole struct {
	c *client.Client
	w *client.Writer
}

func (wr *writerRole) do(cmd command) (reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cmd.Op == opClaim {
		w, err := wr.c.Claim(ctx, cmd.Prefixes...)
		if err != nil {
			return reply{}, err
		}
		wr.w = w
		return reply{}, nil
	}

	if wr.w == nil {
		return reply{}, fmt.Errorf("%s before any claim", cmd.Op)
	}
	ids, err := wr.c.FieldIDs(ctx, cmd.Paths...)
	if err != nil {
		return reply{}, err
	}
	switch cmd.Op {
	case opPublish:
		return wr.publish(cmd, ids)
	case opBurst:
		return wr.burst(cmd, ids)
	}
	return reply{}, fmt.Errorf("unknown writer command %q", cmd.Op)
}

// publish publishes cmd.Value, or the encoded value of the next version,
// cmd.Count times (at least once) to each path.
func (wr *writerRole) publish(cmd command, ids []client.FieldID) (reply, error) {
	for i, id := range ids {
		for range max(cmd.Count, 1) {
			value := cmd.Value
			if value == "" {
				v, err := wr.c.Read(id)
				if err != nil {
					return reply{}, err
				}
				value = encodeValue(cmd.Paths[i], v.Version()+1)
			}
			if err := wr.w.Publish(id, []byte(value)); err != nil {
				return reply{}, err
			}
		}
	}
	return wr.versions(cmd.Paths, ids)
}

// burst publishes cmd.Count encoded values over the paths as fast as it
// can, apart from the pacing sleeps, and checks that each field's final
// version counts every publish.
func (wr *writerRole) burst(cmd command, ids []client.FieldID) (reply, error) {
	if len(ids) == 0 {
		return reply{}, errors.New("burst over no paths")
	}
	base := make([]uint64, len(ids))
	next := make([]uint64, len(ids))
	for i, id := range ids {
		v, err := wr.c.Read(id)
		if err != nil {
			return reply{}, err
		}
		base[i] = v.Version()
		next[i] = base[i] + 1
	}

	rng := rand.New(rand.NewPCG(cmd.Seed, cmd.Seed^0x9e3779b97f4a7c15))
	var buf []byte
	start := time.Now()
	for k := range cmd.Count {
		i := k % len(ids)
		switch {
		case cmd.Seed != 0:
			i = rng.IntN(len(ids))
		case cmd.Sequential:
			i = k * len(ids) / cmd.Count
		}
		buf = append(buf[:0], cmd.Paths[i]...)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, next[i], 10)
		if err := wr.w.Publish(ids[i], buf); err != nil {
			return reply{}, fmt.Errorf("publish %d of %d: %w", k+1, cmd.Count, err)
		}
		next[i]++
		if cmd.PaceEvery > 0 && (k+1)%cmd.PaceEvery == 0 {
			time.Sleep(cmd.PaceFor)
		}
	}
	elapsed := time.Since(start)

	r, err := wr.versions(cmd.Paths, ids)
	if err != nil {
		return r, err
	}
	for i, p := range cmd.Paths {
		if got, want := r.Versions[p], next[i]-1; got != want {
			return r, fmt.Errorf("%s: version %d after the burst, want %d (%d before plus the publishes)", p, got, want, base[i])
		}
	}
	r.Elapsed = elapsed
	return r, nil
}

// versions reads the current version of each path.
func (wr *writerRole) versions(paths []string, ids []client.FieldID) (reply, error) {
	r := reply{Versions: make(map[string]uint64, len(ids))}
	for i, id := range ids {
		v, err := wr.c.Read(id)
		if err != nil {
			return reply{}, err
		}
		r.Versions[paths[i]] = v.Version()
	}
	return r, nil
}

// runWatcher watches every configured path with a [tracker] and then runs
// "expect" commands.
func runWatcher(args helperArgs, out *replyWriter) error {
	c, err := dialHelper(args)
	if err != nil {
		return err
	}
	defer c.Close()

	paths := args.Paths
	for _, p := range args.Prefixes {
		paths = append(paths, fieldPaths(p, args.PerPrefix)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	ids, err := c.FieldIDs(ctx, paths...)
	cancel()
	if err != nil {
		return err
	}
	tr := newTracker(paths)
	for i, id := range ids {
		if _, err := c.Watch(id, tr.callback(i)); err != nil {
			return err
		}
	}
	out.send(reply{PID: os.Getpid(), Slot: c.Slot()})

	return readCommands(func(cmd command) (reply, error) {
		if cmd.Op != opExpect {
			return reply{}, fmt.Errorf("unknown watcher command %q", cmd.Op)
		}
		start := time.Now()
		deadline := start.Add(cmd.Timeout)
		for tr.missingCount(cmd.Final) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		st := c.Stats()
		r := tr.report(cmd.Final)
		r.Stats = &st
		r.Elapsed = time.Since(start)
		return r, nil
	}, out)
}

// runRestart connects, watches the first path, waits for its current
// value, updates it through the daemon and waits for that change to come
// back through its own slot. Then it reports ready and waits for stdin to
// close or to be killed.
func runRestart(args helperArgs, out *replyWriter) error {
	c, err := dialHelper(args)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	id, err := c.FieldID(ctx, args.Paths[0])
	if err != nil {
		return err
	}
	var latest atomic.Uint64
	if _, err := c.Watch(id, func(v client.Value) { latest.Store(v.Version()) }); err != nil {
		return err
	}
	if err := waitUntil(ctx, func() bool { return latest.Load() > 0 }); err != nil {
		return fmt.Errorf("first value of %s not delivered: %w", args.Paths[0], err)
	}
	if err := c.Update(ctx, id, []byte("updated by pid "+strconv.Itoa(os.Getpid()))); err != nil {
		return err
	}
	v, err := c.Read(id)
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, func() bool { return latest.Load() >= v.Version() }); err != nil {
		return fmt.Errorf("own update to version %d of %s not delivered (last %d): %w",
			v.Version(), args.Paths[0], latest.Load(), err)
	}

	out.send(reply{PID: os.Getpid(), Slot: c.Slot(), Generation: c.Stats().Generation})
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// waitUntil polls cond every millisecond until it holds or ctx is done.
func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
