package client_test

import (
	"testing"
	"time"

	"github.com/fieldd/fieldd/pkg/client"
)

// TestIdleClientMakesNoWakeups lets a client go idle after one delivery:
// its drainer parks on the futex, and over the next second its park,
// drain, wake and frame counters stay the same, so it made no wake-ups.
func TestIdleClientMakesNoWakeups(t *testing.T) {
	run := startDaemon(t)
	c := dial(t, run, client.Options{Name: "idle"})
	w := claim(t, dial(t, run, client.Options{Name: "writer"}), "i")
	id := fieldID(t, c, "i/x")
	values := make(chan client.Value, 16)
	mustWatch(t, c, id, func(v client.Value) { values <- v })

	// Nothing but a publish wakes a parked drainer, so after its first
	// park it stays parked until the publish below.
	waitFor(t, 5*time.Second, "the drainer to park", func() bool { return c.Stats().Parks > 0 })
	parked := c.Stats()
	publish(t, w, id, "wake up")
	recvValue(t, values, 5*time.Second)
	waitFor(t, 5*time.Second, "the drainer to park again", func() bool { return c.Stats().Parks > parked.Parks })

	idle := c.Stats()
	if idle.Wakes <= parked.Wakes {
		t.Errorf("Stats().Wakes = %d after a publish to a parked client, was %d: the publish did not wake it", idle.Wakes, parked.Wakes)
	}
	time.Sleep(time.Second)
	after := c.Stats()
	if after.Parks != idle.Parks {
		t.Errorf("Stats().Parks went from %d to %d in an idle second: the drainer woke up", idle.Parks, after.Parks)
	}
	if after.Drains != idle.Drains {
		t.Errorf("Stats().Drains went from %d to %d in an idle second", idle.Drains, after.Drains)
	}
	if after.Wakes != idle.Wakes {
		t.Errorf("Stats().Wakes went from %d to %d in an idle second", idle.Wakes, after.Wakes)
	}
	if after.Frames != idle.Frames {
		t.Errorf("Stats().Frames went from %d to %d in an idle second: the dispatcher ran", idle.Frames, after.Frames)
	}
}
