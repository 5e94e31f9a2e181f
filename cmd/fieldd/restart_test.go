package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// dialRetry dials until the daemon answers or 20 s pass.
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
