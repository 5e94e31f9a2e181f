package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fieldd/fieldd/internal/proto"
)

func sample() proto.StatsReply {
	return proto.StatsReply{
		Fields: 3, MaxFields: 64, MaxClients: 4, ArenaSize: 8192,
		Writers:    []proto.WriterStat{{Arena: 0, Publishes: 5}, {Arena: 12, Publishes: 7, Coalesced: 2}},
		Slots:      []proto.SlotStats{{Slot: 0, Frames: 4, Overflows: 1}, {Slot: 1, Frames: 6}},
		Reclaimed:  proto.SlotStats{Frames: 10},
		Totals:     proto.SlotStats{Frames: 20, Overflows: 1},
		RejectedBy: map[string]uint64{proto.CodeOwned: 2},
	}
}

func TestCollectorExportsSlotTotals(t *testing.T) {
	c := New(sample)
	want := `
# HELP fieldd_frames_total Client dispatch frames.
# TYPE fieldd_frames_total counter
fieldd_frames_total 20
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "fieldd_frames_total"); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorLabelsArenas(t *testing.T) {
	c := New(sample)
	want := `
# HELP fieldd_publishes_total Values stored by writers, by arena.
# TYPE fieldd_publishes_total counter
fieldd_publishes_total{arena="0"} 5
fieldd_publishes_total{arena="12"} 7
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "fieldd_publishes_total"); err != nil {
		t.Fatal(err)
	}
}

func TestCollectorLintClean(t *testing.T) {
	problems, err := testutil.CollectAndLint(New(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestRegistryBuiltTwice(t *testing.T) {
	// Tests and restarts in one process build the registry more than once;
	// that must not panic with a duplicate registration.
	for range 2 {
		reg := NewRegistry(sample)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(mfs) == 0 {
			t.Fatal("registry gathered no metrics")
		}
	}
}
