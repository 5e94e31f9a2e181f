package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestKilledClientRestartsIntoWorkingSlot kills a client process with
// SIGKILL and at once starts it again under the same name, 500 times.
// Each new process must get a slot in which it can watch a field, receive
// its value and receive its own update. The daemon must keep running, and
// no slot and generation may be handed out twice. Once the last process
// is killed, the slots in use return to what they were before. Every other
// round also starts a process under the same name and kills it 0 to 6 ms
// later, anywhere in its start-up.
func TestKilledClientRestartsIntoWorkingSlot(t *testing.T) {
	restarts := 500
	if testing.Short() {
		restarts = 50
	}
	// Eight slots: a slot that is not reclaimed soon after its owner dies
	// makes a later start fail with the slots full.
	d := startDaemon(t, "--max-clients", "8")
	c := d.dial(t, client.Options{Name: "updater"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := fieldID(t, c, "restart/x")
	if err := c.Update(ctx, id, []byte("initial")); err != nil {
		t.Fatal(err)
	}
	baseline := len(d.stats(t).Slots)

	type slotUse struct {
		slot       int
		generation uint64
	}
	seen := make(map[slotUse]int)
	var prev *helper
	start := time.Now()
	for i := range restarts {
		if prev != nil {
			prev.kill()
		}
		if i%2 == 1 {
			early := launchHelper(t, d, helperArgs{Role: roleRestart, Name: "restarted", Paths: []string{"restart/x"}})
			time.Sleep(time.Duration(i%7) * time.Millisecond)
			early.kill()
		}
		h := startHelper(t, d, helperArgs{
			Role:          roleRestart,
			Name:          "restarted",
			Paths:         []string{"restart/x"},
			FrameInterval: -1,
			DrainInterval: -1,
		})
		use := slotUse{h.ready.Slot, h.ready.Generation}
		if j, ok := seen[use]; ok {
			t.Fatalf("start %d got slot %d generation %d, which start %d had already", i, use.slot, use.generation, j)
		}
		seen[use] = i
		prev = h
	}
	prev.kill()
	t.Logf("%d kills and restarts in %v", restarts, time.Since(start).Round(time.Millisecond))

	if !d.alive() {
		t.Fatalf("fieldd exited during the restarts:\n%s", d.tail())
	}
	var inUse int
	waitFor(t, 10*time.Second, "slots in use to return to the baseline", func() bool {
		inUse = len(d.stats(t).Slots)
		return inUse == baseline
	})
	for _, s := range d.stats(t).Slots {
		if s.Name == "restarted" {
			t.Errorf("slot %d (pid %d) of a killed client is still in use", s.Slot, s.PID)
		}
	}

	// The test's own client still works after all the reclaims. Every
	// process that became ready updated the field once, and so may some of
	// those killed early.
	read, err := c.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	if min := uint64(restarts) + 1; read.Version() < min {
		t.Errorf("restart/x has version %d, want at least %d: the initial update and one per ready process", read.Version(), min)
	}
	values := watchValues(t, c, "restart/x")
	if v := nextValue(t, values, 5*time.Second); v.Version() != read.Version() {
		t.Errorf("watch of restart/x delivered version %d, Read returned %d", v.Version(), read.Version())
	}
}
