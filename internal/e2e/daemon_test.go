package e2e

import (
	"bytes"
	"context"
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

// daemon is a fieldd process started by a test, with its own temporary
// runtime and state directories.
type daemon struct {
	t        testing.TB
	runDir   string
	stateDir string
	cmd      *exec.Cmd
	log      *syncBuffer
	exited   chan struct{} // closed when the process has been reaped
}

// startDaemon starts fieldd with extra flags and waits until it listens.
// A cleanup stops it with SIGTERM and fails the test if it had exited on
// its own or does not stop cleanly.
func startDaemon(t testing.TB, flags ...string) *daemon {
	t.Helper()
	// A short directory under the system temp directory keeps the socket
	// path below the 108-byte limit of unix socket addresses.
	dir, err := os.MkdirTemp("", "fieldd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	d := &daemon{
		t:        t,
		runDir:   filepath.Join(dir, "run"),
		stateDir: filepath.Join(dir, "state"),
		log:      &syncBuffer{},
		exited:   make(chan struct{}),
	}
	args := append([]string{"run", "--runtime-dir", d.runDir, "--state-dir", d.stateDir}, flags...)
	d.cmd = exec.Command(fielddBin, args...)
	d.cmd.Env = childEnv()
	d.cmd.SysProcAttr = childProcAttr()
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start fieldd: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.stop)

	// The daemon logs "fieldd started" after its socket listens.
	waitFor(t, 20*time.Second, "fieldd to start", func() bool {
		select {
		case <-d.exited:
			t.Fatalf("fieldd exited at start-up: %v\n%s", d.cmd.ProcessState, d.log.String())
		default:
		}
		return strings.Contains(d.log.String(), `msg="fieldd started"`)
	})
	return d
}

// stop ends the daemon with SIGTERM, then SIGKILL after 10 s.
func (d *daemon) stop() {
	select {
	case <-d.exited:
		d.t.Errorf("fieldd exited before the test ended: %v\n%s", d.cmd.ProcessState, d.tail())
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if !d.cmd.ProcessState.Success() {
			d.t.Errorf("fieldd stopped with %v after SIGTERM", d.cmd.ProcessState)
		}
	case <-time.After(10 * time.Second):
		d.t.Errorf("fieldd did not stop within 10s of SIGTERM")
		d.cmd.Process.Kill()
		<-d.exited
	}
	if d.t.Failed() {
		d.t.Logf("fieldd log (last lines):\n%s", d.tail())
	}
}

// alive reports whether the daemon process is still running.
func (d *daemon) alive() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// tail returns the last 60 lines of the daemon's log.
func (d *daemon) tail() string {
	lines := strings.Split(strings.TrimRight(d.log.String(), "\n"), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return strings.Join(lines, "\n")
}

// dial connects a client in the test process. A cleanup closes it.
func (d *daemon) dial(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	opts.RuntimeDir = d.runDir
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("dial fieldd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stats returns the daemon's stats through a client of its own, without
// that client's slot.
func (d *daemon) stats(t testing.TB) client.DaemonStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{RuntimeDir: d.runDir, Name: "e2e-stats"})
	if err != nil {
		t.Fatalf("dial fieldd for stats: %v", err)
	}
	defer c.Close()
	st, err := c.DaemonStats(ctx)
	if err != nil {
		t.Fatalf("daemon stats: %v", err)
	}
	others := st.Slots[:0:0]
	for _, s := range st.Slots {
		if s.Slot != c.Slot() {
			others = append(others, s)
		}
	}
	st.Slots = others
	return st
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for the output of
// child processes.
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
