package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldd/fieldd/pkg/client"
)

// statsTotals sums the counters of every writer arena and every slot in
// use.
type statsTotals struct {
	Publishes uint64 `json:"publishes"`
	Coalesced uint64 `json:"coalesced"`
	Notified  uint64 `json:"notified"`
	ArenaFull uint64 `json:"arena_full"`
	BytesUsed int64  `json:"arena_bytes_used"`
	Drains    uint64 `json:"drains"`
	Drained   uint64 `json:"drained"`
	Frames    uint64 `json:"frames"`
	Callbacks uint64 `json:"callbacks"`
	Overflows uint64 `json:"overflows"`
	Overruns  uint64 `json:"overruns"`
	// CoalescingRatio is Coalesced / (Coalesced + Notified): the share of
	// a publish's per-watcher notifications that merged into one already
	// pending for that watcher. It is 0 before the first notification.
	CoalescingRatio float64 `json:"coalescing_ratio"`
}

// statsJSON is the -o json output of stats: the daemon's snapshot with
// the totals added.
type statsJSON struct {
	client.DaemonStats
	Totals statsTotals `json:"totals"`
}

func sumStats(st client.DaemonStats) statsTotals {
	var t statsTotals
	for _, w := range st.Writers {
		t.Publishes += w.Publishes
		t.Coalesced += w.Coalesced
		t.Notified += w.Notified
		t.ArenaFull += w.ArenaFull
		t.BytesUsed += w.BytesUsed
	}
	s := st.SlotTotals
	t.Drains, t.Drained, t.Frames = s.Drains, s.Drained, s.Frames
	t.Callbacks, t.Overflows, t.Overruns = s.Callbacks, s.Overflows, s.Overruns
	if n := t.Coalesced + t.Notified; n > 0 {
		t.CoalescingRatio = float64(t.Coalesced) / float64(n)
	}
	return t
}

func newStats(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show daemon-wide counters: writers, slots and the coalescing ratio",
		Long: `Show daemon-wide counters: for each writer arena its publishes, coalesced
and queued notifications and arena bytes; for each slot in use its drains,
frames, callbacks and ring overflows; and the totals.

A publish notifies each watcher of its field once: as queued ("notified")
when the field was not pending for that watcher, or as coalesced when it
was. The coalescing ratio is coalesced / (coalesced + notified).

Arena counters last as long as the region. Slot counters cover the clients
connected now, because a slot is wiped when its client leaves. Arena 0 is
the daemon's; an arena with pid 0 is not held by any writer now.

With -o json the output is the daemon's snapshot with a "totals" object.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			st, err := g.daemonStats("stats")
			if err != nil {
				return err
			}
			totals := sumStats(st)
			if g.json() {
				return writeJSON(os.Stdout, statsJSON{DaemonStats: st, Totals: totals})
			}
			return printStats(st, totals)
		}),
	}
}

func printStats(st client.DaemonStats, t statsTotals) error {
	w := os.Stdout
	fmt.Fprintf(w, "fieldd pid %d, up %s, %d fields, %d of %d slots in use, %d requests rejected\n\n",
		st.PID, time.Since(st.Started).Round(time.Second), st.Fields, len(st.Slots), st.MaxClients, st.Rejected)

	tw := newTable(w)
	fmt.Fprintln(tw, "ARENA\tPID\tPUBLISHES\tCOALESCED\tNOTIFIED\tARENA_FULL\tBYTES_USED\tBYTES_TOTAL")
	for _, a := range st.Writers {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n",
			a.Arena, a.PID, a.Publishes, a.Coalesced, a.Notified, a.ArenaFull, a.BytesUsed, a.BytesTotal)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = newTable(w)
	fmt.Fprintln(tw, "SLOT\tPID\tNAME\tDRAINS\tDRAINED\tFRAMES\tCALLBACKS\tOVERFLOWS\tOVERRUNS")
	for _, s := range st.Slots {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n",
			s.Slot, s.PID, dash(s.Name), s.Drains, s.Drained, s.Frames, s.Callbacks, s.Overflows, s.Overruns)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = newTable(w)
	fmt.Fprintf(tw, "publishes\t%d\n", t.Publishes)
	fmt.Fprintf(tw, "notified\t%d\n", t.Notified)
	fmt.Fprintf(tw, "coalesced\t%d\n", t.Coalesced)
	fmt.Fprintf(tw, "coalescing ratio\t%.1f%%\n", 100*t.CoalescingRatio)
	fmt.Fprintf(tw, "drained\t%d\n", t.Drained)
	fmt.Fprintf(tw, "frames\t%d\n", t.Frames)
	fmt.Fprintf(tw, "callbacks\t%d\n", t.Callbacks)
	fmt.Fprintf(tw, "overflows\t%d\n", t.Overflows)
	return tw.Flush()
}
