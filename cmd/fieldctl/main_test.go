package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// binDir contains the fieldd and fieldctl binaries that TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fieldctl-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create binary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, pkg := range []string{"github.com/fieldd/fieldd/cmd/fieldd", "github.com/fieldd/fieldd/cmd/fieldctl"} {
		out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	binDir = dir
	return m.Run()
}

// daemon is a fieldd process that a test started.
type daemon struct {
	cmd        *exec.Cmd
	runtimeDir string
	exited     chan struct{} // closed when the process has exited
}

// startDaemon starts fieldd with temporary runtime and state directories,
// waits until it accepts clients, and stops it when the test ends.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	// A short directory keeps the socket path under the 108-byte limit of
	// unix socket addresses.
	dir, err := os.MkdirTemp("", "fieldctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d := &daemon{runtimeDir: filepath.Join(dir, "run"), exited: make(chan struct{})}
	var stderr bytes.Buffer
	d.cmd = exec.Command(filepath.Join(binDir, "fieldd"), "run",
		"--runtime-dir", d.runtimeDir, "--state-dir", filepath.Join(dir, "state"),
		"--max-fields", "1024", "--max-clients", "16", "--log-level", "warn")
	d.cmd.Stderr = &stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start fieldd: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
			t.Errorf("fieldd pid %d did not stop within 10s of SIGTERM", d.cmd.Process.Pid)
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("fieldd stderr:\n%s", stderr.String())
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := client.Dial(ctx, client.Options{RuntimeDir: d.runtimeDir, Name: "readiness"})
		cancel()
		if err == nil {
			c.Close()
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("fieldd exited before it accepted clients: %s\n%s", d.cmd.ProcessState, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fieldd did not accept clients within 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dial connects a client to the test's daemon and closes it when the test
// ends.
func (d *daemon) dial(t *testing.T) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{RuntimeDir: d.runtimeDir, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result is the outcome of one fieldctl run.
type result struct {
	stdout, stderr string
	code           int
	pid            int
}

// fieldctl runs the fieldctl binary with args and returns its output and
// exit code. It fails the test when fieldctl runs longer than 30s.
func fieldctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "fieldctl"), args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run fieldctl %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("fieldctl %q ran longer than 30s", args)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode(), cmd.Process.Pid}
}

// cleanEnv returns the environment without the variables fieldctl reads,
// so the tests see only the flags they pass.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FIELDCTL_") && !strings.HasPrefix(kv, "FIELDD_") {
			env = append(env, kv)
		}
	}
	return env
}

// mustSucceed fails the test unless r exited 0.
func mustSucceed(t *testing.T, r result, command string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit code %d, want 0; stderr: %s", command, r.code, r.stderr)
	}
}

// decodeJSON decodes r's stdout as exactly one JSON document.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode stdout as JSON: %v\nstdout: %s", err, r.stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document: %s", r.stdout)
	}
}

func TestSetGet(t *testing.T) {
	d := startDaemon(t)
	rd := "--runtime-dir=" + d.runtimeDir

	r := fieldctl(t, rd, "set", "app/greeting", "hello world")
	mustSucceed(t, r, "set")
	if r.stdout != "" {
		t.Errorf("set printed %q on stdout, want nothing", r.stdout)
	}

	r = fieldctl(t, rd, "get", "app/greeting")
	mustSucceed(t, r, "get")
	if r.stdout != "hello world\n" {
		t.Errorf("get printed %q, want %q", r.stdout, "hello world\n")
	}

	r = fieldctl(t, rd, "set", "-o", "json", "app/greeting", "second")
	mustSucceed(t, r, "set -o json")
	var set valueJSON
	decodeJSON(t, r, &set)
	if set.Version != 2 || set.Value != "second" || set.Path != "app/greeting" {
		t.Errorf("set -o json = %+v, want version 2, value second", set)
	}

	r = fieldctl(t, rd, "get", "-o", "json", "app/greeting")
	mustSucceed(t, r, "get -o json")
	var got valueJSON
	decodeJSON(t, r, &got)
	want := valueJSON{Path: "app/greeting", ID: set.ID, Version: 2, Value: "second"}
	if got != want {
		t.Errorf("get -o json = %+v, want %+v", got, want)
	}
	c := d.dial(t)
	id, err := c.LookupFieldID(context.Background(), "app/greeting")
	if err != nil {
		t.Fatal(err)
	}
	if uint32(id) != got.ID {
		t.Errorf("get -o json id = %d, the daemon's ID of app/greeting is %d", got.ID, id)
	}
}

func TestGetUnknownPath(t *testing.T) {
	d := startDaemon(t)
	r := fieldctl(t, "--runtime-dir", d.runtimeDir, "get", "-o", "json", "no/such/field")
	if r.code != exitError {
		t.Errorf("exit code %d, want %d", r.code, exitError)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	if !strings.Contains(r.stderr, "field not found") {
		t.Errorf("stderr = %q, want it to say the field was not found", r.stderr)
	}
	c := d.dial(t)
	id, err := c.LookupFieldID(context.Background(), "no/such/field")
	if err != nil {
		t.Fatal(err)
	}
	if id != 0 {
		t.Errorf("get created field ID %d for an unknown path", id)
	}
}

func TestSetOwnedFieldRejected(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	c := d.dial(t)
	w, err := c.Claim(ctx, "owned")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.FieldID(ctx, "owned/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Publish(id, []byte("mine")); err != nil {
		t.Fatal(err)
	}

	r := fieldctl(t, "--runtime-dir", d.runtimeDir, "-o", "json", "set", "owned/x", "theirs")
	if r.code != exitError {
		t.Errorf("exit code %d, want %d", r.code, exitError)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
	wantPID := fmt.Sprintf("pid %d", os.Getpid())
	if !strings.Contains(r.stderr, "owned by writer "+wantPID) {
		t.Errorf("stderr = %q, want it to name the owner, writer %s", r.stderr, wantPID)
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", n, r.stderr)
	}
	v, err := c.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "mine" {
		t.Errorf("value after the rejected set = %q, want %q", v.String(), "mine")
	}
}

// lineReader delivers the lines a process prints, one per receive.
func lineReader(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

func nextLine(t *testing.T, lines <-chan string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("watch closed stdout before the expected line")
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line from watch within 10s")
	}
	return ""
}

func TestWatchCount(t *testing.T) {
	d := startDaemon(t)
	rd := "--runtime-dir=" + d.runtimeDir
	mustSucceed(t, fieldctl(t, rd, "set", "w/a", "v1"), "set w/a")

	cmd := exec.Command(filepath.Join(binDir, "fieldctl"), rd, "-o", "json", "watch", "w/a", "w/b", "--count", "3", "--timeout", "20s")
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	lines := lineReader(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})

	// Each change waits for the previous line, so no two changes fall into
	// one frame and coalesce.
	want := []watchLineJSON{
		{Path: "w/a", Version: 1, Value: "v1"},
		{Path: "w/b", Version: 1, Value: "b1"},
		{Path: "w/a", Version: 2, Value: "v2"},
	}
	changes := [][2]string{{"w/b", "b1"}, {"w/a", "v2"}}
	for i, w := range want {
		line := nextLine(t, lines)
		var got watchLineJSON
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v: %q", i+1, err, line)
		}
		if got.Path != w.Path || got.Version != w.Version || got.Value != w.Value || got.Gone {
			t.Errorf("line %d = %+v, want path %s version %d value %q", i+1, got, w.Path, w.Version, w.Value)
		}
		if got.ID == 0 {
			t.Errorf("line %d has no id: %q", i+1, line)
		}
		if got.Time.IsZero() {
			t.Errorf("line %d has no time: %q", i+1, line)
		}
		if i < len(changes) {
			mustSucceed(t, fieldctl(t, rd, "set", changes[i][0], changes[i][1]), "set "+changes[i][0])
		}
	}

	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("watch exited with %v, want exit code 0; stderr: %s", waitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not exit within 10s after --count values")
	}
	if l, ok := <-lines; ok {
		t.Errorf("watch printed a line after --count values: %q", l)
	}
	if stderr.Len() != 0 {
		t.Errorf("watch -o json wrote to stderr: %q", stderr.String())
	}
}

func TestWatchSummary(t *testing.T) {
	d := startDaemon(t)
	rd := "--runtime-dir=" + d.runtimeDir
	mustSucceed(t, fieldctl(t, rd, "set", "s/x", "42"), "set s/x")

	r := fieldctl(t, rd, "watch", "s/x", "--count", "1")
	mustSucceed(t, r, "watch --count 1")
	fields := strings.Fields(r.stdout)
	if len(fields) != 4 || fields[1] != "s/x" || fields[2] != "1" || fields[3] != "42" {
		t.Errorf("watch printed %q, want a time, s/x, version 1 and 42", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "watch: 1 value in ") {
		t.Errorf("summary = %q, want it to report 1 value", r.stderr)
	}
	if !strings.Contains(r.stderr, " 1 callbacks") {
		t.Errorf("summary = %q, want it to report 1 callback", r.stderr)
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", n, r.stderr)
	}
}

func TestWatchTimeout(t *testing.T) {
	d := startDaemon(t)
	start := time.Now()
	r := fieldctl(t, "--runtime-dir", d.runtimeDir, "-o", "json", "watch", "never/written", "--count", "2", "--timeout", "300ms")
	if r.code != exitTimedOut {
		t.Errorf("exit code %d, want %d; stderr: %s", r.code, exitTimedOut, r.stderr)
	}
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("watch returned after %s, before its 300ms timeout", elapsed)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing for a field never written", r.stdout)
	}
	if !strings.Contains(r.stderr, "timed out") {
		t.Errorf("stderr = %q, want it to say the watch timed out", r.stderr)
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 {
		t.Errorf("stderr has %d lines, want 1: %q", n, r.stderr)
	}

	// Without --count, the timeout is the planned end.
	r = fieldctl(t, "--runtime-dir", d.runtimeDir, "watch", "never/written", "--timeout", "100ms")
	if r.code != 0 {
		t.Errorf("watch --timeout without --count: exit code %d, want 0; stderr: %s", r.code, r.stderr)
	}
}

func TestJSONOutputs(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	rd := "--runtime-dir=" + d.runtimeDir

	c := d.dial(t)
	w, err := c.Claim(ctx, "json")
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"json/a", "json/b/c"}
	ids, err := c.FieldIDs(ctx, paths...)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		for n := range i + 1 {
			if err := w.Publish(id, []byte(strconv.Itoa(n))); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel, err := c.Watch(ids[0], func(client.Value) {})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	mustSucceed(t, fieldctl(t, rd, "set", "other/x", "1"), "set other/x")
	self := os.Getpid()

	t.Run("fields", func(t *testing.T) {
		r := fieldctl(t, rd, "fields", "json", "-o", "json")
		mustSucceed(t, r, "fields json")
		var got []client.FieldInfo
		decodeJSON(t, r, &got)
		if len(got) != len(paths) {
			t.Fatalf("fields json listed %d fields, want %d: %+v", len(got), len(paths), got)
		}
		for i, f := range got {
			want := client.FieldInfo{ID: ids[i], Path: paths[i], Version: uint64(i + 1), OwnerPID: self, Watchers: 1 - i}
			if f != want {
				t.Errorf("field %d = %+v, want %+v", i, f, want)
			}
		}
	})

	t.Run("fields table", func(t *testing.T) {
		r := fieldctl(t, rd, "fields")
		mustSucceed(t, r, "fields")
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("fields printed %d lines, want a header and 3 fields:\n%s", len(lines), r.stdout)
		}
		col := strings.Index(lines[0], "PATH")
		for _, l := range lines[1:] {
			if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
				t.Errorf("path column of %q does not start at byte %d, under PATH:\n%s", l, col, r.stdout)
			}
		}
	})

	t.Run("slots", func(t *testing.T) {
		r := fieldctl(t, rd, "slots", "-o", "json")
		mustSucceed(t, r, "slots")
		var got []client.SlotStats
		decodeJSON(t, r, &got)
		var mine, ctl *client.SlotStats
		for i := range got {
			switch got[i].PID {
			case self:
				mine = &got[i]
			case r.pid:
				ctl = &got[i]
			}
		}
		if mine == nil {
			t.Fatalf("slots lists no slot of the test's client, pid %d: %+v", self, got)
		}
		if mine.Slot != c.Slot() || mine.Name != "test" || mine.Watches != 1 || len(mine.Prefixes) != 1 || mine.Prefixes[0] != "json" {
			t.Errorf("test client's slot = %+v, want slot %d, name test, 1 watch, prefixes [json]", *mine, c.Slot())
		}
		if mine.UID != uint32(os.Geteuid()) {
			t.Errorf("test client's slot uid = %d, want %d", mine.UID, os.Geteuid())
		}
		if ctl == nil {
			t.Fatalf("slots lists no slot of fieldctl itself, pid %d: %+v", r.pid, got)
		}
		if ctl.Name != "fieldctl" {
			t.Errorf("fieldctl's slot name = %q, want fieldctl", ctl.Name)
		}
	})

	t.Run("stats", func(t *testing.T) {
		r := fieldctl(t, rd, "stats", "-o", "json")
		mustSucceed(t, r, "stats")
		var got statsJSON
		decodeJSON(t, r, &got)
		if got.PID != d.cmd.Process.Pid {
			t.Errorf("stats daemon_pid = %d, want %d", got.PID, d.cmd.Process.Pid)
		}
		if got.Fields != 3 {
			t.Errorf("stats fields = %d, want 3", got.Fields)
		}
		var arena *client.WriterStats
		for i := range got.Writers {
			if got.Writers[i].PID == self {
				arena = &got.Writers[i]
			}
		}
		if arena == nil {
			t.Fatalf("stats lists no arena of the test's writer, pid %d: %+v", self, got.Writers)
		}
		if arena.Publishes != 3 {
			t.Errorf("test writer publishes = %d, want 3", arena.Publishes)
		}
		// The daemon's arena holds other/x, set once.
		if got.Totals.Publishes != 4 {
			t.Errorf("total publishes = %d, want 4", got.Totals.Publishes)
		}
		if got.Totals.CoalescingRatio < 0 || got.Totals.CoalescingRatio > 1 {
			t.Errorf("coalescing ratio = %v, want a value from 0 to 1", got.Totals.CoalescingRatio)
		}
	})

	t.Run("status", func(t *testing.T) {
		r := fieldctl(t, rd, "status", "-o", "json")
		mustSucceed(t, r, "status")
		var got statusJSON
		decodeJSON(t, r, &got)
		if got.DaemonPID != d.cmd.Process.Pid {
			t.Errorf("status daemon_pid = %d, want %d", got.DaemonPID, d.cmd.Process.Pid)
		}
		if got.Fields != 3 {
			t.Errorf("status fields = %d, want 3", got.Fields)
		}
		if got.MaxFields != 1024 {
			t.Errorf("status max_fields = %d, want 1024", got.MaxFields)
		}
		if got.MaxClients != 16 {
			t.Errorf("status max_clients = %d, want 16", got.MaxClients)
		}
		// The test's client and fieldctl itself.
		if got.SlotsInUse != 2 {
			t.Errorf("status slots_in_use = %d, want 2", got.SlotsInUse)
		}
		if got.Writers != 1 {
			t.Errorf("status writers = %d, want 1", got.Writers)
		}
		if got.UptimeSeconds < 0 {
			t.Errorf("status uptime_seconds = %v, want 0 or more", got.UptimeSeconds)
		}
		if got.RuntimeDir != d.runtimeDir {
			t.Errorf("status runtime_dir = %q, want %q", got.RuntimeDir, d.runtimeDir)
		}
	})
}

func TestNoDaemon(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"slots"},
		{"slots", "-o", "json"},
		{"status", "-o", "json"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := fieldctl(t, append([]string{"--runtime-dir", empty}, args...)...)
			if r.code != exitError {
				t.Errorf("exit code %d, want %d", r.code, exitError)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want 1: %q", n, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "fieldctl: ") {
				t.Errorf("stderr = %q, want it to start with \"fieldctl: \"", r.stderr)
			}
			if strings.Contains(r.stderr, "Usage") {
				t.Errorf("stderr contains usage text: %q", r.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"slots", "--no-such-flag"},
		{"get"},
		{"set", "only-path"},
		{"no-such-command"},
		{"slots", "-o", "yaml"},
		{"watch", "x", "--count", "-1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := fieldctl(t, append([]string{"--runtime-dir", empty}, args...)...)
			if r.code != exitUsage {
				t.Errorf("exit code %d, want %d", r.code, exitUsage)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if !strings.HasPrefix(r.stderr, "fieldctl: ") {
				t.Errorf("stderr = %q, want it to start with \"fieldctl: \"", r.stderr)
			}
			if !strings.Contains(r.stderr, "Usage:") {
				t.Errorf("stderr = %q, want usage text after the error", r.stderr)
			}
		})
	}
}

func TestEnvRuntimeDir(t *testing.T) {
	d := startDaemon(t)
	for _, name := range []string{"FIELDCTL_RUNTIME_DIR", "FIELDD_RUNTIME_DIR"} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(binDir, "fieldctl"), "status", "-o", "json")
			cmd.Env = append(cleanEnv(), name+"="+d.runtimeDir)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("status with %s: %v", name, err)
			}
			var got statusJSON
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("decode status: %v: %s", err, out)
			}
			if got.DaemonPID != d.cmd.Process.Pid {
				t.Errorf("daemon_pid = %d, want %d", got.DaemonPID, d.cmd.Process.Pid)
			}
		})
	}
}

func TestFieldsPaging(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	// More fields than the daemon sends in one list reply, so fieldctl must
	// page.
	const n = 700
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("many/f%03d", i)
	}
	ids, err := c.FieldIDs(context.Background(), paths...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FieldID(context.Background(), "other/x"); err != nil {
		t.Fatal(err)
	}

	r := fieldctl(t, "--runtime-dir", d.runtimeDir, "-o", "json", "fields", "many")
	mustSucceed(t, r, "fields many")
	var got []client.FieldInfo
	decodeJSON(t, r, &got)
	if len(got) != n {
		t.Fatalf("fields many listed %d fields, want %d", len(got), n)
	}
	for i, f := range got {
		if f.ID != ids[i] || f.Path != paths[i] {
			t.Errorf("field %d = %d %s, want %d %s", i, f.ID, f.Path, ids[i], paths[i])
		}
	}
}
