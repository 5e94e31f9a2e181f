package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// helperEnv names the environment variable that turns the test binary into
// a helper process: it holds the JSON of [helperArgs].
const helperEnv = "FIELDD_E2E_HELPER"

// Roles of a helper process.
const (
	roleWriter  = "writer"  // runs commands: claim, publish, burst
	roleWatcher = "watcher" // watches paths and checks every delivery
	roleRestart = "restart" // proves its slot works, then waits to be killed
)

// helperArgs configure a helper process.
type helperArgs struct {
	Role       string `json:"role"`
	RuntimeDir string `json:"runtime_dir"`
	Name       string `json:"name"`

	// Watched paths: Paths, plus PerPrefix generated paths under each of
	// Prefixes (see [fieldPaths]).
	Paths     []string `json:"paths,omitempty"`
	Prefixes  []string `json:"prefixes,omitempty"`
	PerPrefix int      `json:"per_prefix,omitempty"`

	FrameInterval time.Duration `json:"frame_interval,omitempty"`
	DrainInterval time.Duration `json:"drain_interval,omitempty"`
}

// command is one request from a test to a helper, a JSON line on the
// helper's stdin.
type command struct {
	Op       string   `json:"op"`
	Prefixes []string `json:"prefixes,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Value    string   `json:"value,omitempty"`
	Count    int      `json:"count,omitempty"`

	// Burst options: paths take turns, unless a nonzero Seed picks them at
	// random or Sequential gives each path its share in one run, path by
	// path. After every PaceEvery publishes the writer sleeps PaceFor.
	Seed       uint64        `json:"seed,omitempty"`
	Sequential bool          `json:"sequential,omitempty"`
	PaceEvery  int           `json:"pace_every,omitempty"`
	PaceFor    time.Duration `json:"pace_for,omitempty"`

	// Final versions an "expect" waits for, at most Timeout.
	Final   map[string]uint64 `json:"final,omitempty"`
	Timeout time.Duration     `json:"timeout,omitempty"`
}

// Operations of [command].
const (
	opClaim   = "claim"   // writer: claim Prefixes
	opPublish = "publish" // writer: publish Value (or an encoded value) Count times to each of Paths
	opBurst   = "burst"   // writer: publish Count encoded values over Paths
	opExpect  = "expect"  // watcher: wait until every path reached Final
)

// reply is one JSON line from a helper on its stdout. The first reply
// reports that the helper is connected and ready.
type reply struct {
	Error      string            `json:"error,omitempty"`
	Code       string            `json:"code,omitempty"`
	Holder     int               `json:"holder,omitempty"`
	PID        int               `json:"pid,omitempty"`
	Slot       int               `json:"slot"`
	Generation uint64            `json:"generation,omitempty"`
	Versions   map[string]uint64 `json:"versions,omitempty"`

	Violations     []string `json:"violations,omitempty"`
	ViolationCount int      `json:"violation_count,omitempty"`
	Missing        []string `json:"missing,omitempty"`
	MissingCount   int      `json:"missing_count,omitempty"`
	Callbacks      uint64   `json:"callbacks,omitempty"`

	Stats   *client.Stats `json:"stats,omitempty"`
	Elapsed time.Duration `json:"elapsed,omitempty"`
}

// helper is a child process started by a test: the test binary re-run as
// TestHelperProcess with a role.
type helper struct {
	t       testing.TB
	args    helperArgs
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	enc     *json.Encoder
	replies chan reply
	stderr  *syncBuffer
	exited  chan struct{}
	killed  bool
	ready   reply
}

// startHelper starts a helper for daemon d and waits for its ready reply.
func startHelper(t testing.TB, d *daemon, args helperArgs) *helper {
	t.Helper()
	h := launchHelper(t, d, args)
	h.awaitReady(30 * time.Second)
	return h
}

// launchHelper starts a helper for daemon d without waiting for it. A
// cleanup closes its stdin, which ends it, and kills it if it lingers.
func launchHelper(t testing.TB, d *daemon, args helperArgs) *helper {
	t.Helper()
	args.RuntimeDir = d.runDir
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	h := &helper{
		t:       t,
		args:    args,
		replies: make(chan reply, 16),
		stderr:  &syncBuffer{},
		exited:  make(chan struct{}),
	}

	h.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	h.cmd.Env = append(childEnv(), helperEnv+"="+string(raw))
	h.cmd.Stderr = h.stderr
	h.cmd.SysProcAttr = childProcAttr()
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start %s helper: %v", args.Role, err)
	}

	h.enc = json.NewEncoder(h.stdin)
	go h.readReplies(stdout)
	t.Cleanup(h.stop)
	return h
}

// readReplies decodes JSON lines from the helper's stdout until it closes,
// then reaps the process. Lines that are not JSON objects (the test
// framework's own PASS line) are skipped.
func (h *helper) readReplies(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			r = reply{Error: fmt.Sprintf("undecodable reply %.200q: %v", line, err)}
		}
		h.replies <- r
	}
	h.cmd.Wait()
	close(h.replies)
	close(h.exited)
}

func (h *helper) awaitReady(timeout time.Duration) {
	h.t.Helper()
	h.ready = h.recv(timeout)
	if h.ready.Error != "" {
		h.t.Fatalf("%s helper %q failed to start: %s", h.args.Role, h.args.Name, h.ready.Error)
	}
}

// pid returns the helper's process ID.
func (h *helper) pid() int { return h.cmd.Process.Pid }

// send writes one command without waiting for its reply.
func (h *helper) send(cmd command) {
	h.t.Helper()
	if err := h.enc.Encode(cmd); err != nil {
		h.t.Fatalf("send %s to %s helper %q: %v\n%s", cmd.Op, h.args.Role, h.args.Name, err, h.stderrTail())
	}
}

// recv waits for the next reply.
func (h *helper) recv(timeout time.Duration) reply {
	h.t.Helper()
	select {
	case r, ok := <-h.replies:
		if !ok {
			h.t.Fatalf("%s helper %q exited (%v) without replying\n%s",
				h.args.Role, h.args.Name, h.cmd.ProcessState, h.stderrTail())
		}
		return r
	case <-time.After(timeout):
		h.t.Fatalf("%s helper %q sent no reply within %v\n%s", h.args.Role, h.args.Name, timeout, h.stderrTail())
	}
	panic("unreachable")
}

// try sends cmd and waits for its reply, which may carry an error.
func (h *helper) try(cmd command, timeout time.Duration) reply {
	h.t.Helper()
	h.send(cmd)
	return h.recv(timeout)
}

// call sends cmd, waits for its reply and fails the test when the reply
// carries an error.
func (h *helper) call(cmd command, timeout time.Duration) reply {
	h.t.Helper()
	r := h.try(cmd, timeout)
	if r.Error != "" {
		h.t.Fatalf("%s helper %q: %s failed: %s", h.args.Role, h.args.Name, cmd.Op, r.Error)
	}
	return r
}

// kill sends SIGKILL and waits until the process is reaped. Replies not
// read yet are dropped.
func (h *helper) kill() {
	h.killed = true
	h.cmd.Process.Signal(syscall.SIGKILL)
	h.dropReplies()
	<-h.exited
}

// dropReplies reads and drops replies in the background, so that
// readReplies, blocked on a full channel, can go on to reap the process.
func (h *helper) dropReplies() {
	go func() {
		for range h.replies {
		}
	}()
}

// stop ends the helper by closing its stdin, which every role reads until
// EOF, and kills it after 10 s. A helper that exits with an error (a
// failed check or a race report) fails the test.
func (h *helper) stop() {
	if !h.killed {
		h.stdin.Close()
		h.dropReplies()
		select {
		case <-h.exited:
		case <-time.After(10 * time.Second):
			h.t.Errorf("%s helper %q did not exit within 10s of closing its stdin", h.args.Role, h.args.Name)
			h.kill()
		}
	}
	<-h.exited
	if !h.killed && !h.cmd.ProcessState.Success() {
		h.t.Errorf("%s helper %q exited with %v\n%s", h.args.Role, h.args.Name, h.cmd.ProcessState, h.stderrTail())
	}
}

// stderrTail returns the last 40 lines the helper wrote on stderr.
func (h *helper) stderrTail() string {
	lines := strings.Split(strings.TrimRight(h.stderr.String(), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// fieldPaths returns n paths under prefix: prefix/f00000, prefix/f00001...
func fieldPaths(prefix string, n int) []string {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/f%05d", prefix, i)
	}
	return paths
}

// encodeValue returns the value a writer helper publishes as version ver
// of path, so that a watcher can check that a value belongs to its field
// and its version.
func encodeValue(path string, ver uint64) string {
	return fmt.Sprintf("%s %d", path, ver)
}
