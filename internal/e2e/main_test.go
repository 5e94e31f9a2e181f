package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fielddBin is the fieldd binary that TestMain builds for every test.
var fielddBin string

// TestMain builds cmd/fieldd once, with the race detector when the tests
// have it, so that the daemon's own races show up too. A child process
// started by [startHelper] skips the build: it only runs its role.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run())
	}

	dir, err := os.MkdirTemp("", "fieldd-e2e-bin-")
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
