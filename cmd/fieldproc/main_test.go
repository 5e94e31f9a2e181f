package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// binDir contains the fieldd and fieldproc binaries that TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fieldproc-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create binary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, pkg := range []string{"github.com/fieldd/fieldd/cmd/fieldd", "github.com/fieldd/fieldd/cmd/fieldproc"} {
		out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

// process is a process that a test started, with its stderr.
type process struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer  // read only after exited is closed
	exited chan struct{} // closed when the process has exited
	err    error         // the result of Wait, set before exited is closed
}

// start starts the binary name from binDir and, when the test ends, stops
// it with SIGTERM, or SIGKILL after 10s.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{exited: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t, 10*time.Second)
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM unless the process has exited, and waits for it.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s pid %d did not stop within %s of SIGTERM", p.cmd.Path, p.cmd.Process.Pid, timeout)
	}
}

// wait waits for the process to exit on its own.
func (p *process) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("%s pid %d did not exit within %s", p.cmd.Path, p.cmd.Process.Pid, timeout)
	}
}

// cleanEnv returns the environment without the variables fieldproc reads.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDPROC_") && !strings.HasPrefix(kv, "FIELDD_") {
			env = append(env, kv)
		}
	}
	return env
}

// startDaemon starts fieldd with temporary directories and returns its
// runtime directory once it accepts clients.
func startDaemon(t *testing.T) string {
	t.Helper()
	// A short directory keeps the socket path under the 108-byte limit of
	// unix socket addresses.
	dir, err := os.MkdirTemp("", "fieldproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	runtimeDir := filepath.Join(dir, "run")
	d := start(t, "fieldd", "run", "--runtime-dir", runtimeDir, "--state-dir", filepath.Join(dir, "state"), "--log-level", "warn")

	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := client.Dial(ctx, client.Options{RuntimeDir: runtimeDir, Name: "readiness"})
		cancel()
		if err == nil {
			c.Close()
			return runtimeDir
		}
		select {
		case <-d.exited:
			t.Fatalf("fieldd exited before it accepted clients: %v\n%s", d.err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fieldd did not accept clients within 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dial(t *testing.T, runtimeDir string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{RuntimeDir: runtimeDir, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitValue polls the field path until cond accepts its value, and fails
// the test after timeout. The path need not exist when it starts.
func waitValue(t *testing.T, c *client.Client, path string, timeout time.Duration, cond func(client.Value) bool) client.Value {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	var last client.Value
	for {
		id, err := c.LookupFieldID(ctx, path)
		if err != nil {
			t.Fatalf("look up %s: %v", path, err)
		}
		if id != 0 {
			if last, err = c.Read(id); err != nil {
				t.Fatalf("read %s: %v", path, err)
			}
			if cond(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met within %s; last value %q, version %d, gone %v (ID %d)",
				path, timeout, last.String(), last.Version(), last.Gone(), id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func published(v client.Value) bool { return v.Version() > 0 && !v.Gone() }

// summaryRE matches the summary line and captures samples, the rate,
// publishes, retires and fields.
var summaryRE = regexp.MustCompile(`fieldproc: stopped after \S+: (\d+) samples \(([0-9.]+) samples/s\), (\d+) publishes, (\d+) retires, (\d+) fields \(\d+ live\), (\d+) errors`)

type summary struct {
	samples, publishes, retires, fields, errors int
	rate                                        float64
}

func parseSummary(t *testing.T, stderr string) summary {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr has no summary line:\n%s", stderr)
	}
	n := func(i int) int {
		v, _ := strconv.Atoi(m[i])
		return v
	}
	rate, _ := strconv.ParseFloat(m[2], 64)
	return summary{samples: n(1), rate: rate, publishes: n(3), retires: n(4), fields: n(5), errors: n(6)}
}

func TestLiveProcFields(t *testing.T) {
	runtimeDir := startDaemon(t)
	fp := start(t, "fieldproc", "--runtime-dir", runtimeDir, "--rate", "100", "--duration", "2m")
	c := dial(t, runtimeDir)

	self := strconv.Itoa(os.Getpid())
	for _, path := range []string{"cpu/total/user", "mem/total_bytes", "load/1m", "proc/pid/" + self + "/rss_bytes"} {
		v := waitValue(t, c, path, 15*time.Second, published)
		if _, err := v.Float64(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}

	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	childExited := make(chan struct{})
	go func() {
		child.Wait()
		close(childExited)
	}()
	t.Cleanup(func() {
		child.Process.Kill()
		<-childExited
	})
	prefix := "proc/pid/" + strconv.Itoa(child.Process.Pid) + "/"
	comm := waitValue(t, c, prefix+"comm", 15*time.Second, published)
	if comm.String() != "sleep" {
		t.Errorf("child comm = %q, want sleep", comm.String())
	}
	rss := waitValue(t, c, prefix+"rss_bytes", 15*time.Second, published)

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-childExited
	for _, name := range []string{"comm", "rss_bytes", "cpu_ticks"} {
		v := waitValue(t, c, prefix+name, 15*time.Second, client.Value.Gone)
		if name == "rss_bytes" && v.Version() <= rss.Version() {
			t.Errorf("retired rss_bytes has version %d, want above %d", v.Version(), rss.Version())
		}
		if v.Len() != 0 {
			t.Errorf("retired %s has value %q, want none", name, v.String())
		}
	}

	fp.stop(t, 10*time.Second)
	if fp.err != nil {
		t.Fatalf("fieldproc exited with %v after SIGTERM, want exit code 0", fp.err)
	}
	s := parseSummary(t, fp.stderr.String())
	if s.samples == 0 {
		t.Errorf("summary reports 0 samples: %+v", s)
	}
	if s.publishes == 0 {
		t.Errorf("summary reports 0 publishes: %+v", s)
	}
	if s.fields == 0 {
		t.Errorf("summary reports 0 fields: %+v", s)
	}
	if s.retires < 3 {
		t.Errorf("summary reports %d retires, want at least the child's 3 fields", s.retires)
	}
}

func TestDurationNoProcs(t *testing.T) {
	runtimeDir := startDaemon(t)
	fp := start(t, "fieldproc", "--runtime-dir", runtimeDir, "--rate", "100", "--duration", "1s", "--no-procs", "--quiet")
	fp.wait(t, 15*time.Second)
	if fp.err != nil {
		t.Fatalf("fieldproc exited with %v, want exit code 0; stderr: %s", fp.err, fp.stderr.String())
	}
	stderr := fp.stderr.String()
	if n := strings.Count(stderr, "\n"); n != 1 {
		t.Errorf("stderr under --quiet has %d lines, want only the summary: %q", n, stderr)
	}
	s := parseSummary(t, stderr)
	// 100 samples at 100 Hz; half of that leaves room for a loaded machine.
	if s.samples < 50 {
		t.Errorf("%d samples in 1s at --rate 100, want at least 50", s.samples)
	}
	if s.errors != 0 {
		t.Errorf("summary reports %d errors", s.errors)
	}

	c := dial(t, runtimeDir)
	waitValue(t, c, "cpu/total/user", time.Second, published)
	id, err := c.LookupFieldID(context.Background(), "proc/pid/"+strconv.Itoa(os.Getpid())+"/rss_bytes")
	if err != nil {
		t.Fatal(err)
	}
	if id != 0 {
		t.Errorf("--no-procs created per-process field ID %d", id)
	}
	// The writer released its claim when it stopped.
	w, err := c.Claim(context.Background(), "cpu", "proc")
	if err != nil {
		t.Fatalf("claim after fieldproc stopped: %v", err)
	}
	w.Close()
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "0"},
		{"--rate", "-5"},
		{"--duration", "-1s"},
		{"--no-such-flag"},
		{"extra-arg"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "fieldproc"), append([]string{"--runtime-dir", t.TempDir()}, args...)...)
			cmd.Env = cleanEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitUsage {
				t.Errorf("run: %v, want exit code %d", err, exitUsage)
			}
			if !strings.HasPrefix(stderr.String(), "fieldproc: ") {
				t.Errorf("stderr = %q, want it to start with \"fieldproc: \"", stderr.String())
			}
			if !strings.Contains(stderr.String(), "Usage:") {
				t.Errorf("stderr = %q, want usage text after the error", stderr.String())
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	cmd := exec.Command(filepath.Join(binDir, "fieldproc"), "--runtime-dir", t.TempDir(), "--duration", "1s")
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitError {
		t.Errorf("run: %v, want exit code %d", err, exitError)
	}
	if n := strings.Count(stderr.String(), "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "connect to fieldd") {
		t.Errorf("stderr = %q, want it to say the connection failed", stderr.String())
	}
}

// fakeProc is a /proc tree in a temporary directory with one CPU and the
// processes in pids.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	t.Helper()
	f := &fakeProc{t: t, root: t.TempDir()}
	f.write("stat", "cpu  100 0 50 1000 10 0 0 0 0 0\ncpu0 100 0 50 1000 10 0 0 0 0 0\n")
	f.write("meminfo", "MemTotal:       1000 kB\nMemFree:         400 kB\nMemAvailable:    600 kB\n")
	f.write("loadavg", "0.50 0.25 0.10 1/42 4242\n")
	return f
}

func (f *fakeProc) write(name, content string) {
	f.t.Helper()
	path := filepath.Join(f.root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// setProcess writes the stat file of pid: utime and stime in ticks, rss
// in pages.
func (f *fakeProc) setProcess(pid int, comm string, utime, stime, rss int) {
	f.t.Helper()
	f.write(fmt.Sprintf("%d/stat", pid), fmt.Sprintf(
		"%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 1 0 100 1000000 %d\n",
		pid, comm, pid, pid, utime, stime, rss))
}

func (f *fakeProc) removeProcess(pid int) {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))); err != nil {
		f.t.Fatal(err)
	}
}

// read returns the value of path, which must exist.
func read(t *testing.T, c *client.Client, path string) client.Value {
	t.Helper()
	id, err := c.LookupFieldID(context.Background(), path)
	if err != nil {
		t.Fatalf("look up %s: %v", path, err)
	}
	if id == 0 {
		t.Fatalf("field %s does not exist", path)
	}
	v, err := c.Read(id)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return v
}

func stepOnce(t *testing.T, p *publisher) {
	t.Helper()
	if err := p.step(context.Background()); err != nil {
		t.Fatalf("step: %v", err)
	}
	if p.errors != 0 {
		t.Fatalf("step counted %d errors", p.errors)
	}
}

func TestPublisherRetireAndReturn(t *testing.T) {
	runtimeDir := startDaemon(t)
	ctx := context.Background()
	c := dial(t, runtimeDir)
	w, err := c.Claim(ctx, "cpu", "mem", "load", "proc")
	if err != nil {
		t.Fatal(err)
	}
	proc := newFakeProc(t)
	proc.setProcess(4242, "fake", 7, 3, 25)
	p := newPublisher(c, w, proc.root, false, log.New(io.Discard, "", 0))
	page := strconv.Itoa(os.Getpagesize())

	stepOnce(t, p)
	for path, want := range map[string]string{
		"cpu/total/user":          "100",
		"cpu/0/system":            "50",
		"mem/total_bytes":         "1024000",
		"load/1m":                 "0.5",
		"proc/pid/4242/cpu_ticks": "10",
		"proc/pid/4242/comm":      "fake",
	} {
		if v := read(t, c, path); v.String() != want || v.Version() != 1 {
			t.Errorf("%s = %q version %d, want %q version 1", path, v.String(), v.Version(), want)
		}
	}
	if v := read(t, c, "proc/pid/4242/rss_bytes"); v.String() != strconv.Itoa(25*os.Getpagesize()) {
		t.Errorf("rss_bytes = %q, want 25 pages of %s bytes", v.String(), page)
	}

	t.Run("unchanged values are not published", func(t *testing.T) {
		before := p.publishes
		stepOnce(t, p)
		if p.publishes != before {
			t.Errorf("a sample equal to the last one made %d publishes", p.publishes-before)
		}
		if v := read(t, c, "proc/pid/4242/cpu_ticks"); v.Version() != 1 {
			t.Errorf("cpu_ticks version %d after an equal sample, want 1", v.Version())
		}
	})

	t.Run("changed value is published", func(t *testing.T) {
		proc.setProcess(4242, "fake", 8, 3, 25)
		stepOnce(t, p)
		if v := read(t, c, "proc/pid/4242/cpu_ticks"); v.String() != "11" || v.Version() != 2 {
			t.Errorf("cpu_ticks = %q version %d, want 11 version 2", v.String(), v.Version())
		}
		if v := read(t, c, "proc/pid/4242/rss_bytes"); v.Version() != 1 {
			t.Errorf("unchanged rss_bytes has version %d, want 1", v.Version())
		}
	})

	t.Run("exited process is retired once", func(t *testing.T) {
		proc.removeProcess(4242)
		stepOnce(t, p)
		for _, name := range []string{"cpu_ticks", "rss_bytes", "comm"} {
			if v := read(t, c, "proc/pid/4242/"+name); !v.Gone() || v.Len() != 0 {
				t.Errorf("%s after the process exited: gone %v, value %q; want gone and empty", name, v.Gone(), v.String())
			}
		}
		if p.retires != 3 {
			t.Errorf("%d retires, want 3", p.retires)
		}
		stepOnce(t, p)
		if p.retires != 3 {
			t.Errorf("%d retires after another sample, want still 3", p.retires)
		}
	})

	t.Run("returning pid is published again", func(t *testing.T) {
		// The same values as before the exit must still be published,
		// because the fields are gone.
		proc.setProcess(4242, "fake", 8, 3, 25)
		stepOnce(t, p)
		for path, want := range map[string]string{
			"proc/pid/4242/cpu_ticks": "11",
			"proc/pid/4242/comm":      "fake",
		} {
			if v := read(t, c, path); v.Gone() || v.String() != want {
				t.Errorf("%s = %q, gone %v; want %q, not gone", path, v.String(), v.Gone(), want)
			}
		}
	})

	t.Run("restart retires fields of exited processes", func(t *testing.T) {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c2 := dial(t, runtimeDir)
		w2, err := c2.Claim(ctx, "cpu", "mem", "load", "proc")
		if err != nil {
			t.Fatal(err)
		}
		proc.removeProcess(4242)
		proc.setProcess(4343, "other", 1, 1, 1)
		p2 := newPublisher(c2, w2, proc.root, false, log.New(io.Discard, "", 0))
		stepOnce(t, p2)
		if err := p2.retireStale(ctx); err != nil {
			t.Fatal(err)
		}
		if p2.retires != 3 {
			t.Errorf("%d retires at start, want the 3 fields of pid 4242", p2.retires)
		}
		if v := read(t, c2, "proc/pid/4242/comm"); !v.Gone() {
			t.Errorf("comm of pid 4242 is not gone after a restart without that process")
		}
		if v := read(t, c2, "proc/pid/4343/comm"); v.Gone() || v.String() != "other" {
			t.Errorf("comm of pid 4343 = %q, gone %v; want other, not gone", v.String(), v.Gone())
		}
	})
}

func TestRestartKeepsYoungRunningProcesses(t *testing.T) {
	runtimeDir := startDaemon(t)
	ctx := context.Background()
	proc := newFakeProc(t)
	proc.setProcess(4242, "kept", 7, 3, 25)

	c := dial(t, runtimeDir)
	w, err := c.Claim(ctx, "cpu", "mem", "load", "proc")
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(c, w, proc.root, false, log.New(io.Discard, "", 0))
	stepOnce(t, p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// A new run that waits 3 samples before publishing a process must not
	// retire the fields of a process that still runs.
	c2 := dial(t, runtimeDir)
	w2, err := c2.Claim(ctx, "cpu", "mem", "load", "proc")
	if err != nil {
		t.Fatal(err)
	}
	p2 := newPublisher(c2, w2, proc.root, false, log.New(io.Discard, "", 0))
	p2.minSamples = 3
	stepOnce(t, p2)
	if err := p2.retireStale(ctx); err != nil {
		t.Fatal(err)
	}
	if p2.retires != 0 {
		t.Errorf("%d retires at start, want 0: pid 4242 still runs", p2.retires)
	}
	if v := read(t, c2, "proc/pid/4242/comm"); v.Gone() {
		t.Error("comm of running pid 4242 was retired at start")
	}
}

func TestPublisherWaitsForMinAge(t *testing.T) {
	runtimeDir := startDaemon(t)
	ctx := context.Background()
	c := dial(t, runtimeDir)
	w, err := c.Claim(ctx, "cpu", "mem", "load", "proc")
	if err != nil {
		t.Fatal(err)
	}
	proc := newFakeProc(t)
	proc.setProcess(4242, "old", 7, 3, 25)
	p := newPublisher(c, w, proc.root, false, log.New(io.Discard, "", 0))
	p.minSamples = 3

	stepOnce(t, p)
	stepOnce(t, p)
	if id, _ := c.LookupFieldID(ctx, "proc/pid/4242/comm"); id != 0 {
		t.Fatalf("process seen in 2 samples got field ID %d before min age", id)
	}
	if id, _ := c.LookupFieldID(ctx, "load/1m"); id == 0 {
		t.Fatal("load/1m not published while waiting for min age")
	}

	// A process that exits before min age never gets a field.
	proc.setProcess(5151, "brief", 1, 1, 1)
	stepOnce(t, p)
	if v := read(t, c, "proc/pid/4242/comm"); v.String() != "old" {
		t.Errorf("comm after 3 samples = %q, want old", v.String())
	}
	proc.removeProcess(5151)
	stepOnce(t, p)
	if id, _ := c.LookupFieldID(ctx, "proc/pid/5151/comm"); id != 0 {
		t.Errorf("process that lived 1 sample got field ID %d", id)
	}
}

func TestPublisherOutlivesDaemonRestart(t *testing.T) {
	dir, err := os.MkdirTemp("", "fieldproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	runtimeDir := filepath.Join(dir, "run")
	args := []string{"run", "--runtime-dir", runtimeDir, "--state-dir", filepath.Join(dir, "state"), "--log-level", "warn"}
	first := start(t, "fieldd", args...)
	c := dialRetryProc(t, runtimeDir)
	ctx := context.Background()
	w, err := c.Claim(ctx, "cpu", "mem", "load", "proc")
	if err != nil {
		t.Fatal(err)
	}
	proc := newFakeProc(t)
	proc.setProcess(4242, "kept", 7, 3, 25)
	p := newPublisher(c, w, proc.root, false, log.New(io.Discard, "", 0))
	stepOnce(t, p)

	first.stop(t, 10*time.Second)
	start(t, "fieldd", args...)
	reader := dialRetryProc(t, runtimeDir)

	// A new process needs a field ID the old connection cannot get; the
	// step must still publish the fields that have IDs.
	proc.setProcess(5151, "new", 1, 1, 1)
	proc.setProcess(4242, "kept", 9, 3, 25)
	stepOnce(t, p)
	if !p.disconnected {
		t.Error("publisher did not notice the lost connection")
	}
	if v := read(t, reader, "proc/pid/4242/cpu_ticks"); v.String() != "12" {
		t.Errorf("cpu_ticks after the restart = %q, want 12", v.String())
	}
	if err := w.Close(); err != nil && !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("writer close after the restart: %v", err)
	}
}

func dialRetryProc(t *testing.T, runtimeDir string) *client.Client {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := client.Dial(context.Background(), client.Options{RuntimeDir: runtimeDir})
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", runtimeDir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
