package client_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// fielddBin is the fieldd binary that TestMain builds for every test.
var fielddBin string

// TestMain builds cmd/fieldd once, with the race detector when the tests
// have it. The tests talk to real daemons started from it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fieldd-client-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create build directory:", err)
		os.Exit(2)
	}
	fielddBin = filepath.Join(dir, "fieldd")
	args := []string{"build", "-o", fielddBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/fieldd/fieldd/cmd/fieldd")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fieldd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startDaemon starts fieldd with extra flags in a temporary directory,
// waits until it listens and returns its runtime directory. A cleanup
// stops it with SIGTERM and fails the test if it had exited on its own.
func startDaemon(t testing.TB, flags ...string) string {
	t.Helper()
	// A short directory under the system temp directory keeps the socket
	// path below the 108-byte limit of unix socket addresses.
	dir, err := os.MkdirTemp("", "fieldd-client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	runDir := filepath.Join(dir, "run")
	args := append([]string{"run", "--runtime-dir", runDir, "--state-dir", filepath.Join(dir, "state")}, flags...)

	log := &syncBuffer{}
	cmd := exec.Command(fielddBin, args...)
	cmd.Env = childEnv()
	cmd.SysProcAttr = childProcAttr()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start fieldd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("fieldd exited before the test ended: %v\n%s", cmd.ProcessState, log.String())
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("fieldd did not stop within 10s of SIGTERM")
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("fieldd log:\n%s", log.String())
		}
	})

	// The daemon logs "fieldd started" after its socket listens.
	waitFor(t, 20*time.Second, "fieldd to start", func() bool {
		select {
		case <-exited:
			t.Fatalf("fieldd exited at start-up: %v\n%s", cmd.ProcessState, log.String())
		default:
		}
		return strings.Contains(log.String(), `msg="fieldd started"`)
	})
	return runDir
}

// dial connects a client to the daemon in runDir. A cleanup closes it.
func dial(t testing.TB, runDir string, opts client.Options) *client.Client {
	t.Helper()
	opts.RuntimeDir = runDir
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("dial fieldd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// claim claims prefixes for c.
func claim(t testing.TB, c *client.Client, prefixes ...string) *client.Writer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := c.Claim(ctx, prefixes...)
	if err != nil {
		t.Fatalf("claim %q: %v", prefixes, err)
	}
	return w
}

// fieldIDs returns the IDs of paths, creating them.
func fieldIDs(t testing.TB, c *client.Client, paths ...string) []client.FieldID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := c.FieldIDs(ctx, paths...)
	if err != nil {
		t.Fatalf("field IDs: %v", err)
	}
	return ids
}

func fieldID(t testing.TB, c *client.Client, path string) client.FieldID {
	t.Helper()
	return fieldIDs(t, c, path)[0]
}

// publish publishes value to field id and fails the test on an error.
func publish(t testing.TB, w *client.Writer, id client.FieldID, value string) {
	t.Helper()
	if err := w.Publish(id, []byte(value)); err != nil {
		t.Fatalf("publish field %d: %v", id, err)
	}
}

// childEnv returns the environment for a child process. Under the race
// detector, a process sleeps 1 s at exit by default (GORACE option
// atexit_sleep_ms) to collect late reports; children skip that sleep.
func childEnv() []string {
	env := os.Environ()
	if raceEnabled {
		env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	return env
}

// waitFor polls cond every millisecond until it returns true or timeout
// passes, and fails the test with what when it never does.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recvValue waits for the next value on values.
func recvValue(t testing.TB, values <-chan client.Value, timeout time.Duration) client.Value {
	t.Helper()
	select {
	case v := <-values:
		return v
	case <-time.After(timeout):
		t.Fatalf("no callback within %v", timeout)
	}
	panic("unreachable")
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
