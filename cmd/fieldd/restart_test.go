package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// dialRetry dials until the daemon accepts or 20 s pass.
func dialRetry(t *testing.T, runDir string) *client.Client {
	t.Helper()
	var c *client.Client
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err = client.Dial(context.Background(), client.Options{RuntimeDir: runDir})
		if err == nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("dial %s: %v", runDir, err)
	return nil
}

func TestPathIDsSurviveDaemonKill(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--runtime-dir", dir + "/run", "--state-dir", dir + "/state"}
	first, _ := startDaemon(t, nil, args...)
	ctx := context.Background()
	c := dialRetry(t, dir+"/run")
	want := map[string]client.FieldID{}
	for _, p := range []string{"a", "b", "c"} {
		id, err := c.FieldID(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = id
	}
	if err := c.Update(ctx, want["a"], []byte("kept")); err != nil {
		t.Fatal(err)
	}
	// The reply for c has arrived, so its record is on disk.
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	c.Close()

	_, log := startDaemon(t, nil, args...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	if !strings.Contains(log.String(), "reopened region") {
		t.Errorf("restarted daemon did not reopen the region:\n%s", log.String())
	}
	c2 := dialRetry(t, dir+"/run")
	defer c2.Close()
	for p, id := range want {
		got, err := c2.FieldID(ctx, p)
		if err != nil || got != id {
			t.Errorf("FieldID(%q) after restart = %d, %v; want %d", p, got, err, id)
		}
	}
	d, err := c2.FieldID(ctx, "d")
	if err != nil {
		t.Fatal(err)
	}
	for p, id := range want {
		if d == id {
			t.Errorf("new path d got ID %d, which %q had", d, p)
		}
	}
	v, err := c2.Read(want["a"])
	if err != nil || v.String() != "kept" || v.Version() != 1 {
		t.Errorf("value of a after restart = %q version %d, %v; want kept version 1", v.String(), v.Version(), err)
	}
}

// init runs this test binary as a watching child when FIELDD_TEST_WATCH
// holds a runtime directory and a path separated by '|'.
func init() {
	if spec := os.Getenv("FIELDD_TEST_WATCH"); spec != "" {
		runDir, path, _ := strings.Cut(spec, "|")
		os.Exit(runWatcherChild(runDir, path))
	}
}

// runWatcherChild prints "slot N", watches path and prints "version V"
// for each value, until stdin closes.
func runWatcherChild(runDir, path string) int {
	ctx := context.Background()
	c, err := client.Dial(ctx, client.Options{RuntimeDir: runDir, FrameInterval: -1})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	id, err := c.FieldID(ctx, path)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var mu sync.Mutex
	fmt.Println("slot", c.Slot())
	if _, err := c.Watch(id, func(v client.Value) {
		mu.Lock()
		fmt.Println("version", v.Version())
		mu.Unlock()
	}); err != nil {
		fmt.Println("error", err)
		return 1
	}
	io.Copy(io.Discard, os.Stdin)
	return 0
}

func TestClientsOutliveDaemonRestart(t *testing.T) {
	dir := t.TempDir()
	run := dir + "/run"
	args := []string{"--runtime-dir", run, "--state-dir", dir + "/state"}
	first, _ := startDaemon(t, nil, args...)
	ctx := context.Background()

	writer := dialRetry(t, run)
	defer writer.Close()
	w, err := writer.Claim(ctx, "doc")
	if err != nil {
		t.Fatal(err)
	}
	id, err := writer.FieldID(ctx, "doc/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Publish(id, []byte("1")); err != nil {
		t.Fatal(err)
	}

	// A watcher in another process, so that it can die later.
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "FIELDD_TEST_WATCH="+run+"|doc/x")
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); child.Process.Kill(); child.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watcher exited before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix)
				}
				if strings.HasPrefix(l, "error") {
					t.Fatalf("watcher: %s", l)
				}
			case <-timeout:
				t.Fatalf("no %q from the watcher within 20s", prefix)
			}
		}
	}
	watcherSlot := expect("slot ")
	expect("version 1")

	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	_, log := startDaemon(t, nil, args...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	if !strings.Contains(log.String(), "slots=2 arenas=1") {
		t.Errorf("restarted daemon did not keep 2 slots and 1 arena:\n%s", log.String())
	}

	// The writer publishes and the watcher is notified, with no reconnect.
	if err := w.Publish(id, []byte("2")); err != nil {
		t.Fatalf("publish after the restart: %v", err)
	}
	expect("version 2")

	// The old connection is gone, and requests fail with ErrDisconnected.
	if _, err := writer.FieldID(ctx, "doc/new"); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("request over the old connection = %v, want ErrDisconnected", err)
	}

	// The orphaned writer's fields cannot be claimed while it runs.
	if _, err := dialCleanup(t, run).Claim(ctx, "doc"); err == nil || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("claim of an orphaned writer's prefix = %v, want a rejection naming pid %d", err, os.Getpid())
	}

	// A new client gets a slot that no orphan holds.
	fresh := dialRetry(t, run)
	defer fresh.Close()
	if got := strconv.Itoa(fresh.Slot()); got == watcherSlot || fresh.Slot() == writer.Slot() {
		t.Fatalf("new client got slot %s, held by an orphan (watcher %s, writer %d)", got, watcherSlot, writer.Slot())
	}
	st, err := fresh.DaemonStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orphans := 0
	for _, s := range st.Slots {
		if s.Orphan {
			orphans++
		}
	}
	if orphans != 2 {
		t.Errorf("stats list %d orphaned slots, want 2", orphans)
	}

	// Once the watcher dies, the daemon reclaims its slot.
	child.Process.Kill()
	child.Wait()
	waitFor(t, func() bool { return strings.Contains(log.String(), `msg="orphaned slot reclaimed" slot=`+watcherSlot) })
}

func TestCloseReturnsAfterDaemonStops(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			d, _ := startDaemon(t, nil, "--runtime-dir", dir+"/run", "--state-dir", dir+"/state")
			c := dialRetry(t, dir+"/run")
			id, err := c.FieldID(context.Background(), "a/x")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Watch(id, func(client.Value) {}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return c.Stats().Parks > 0 })

			d.Process.Signal(sig)
			d.Wait()
			closed := make(chan error, 1)
			go func() { closed <- c.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return within 10s after the daemon stopped")
			}
		})
	}
}

func TestStoppedDaemonKeepsSlotsForNext(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--runtime-dir", dir + "/run", "--state-dir", dir + "/state"}
	first, _ := startDaemon(t, nil, args...)
	ctx := context.Background()
	c := dialRetry(t, dir+"/run")
	defer c.Close()
	w, err := c.Claim(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.FieldID(ctx, "k/x")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 100)
	if _, err := c.Watch(id, func(v client.Value) { got <- v.Version() }); err != nil {
		t.Fatal(err)
	}

	first.Process.Signal(syscall.SIGTERM)
	first.Wait()
	_, log := startDaemon(t, nil, args...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })

	if err := w.Publish(id, []byte("after")); err != nil {
		t.Fatalf("publish after a clean restart: %v", err)
	}
	select {
	case v := <-got:
		if v != 1 {
			t.Errorf("first version after the restart = %d, want 1", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch got nothing after a clean daemon restart")
	}
}

func TestTornPathLogLeaksNoValue(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--runtime-dir", dir + "/run", "--state-dir", dir + "/state"}
	first, _ := startDaemon(t, nil, args...)
	ctx := context.Background()
	c := dialRetry(t, dir+"/run")
	id, err := c.FieldID(ctx, "a/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, id, []byte("old")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	first.Process.Signal(syscall.SIGTERM)
	first.Wait()

	// Cut the last record as a crash during its append would.
	logPath := dir + "/state/paths.log"
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(logPath, st.Size()-3); err != nil {
		t.Fatal(err)
	}

	_, log := startDaemon(t, nil, args...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	if !strings.Contains(log.String(), "torn record") {
		t.Errorf("no warning about the torn record:\n%s", log.String())
	}
	c2 := dialRetry(t, dir+"/run")
	defer c2.Close()
	id2, err := c2.FieldID(ctx, "b/y")
	if err != nil {
		t.Fatal(err)
	}
	v, err := c2.Read(id2)
	if err != nil {
		t.Fatal(err)
	}
	if v.Version() != 0 || v.String() != "" {
		t.Errorf("new path b/y (ID %d) has version %d value %q, want no value", id2, v.Version(), v.String())
	}
}

func TestRegionRebuildKeepsOneBadCopy(t *testing.T) {
	dir := t.TempDir()
	for _, fields := range []string{"128", "256", "128"} {
		d, log := startDaemon(t, nil, "--runtime-dir", dir+"/run", "--state-dir", dir+"/state", "--max-fields", fields)
		waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
	}
	for _, name := range []string{"values", "slots"} {
		bad, _ := filepath.Glob(filepath.Join(dir, "run", name+".bad-*"))
		if len(bad) != 1 {
			t.Errorf("%d copies of %s set aside, want 1: %v", len(bad), name, bad)
		}
	}
}

// dialCleanup dials a client that the test closes when it ends.
func dialCleanup(t *testing.T, run string) *client.Client {
	c := dialRetry(t, run)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBadSlotsFileKeepsValues(t *testing.T) {
	for _, damage := range []string{"garbage", "deleted"} {
		t.Run(damage, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"--runtime-dir", dir + "/run", "--state-dir", dir + "/state"}
			first, _ := startDaemon(t, nil, args...)
			ctx := context.Background()
			c := dialRetry(t, dir+"/run")
			id, err := c.FieldID(ctx, "a/x")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Update(ctx, id, []byte("kept")); err != nil {
				t.Fatal(err)
			}
			c.Close()
			first.Process.Signal(syscall.SIGTERM)
			first.Wait()

			slots := filepath.Join(dir, "run", "slots")
			if damage == "garbage" {
				f, err := os.OpenFile(slots, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt(bytes.Repeat([]byte{0xff}, 4096), 0)
				f.Close()
			} else {
				os.Remove(slots)
			}

			_, log := startDaemon(t, nil, args...)
			waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
			if !strings.Contains(log.String(), "rebuilt the slots file") {
				t.Errorf("slots file was not rebuilt alone:\n%s", log.String())
			}
			c2 := dialRetry(t, dir+"/run")
			defer c2.Close()
			v, err := c2.Read(id)
			if err != nil || v.String() != "kept" || v.Version() != 1 {
				t.Errorf("value after the rebuild = %q version %d, %v; want kept version 1", v.String(), v.Version(), err)
			}
		})
	}
}
