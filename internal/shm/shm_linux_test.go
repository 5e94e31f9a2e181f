//go:build linux

package shm

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestCreateAndMap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "region")
	f, err := Create(path, 3*4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 3*4096 {
		t.Errorf("size = %d, want %d", st.Size(), 3*4096)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}

	rw, err := Map(f, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	copy(rw.Bytes()[5000:], "hello")

	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	m, err := Map(ro, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.Bytes()[5000:5005]); got != "hello" {
		t.Errorf("read-only mapping reads %q, want %q", got, "hello")
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestMapRejectsEmptyFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "empty"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Map(f, true); err == nil {
		t.Error("Map of an empty file = nil error, want one")
	}
}

func TestAnonymousZeroed(t *testing.T) {
	m, err := Anonymous(8192)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Bytes()) != 8192 {
		t.Fatalf("len = %d, want 8192", len(m.Bytes()))
	}
	if !bytes.Equal(m.Bytes(), make([]byte, 8192)) {
		t.Error("anonymous mapping is not zeroed")
	}
}

func TestFutexWaitReturns(t *testing.T) {
	m, err := Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w, err := Uint32At(m.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}

	// A word that differs from the expected value returns at once.
	start := time.Now()
	if err := FutexWait(w, 1, 10*time.Second); err != nil {
		t.Fatalf("FutexWait on a mismatched word: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("FutexWait on a mismatched word took %v", d)
	}

	w.Store(1)
	start = time.Now()
	if err := FutexWait(w, 1, 20*time.Millisecond); err != nil {
		t.Fatalf("FutexWait with a timeout: %v", err)
	}
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("FutexWait with a 20ms timeout returned after %v", d)
	}

	if n, err := FutexWake(w, 1); err != nil || n != 0 {
		t.Errorf("FutexWake with no waiter = %d, %v; want 0, nil", n, err)
	}
}

func TestFutexWakeWakesWaiter(t *testing.T) {
	m, err := Anonymous(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w, err := Uint32At(m.Bytes(), 64)
	if err != nil {
		t.Fatal(err)
	}
	w.Store(1)

	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		FutexWait(w, 1, 30*time.Second)
		done <- time.Since(start)
	}()

	// FutexWake reports a woken waiter only once the goroutine sleeps.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := FutexWake(w, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no waiter to wake before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case d := <-done:
		if d > 20*time.Second {
			t.Errorf("waiter returned after %v, as if by its timeout", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("woken waiter did not return")
	}
}

func TestTryLockConflicts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slots")
	f1, err := Create(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()

	lock := func(f *os.File, off int64, want bool) {
		t.Helper()
		got, err := TryLock(f, off, 64)
		if err != nil {
			t.Fatalf("TryLock(%d): %v", off, err)
		}
		if got != want {
			t.Fatalf("TryLock(%d) = %v, want %v", off, got, want)
		}
	}
	lock(f1, 0, true)
	lock(f2, 0, false)
	lock(f2, 32, false) // overlaps
	lock(f2, 64, true)
	f1.Close()
	lock(f2, 0, true)
}

// socketPair returns both ends of a connected SOCK_SEQPACKET pair.
func socketPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	return conn(fds[0]), conn(fds[1])
}

func TestSendRecvFiles(t *testing.T) {
	a, b := socketPair(t)
	path := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(path, []byte("region bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if err := SendFiles(a, []byte("welcome"), f); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, files, err := RecvFiles(b, buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "welcome" {
		t.Errorf("message = %q, want %q", buf[:n], "welcome")
	}
	if len(files) != 1 {
		t.Fatalf("received %d files, want 1", len(files))
	}
	defer files[0].Close()
	got, err := io.ReadAll(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "region bytes" {
		t.Errorf("received file reads %q", got)
	}
}

func TestRecvFilesRejectsTooMany(t *testing.T) {
	a, b := socketPair(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	many := make([]*os.File, MaxFiles+1)
	for i := range many {
		many[i] = f
	}
	if err := SendFiles(a, []byte("x"), many...); err != nil {
		t.Fatal(err)
	}
	_, files, err := RecvFiles(b, make([]byte, 16))
	if err == nil {
		t.Errorf("RecvFiles of %d fds = nil error, want one", len(many))
	}
	if len(files) != 0 {
		t.Errorf("RecvFiles returned %d files with its error", len(files))
	}
}

func TestRecvFilesRejectsTruncated(t *testing.T) {
	a, b := socketPair(t)
	if err := SendFiles(a, bytes.Repeat([]byte("x"), 100)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := RecvFiles(b, make([]byte, 10)); err == nil {
		t.Error("RecvFiles into a short buffer = nil error, want one")
	}
}

func TestPeerCred(t *testing.T) {
	a, _ := socketPair(t)
	c, err := PeerCred(a)
	if err != nil {
		t.Fatal(err)
	}
	if int(c.PID) != os.Getpid() {
		t.Errorf("PID = %d, want %d", c.PID, os.Getpid())
	}
	if int(c.UID) != os.Getuid() {
		t.Errorf("UID = %d, want %d", c.UID, os.Getuid())
	}
}

func TestWriteZerosSize(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "zeros"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeZeros(f, 3<<20+5); err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 3<<20+5 {
		t.Errorf("size = %d, want %d", st.Size(), 3<<20+5)
	}
}
