package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
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

var fielddBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fieldd-bin")
	if err != nil {
		panic(err)
	}
	fielddBin = filepath.Join(dir, "fieldd")
	if out, err := exec.Command("go", "build", "-o", fielddBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startDaemon starts fieldd with the given extra arguments and returns the
// command and a buffer with its log.
func startDaemon(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(fielddBin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	log := &syncBuffer{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return cmd, log
}

func TestReadyOnlyAfterSocketListens(t *testing.T) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	startDaemon(t, []string{"NOTIFY_SOCKET=" + notify},
		"--runtime-dir", dir+"/run", "--state-dir", dir+"/state")

	ln.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 256)
	for {
		n, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("no READY=1 from fieldd: %v", err)
		}
		if strings.Contains(string(buf[:n]), "READY=1") {
			break
		}
	}
	// The first attempt must succeed: no retry.
	c, err := client.Dial(context.Background(), client.Options{RuntimeDir: dir + "/run"})
	if err != nil {
		t.Fatalf("Dial right after READY=1: %v", err)
	}
	c.Close()
}

func TestSecondDaemonNamesHolder(t *testing.T) {
	dir := t.TempDir()
	first, log := startDaemon(t, nil, "--runtime-dir", dir+"/run", "--state-dir", dir+"/state")
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })

	out, err := exec.Command(fielddBin, "run", "--runtime-dir", dir+"/run", "--state-dir", dir+"/state2").CombinedOutput()
	if err == nil {
		t.Fatal("second fieldd on the same runtime directory started")
	}
	if !strings.Contains(string(out), "pid "+strconv.Itoa(first.Process.Pid)) {
		t.Fatalf("error does not name pid %d:\n%s", first.Process.Pid, out)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	_, log := startDaemon(t, []string{"FIELDD_MAX_CLIENTS=5", "FIELDD_RING_SIZE=128", "FIELDD_RUNTIME_DIR=" + dir + "/run"},
		"--state-dir", dir+"/state", "--ring-size", "256")
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	l := log.String()
	for _, want := range []string{"max_clients=5", "ring_size=256", "runtime_dir=" + dir + "/run"} {
		if !strings.Contains(l, want) {
			t.Errorf("start log lacks %q:\n%s", want, l)
		}
	}
}

func TestBadFlagNamesValueAndRange(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(fielddBin, "run", "--runtime-dir", dir, "--state-dir", dir, "--ring-size", "1000").CombinedOutput()
	if err == nil {
		t.Fatal("fieldd started with --ring-size=1000")
	}
	if !strings.Contains(string(out), "--ring-size=1000") || !strings.Contains(string(out), "power of two") {
		t.Fatalf("error does not name the flag, value and fix:\n%s", out)
	}
}

func TestSmallTmpfsFailsWithSizes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "shm")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()

	cmd := exec.Command(fielddBin, "run", "--runtime-dir", mnt, "--state-dir", dir+"/state")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("fieldd on a 1 MiB tmpfs: %v\n%s", err, out)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("fieldd died of signal %v", ws.Signal())
	}
	s := string(out)
	for _, want := range []string{"need", "available", "--max-fields", "--arena-size"} {
		if !strings.Contains(s, want) {
			t.Errorf("error lacks %q:\n%s", want, s)
		}
	}
}

func TestUnitFileVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("../../init/fieldd.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists, so point it at the built binary.
	text := strings.Replace(string(unit), "/usr/local/bin/fieldd", fielddBin, 1)
	path := filepath.Join(t.TempDir(), "fieldd.service")
	os.WriteFile(path, []byte(text), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "fieldd.service") {
			t.Errorf("systemd-analyze: %s", sc.Text())
		}
	}
	if !strings.Contains(text, "Type=notify") {
		t.Error("unit is not Type=notify")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSecondDaemonOnSameStateDirRejected(t *testing.T) {
	dir := t.TempDir()
	first, log := startDaemon(t, nil, "--runtime-dir", dir+"/run1", "--state-dir", dir+"/state")
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })

	out, err := exec.Command(fielddBin, "run", "--runtime-dir", dir+"/run2", "--state-dir", dir+"/state").CombinedOutput()
	if err == nil {
		t.Fatal("second fieldd on the same state directory started")
	}
	s := string(out)
	if !strings.Contains(s, "pid "+strconv.Itoa(first.Process.Pid)) || !strings.Contains(s, "--state-dir") {
		t.Fatalf("error does not name pid %d and --state-dir:\n%s", first.Process.Pid, s)
	}
}

func TestUnsafeRuntimeDirRejected(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	out, err := exec.Command(fielddBin, "run", "--runtime-dir", open, "--state-dir", dir+"/state").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "writable by group or others") {
		t.Errorf("world-writable runtime dir: %v\n%s", err, out)
	}

	if os.Geteuid() != 0 {
		return
	}
	foreign := filepath.Join(dir, "foreign")
	os.Mkdir(foreign, 0o755)
	os.Chown(foreign, 12345, 12345)
	out, err = exec.Command(fielddBin, "run", "--runtime-dir", foreign, "--state-dir", dir+"/state").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "owned by uid 12345") {
		t.Errorf("runtime dir of another user: %v\n%s", err, out)
	}
}

func TestFailedRebuildKeepsRegion(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "shm")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	// Registered before the daemons' cleanups, so it runs after them.
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	small := []string{"--runtime-dir", mnt, "--state-dir", dir + "/state", "--max-fields", "64", "--max-clients", "2",
		"--ring-size", "16", "--max-value-size", "64", "--max-writers", "1", "--arena-size", "4096"}

	d, log := startDaemon(t, nil, small...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	c := dialRetry(t, mnt)
	id, err := c.FieldID(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(context.Background(), id, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()

	// The default geometry does not fit: the start fails and the region
	// stays in place.
	out, err := exec.Command(fielddBin, "run", "--runtime-dir", mnt, "--state-dir", dir+"/state").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "need") {
		t.Fatalf("start with a larger geometry on a 1 MiB tmpfs: %v\n%s", err, out)
	}

	_, log = startDaemon(t, nil, small...)
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	if !strings.Contains(log.String(), "reopened region") {
		t.Errorf("region was not kept after the failed rebuild:\n%s", log.String())
	}
	c = dialRetry(t, mnt)
	defer c.Close()
	if v, err := c.Read(id); err != nil || v.String() != "kept" {
		t.Errorf("value after the failed rebuild = %q, %v; want kept", v.String(), err)
	}
}

func TestUsageErrorExitsTwo(t *testing.T) {
	err := exec.Command(fielddBin, "run", "--no-such-flag").Run()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("unknown flag: %v, want exit status 2", err)
	}
}

func TestPlantedFilesInStickyDirRejected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("planting a file as another uid needs root")
	}
	dir := t.TempDir()
	sticky := filepath.Join(dir, "sticky")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)

	// A symbolic link planted as the lock file must not be followed.
	link := filepath.Join(sticky, "fieldd.lock")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	os.Lchown(link, 12345, 12345)
	out, err := exec.Command(fielddBin, "run", "--runtime-dir", sticky, "--state-dir", dir+"/state").CombinedOutput()
	if err == nil {
		t.Fatalf("fieldd started with a planted lock link:\n%s", out)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the link target was written: %q", b)
	}
	os.Remove(link)

	// Region files that another uid owns are replaced, never reopened.
	for _, name := range []string{"values", "slots"} {
		p := filepath.Join(sticky, name)
		os.WriteFile(p, make([]byte, 8192), 0o666)
		os.Chown(p, 12345, 12345)
	}
	_, log := startDaemon(t, nil, "--runtime-dir", sticky, "--state-dir", dir+"/state")
	waitFor(t, func() bool { return strings.Contains(log.String(), "fieldd started") })
	if strings.Contains(log.String(), "reopened region") || !strings.Contains(log.String(), "replacing region") {
		t.Fatalf("planted region files were not replaced:\n%s", log.String())
	}
	for _, name := range []string{"values", "slots"} {
		st, err := os.Stat(filepath.Join(sticky, name))
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 0 {
			t.Errorf("%s is owned by uid %d after the start, want 0", name, uid)
		}
	}
}
