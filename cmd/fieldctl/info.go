package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldd/fieldd/pkg/client"
)

// statusJSON is the -o json output of status.
type statusJSON struct {
	DaemonPID     int       `json:"daemon_pid"`
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Fields        int       `json:"fields"`
	MaxFields     int       `json:"max_fields"`
	SlotsInUse    int       `json:"slots_in_use"`
	MaxClients    int       `json:"max_clients"`
	Writers       int       `json:"writers"` // writer arenas held by a live writer
	MaxWriters    int       `json:"max_writers"`
	RuntimeDir    string    `json:"runtime_dir"`
	StateDir      string    `json:"state_dir"`
}

func newStatus(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show whether fieldd runs: pid, uptime, fields and slots in use",
		Long: `Show whether fieldd runs: its pid, uptime, fields and slots in use.

status exits 0 only when the daemon replies. The slots in use include the
one fieldctl itself holds while it asks.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			st, err := g.daemonStats("status")
			if err != nil {
				return err
			}

			writers := 0
			for _, w := range st.Writers {
				if w.Arena != 0 && w.PID != 0 {
					writers++
				}
			}
			out := statusJSON{
				DaemonPID: st.PID, Started: st.Started, UptimeSeconds: time.Since(st.Started).Seconds(),
				Fields: st.Fields, MaxFields: st.MaxFields, SlotsInUse: len(st.Slots), MaxClients: st.MaxClients,
				Writers: writers, MaxWriters: st.MaxWriters, RuntimeDir: st.RuntimeDir, StateDir: st.StateDir,
			}
			if g.json() {
				return writeJSON(os.Stdout, out)
			}
			tw := newTable(os.Stdout)
			fmt.Fprintf(tw, "daemon pid\t%d\n", out.DaemonPID)
			fmt.Fprintf(tw, "uptime\t%s\n", time.Since(st.Started).Round(time.Second))
			// Field IDs run from 1 to MaxFields-1.
			fmt.Fprintf(tw, "fields\t%d of %d\n", out.Fields, out.MaxFields-1)
			fmt.Fprintf(tw, "slots in use\t%d of %d\n", out.SlotsInUse, out.MaxClients)
			fmt.Fprintf(tw, "writers\t%d of %d\n", out.Writers, out.MaxWriters)
			fmt.Fprintf(tw, "runtime dir\t%s\n", out.RuntimeDir)
			fmt.Fprintf(tw, "state dir\t%s\n", out.StateDir)
			return tw.Flush()
		}),
	}
}

func newSlots(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "slots",
		Short: "List the slots in use: one per connected client",
		Long: `List the slots in use, one per connected client, with the client's pid,
uid and name, its watches, claimed prefixes, pending notifications and
counters. fieldctl's own slot is listed too.

With -o json the output is an array of slot objects.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			st, err := g.daemonStats("slots")
			if err != nil {
				return err
			}
			if g.json() {
				return writeJSON(os.Stdout, st.Slots)
			}

			tw := newTable(os.Stdout)
			fmt.Fprintln(tw, "SLOT\tPID\tUID\tNAME\tAGE\tWATCHES\tPREFIXES\tPENDING\tDRAINS\tDRAINED\tFRAMES\tCALLBACKS\tOVERFLOWS\tOVERRUNS\tPARKS\tWAKES")
			for _, s := range st.Slots {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n",
					s.Slot, s.PID, s.UID, dash(s.Name), time.Since(s.Since).Round(time.Second),
					s.Watches, dash(strings.Join(s.Prefixes, ",")), s.Pending,
					s.Drains, s.Drained, s.Frames, s.Callbacks, s.Overflows, s.Overruns, s.Parks, s.Wakes)
			}
			return tw.Flush()
		}),
	}
}

func newFields(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "fields [PREFIX]",
		Short: "List fields, all or those under PREFIX",
		Long: `List fields with their ID, version, owning writer and watcher count: all
of them, or those whose path is PREFIX or lies under it ("cpu" covers
"cpu" and "cpu/total/user", not "cpuset"). Fields are listed in ID order.
An owner of "daemon" means no writer holds the field.

With -o json the output is an array of field objects; owner_pid is 0 for
the daemon.`,
		Args: cobra.MaximumNArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			ctx, stop := signalContext()
			defer stop()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			fields, err := c.ListFields(ctx, prefix)
			if err != nil {
				return err
			}
			if fields == nil {
				fields = []client.FieldInfo{}
			}
			if g.json() {
				return writeJSON(os.Stdout, fields)
			}

			tw := newTable(os.Stdout)
			fmt.Fprintln(tw, "ID\tPATH\tVERSION\tOWNER\tWATCHERS")
			for _, f := range fields {
				owner := "daemon"
				if f.OwnerPID != 0 {
					owner = fmt.Sprint(f.OwnerPID)
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d\n", f.ID, f.Path, f.Version, owner, f.Watchers)
			}
			return tw.Flush()
		}),
	}
}
