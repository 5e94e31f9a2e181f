//go:build linux

package region

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// The test binary runs itself as a child process in the role named by
// roleEnv, with the role's arguments in argsEnv. A child gets the values
// file as fd 3 and the slots file as fd 4, and maps them with [Open].
const (
	roleEnv = "FIELDD_TEST_ROLE"
	argsEnv = "FIELDD_TEST_ARGS"

	// childValueSize is the length of every value that children publish
	// and check.
	childValueSize = 16
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runChild(role, os.Getenv(argsEnv)))
	}
	os.Exit(m.Run())
}

// runChild maps the region passed as fds 3 and 4 and runs one role. It
// returns the process exit code.
func runChild(role, args string) int {
	values, slots := os.NewFile(3, "values"), os.NewFile(4, "slots")
	r, err := Open(values, slots, role == "writer")
	if err == nil {
		switch role {
		case "writer":
			err = childWriter(r, args)
		case "reader":
			err = childReader(r, args)
		case "park":
			err = childPark(r, args)
		default:
			err = fmt.Errorf("unknown role %q", role)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %s: %v\n", role, args, err)
		return 1
	}
	return 0
}

// childWriter publishes count times (forever when count is negative) with
// arena's writer, to fields lo up to but not including hi in turn. Each
// value is the test value of the version it creates.
func childWriter(r *Region, args string) error {
	var arena, count int
	var lo, hi uint32
	if _, err := fmt.Sscan(args, &arena, &lo, &hi, &count); err != nil {
		return fmt.Errorf("parse arguments %q: %w", args, err)
	}
	w, err := r.Writer(arena)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, childValueSize)
	for i := 0; count < 0 || i < count; i++ {
		id := lo + uint32(i)%(hi-lo)
		if err := w.Publish(id, fillValue(buf, r.Version(id)+1, childValueSize)); err != nil {
			return err
		}
	}
	return nil
}

// readerReport is what a reader child prints as JSON when it stops.
type readerReport struct {
	Versions map[uint32]uint64 // last version taken per field
	Errors   []string          // the first inconsistencies found
}

// childReader drains a slot and takes every ID it gets, parking on the
// futex when idle, until its stdin closes. Then it drains
// until nothing is left and prints a [readerReport].
func childReader(r *Region, args string) error {
	var slot int
	if _, err := fmt.Sscan(args, &slot); err != nil {
		return fmt.Errorf("parse arguments %q: %w", args, err)
	}
	rd, err := r.Reader(slot)
	if err != nil {
		return err
	}
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
		rd.Unpark()
	}()
	fmt.Println("ready")

	rep := readerReport{Versions: map[uint32]uint64{}}
	fail := func(format string, a ...any) {
		if len(rep.Errors) < 10 {
			rep.Errors = append(rep.Errors, fmt.Sprintf(format, a...))
		}
	}
	var ids []uint32
	buf := make([]byte, 0, childValueSize)
	for {
		final := stop.Load()
		ids = rd.Drain(ids[:0], 1024)
		for _, id := range ids {
			v, ver, _, err := rd.Take(id, buf)
			if err != nil {
				fail("Take(%d): %v", id, err)
				continue
			}
			if ver < rep.Versions[id] {
				fail("field %d: version %d after %d", id, ver, rep.Versions[id])
			}
			if err := checkValue(v, ver, childValueSize); err != nil {
				fail("field %d: %v", id, err)
			}
			rep.Versions[id] = ver
		}
		if len(ids) > 0 || rd.HasWork() {
			continue
		}
		if final {
			break
		}
		rd.Park(100*time.Millisecond, stop.Load)
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// parkReport is what a park child prints as JSON after its wake-up.
type parkReport struct {
	IDs     []uint32
	Elapsed time.Duration
}

// parkTimeout bounds the wait of a park child, so that a lost wake-up
// shows as a slow child instead of a hung one.
const parkTimeout = 30 * time.Second

// childPark prints the address of its slot's waiting word, parks once,
// and prints a [parkReport] of what it drained after waking.
func childPark(r *Region, args string) error {
	var slot int
	if _, err := fmt.Sscan(args, &slot); err != nil {
		return fmt.Errorf("parse arguments %q: %w", args, err)
	}
	rd, err := r.Reader(slot)
	if err != nil {
		return err
	}
	fmt.Printf("waiting %#x\n", uintptr(unsafe.Pointer(rd.s.waiting)))
	start := time.Now()
	rd.Park(parkTimeout, func() bool { return false })
	rep := parkReport{Elapsed: time.Since(start), IDs: rd.Drain(nil, 16)}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// child is a running copy of the test binary in some role.
type child struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
	err    error // of cmd.Wait, set before exited closes

	mu     sync.Mutex
	stderr bytes.Buffer
}

func (c *child) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.Write(p)
}

// startChild starts the test binary in role with args and the region
// files as fds 3 and 4. The child is killed, if it still runs, when the
// test ends.
func startChild(t *testing.T, role, args string, values, slots *os.File) *child {
	t.Helper()
	c := &child{t: t, lines: make(chan string, 64), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), roleEnv+"="+role, argsEnv+"="+args)
	c.cmd.ExtraFiles = []*os.File{values, slots}
	c.cmd.Stderr = c

	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %s child: %v", role, err)
	}

	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.err = c.cmd.Wait()
		close(c.exited)
	}()

	t.Cleanup(func() {
		c.cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s child %d did not exit after SIGKILL", role, c.cmd.Process.Pid)
		}
	})
	return c
}

// fatalf kills the child and fails the test with the child's stderr.
func (c *child) fatalf(format string, a ...any) {
	c.t.Helper()
	c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
	c.mu.Lock()
	stderr := c.stderr.String()
	c.mu.Unlock()
	c.t.Fatalf("%s; child %v stderr:\n%s", fmt.Sprintf(format, a...), c.cmd.Env[len(c.cmd.Env)-2:], stderr)
}

// expect returns the rest of the first output line that starts with
// prefix, and fails the test if none comes within timeout.
func (c *child) expect(prefix string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.fatalf("child exited before printing %q", prefix)
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest
			}
		case <-deadline:
			c.fatalf("no line starting with %q within %v", prefix, timeout)
		}
	}
}

// finish closes the child's stdin, decodes the JSON line it prints into v,
// and waits for it to exit successfully, all within timeout.
func (c *child) finish(v any, timeout time.Duration) {
	c.t.Helper()
	c.stdin.Close()
	line := "{" + c.expect("{", timeout)
	if err := json.Unmarshal([]byte(line), v); err != nil {
		c.fatalf("decode report %q: %v", line, err)
	}
	c.wait(timeout)
}

// wait waits for the child to exit and fails the test unless it exited 0.
func (c *child) wait(timeout time.Duration) {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(timeout):
		c.fatalf("child did not exit within %v", timeout)
	}
	if c.err != nil {
		c.fatalf("child failed: %v", c.err)
	}
}

// procState returns the state letter of process pid from /proc/pid/stat.
func procState(pid int) (byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, fmt.Errorf("parse /proc/%d/stat: %q", pid, b)
	}
	return b[i+2], nil
}

// errNoSyscallInfo means no /proc/pid/task/*/syscall file could be read.
var errNoSyscallInfo = errors.New("no readable /proc syscall file")

// inFutexWait reports whether a thread of process pid is blocked in the
// futex system call on the word at addr.
func inFutexWait(pid int, addr uint64) (bool, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err
	}
	readable := false
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if err != nil {
			continue // the thread exited, or ptrace access is denied
		}
		readable = true
		// The file holds the system call number and its arguments in hex,
		// or "running".
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			continue
		}
		nr, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || nr != syscall.SYS_FUTEX {
			continue
		}
		arg, err := strconv.ParseUint(strings.TrimPrefix(fields[1], "0x"), 16, 64)
		if err == nil && arg == addr {
			return true, nil
		}
	}
	if !readable {
		return false, errNoSyscallInfo
	}
	return false, nil
}
