// Command fieldproc publishes live /proc statistics as fieldd fields: CPU
// ticks and busy percentage, memory, load averages and, per process, CPU
// ticks, resident memory and command name. It claims the prefixes cpu,
// mem, load and proc, samples /proc at a fixed rate, publishes only the
// values that changed and retires the fields of processes that exited.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldd/fieldd/internal/envflag"
	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/pkg/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// maxRate is the highest --rate, in samples per second.
const maxRate = 10000

// progressInterval is the period of the progress lines.
const progressInterval = 5 * time.Second

// dialTimeout bounds connecting to the daemon and claiming the prefixes.
const dialTimeout = 10 * time.Second

type options struct {
	runtimeDir string
	procRoot   string
	rate       float64
	duration   time.Duration
	noProcs    bool
	minAge     time.Duration
	quiet      bool
}

// runError is an error raised after fieldproc started running. Any other
// error that Execute returns comes from the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

func main() {
	cmd := newCommand()
	err := cmd.Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "fieldproc:", err)
	var re *runError
	if errors.As(err, &re) {
		os.Exit(exitError)
	}
	fmt.Fprint(os.Stderr, "\n"+cmd.UsageString())
	os.Exit(exitUsage)
}

func newCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "fieldproc",
		Short: "Publish live /proc statistics as fieldd fields",
		Long: `fieldproc publishes live /proc statistics as fieldd fields. It claims the
prefixes cpu, mem, load and proc (without proc under --no-procs), so no
other writer may hold them while it runs.

Fields: cpu/{total,N}/{user,system,idle,iowait} in USER_HZ ticks,
cpu/total/busy_percent, mem/*_bytes, load/{1m,5m,15m,running,total_tasks},
and proc/pid/<PID>/{cpu_ticks,rss_bytes,comm}. Values are decimal text,
except comm. Only values that changed since the last sample are published.
When a process exits, its fields are retired (watchers see them gone); a
new process with the same pid publishes them again. At start, per-process
fields that an earlier run left for processes that are gone are retired.

Field IDs are permanent, so every pid seen uses 3 field IDs and some bytes
of the writer's value arena for as long as the daemon's region lasts. On a
host that starts many processes, use --no-procs or raise fieldd
--max-fields and --arena-size. When the daemon has no field ID left, the
fields of new processes are skipped and a line says so.

fieldproc runs until --duration passes, or until SIGINT or SIGTERM. It
prints a progress line to stderr every 5 s unless --quiet, and a summary
line when it stops: samples, publishes, retires, fields, elapsed time and
the sample rate achieved.

Every flag can also be set with an environment variable: FIELDPROC_ and the
flag name in upper case with '-' as '_'. --runtime-dir also falls back to
FIELDD_RUNTIME_DIR. A flag on the command line wins over the environment.

Exit codes: 0 when it stopped at --duration or on a signal, 1 on an error,
2 on a usage error.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := envflag.Apply(cmd.Flags(), "FIELDPROC", map[string]string{"runtime-dir": "FIELDD_RUNTIME_DIR"}); err != nil {
				return err
			}
			if !(o.rate > 0 && o.rate <= maxRate) {
				return fmt.Errorf("invalid --rate %v: must be above 0 and at most %d samples per second", o.rate, maxRate)
			}
			if o.minAge < 0 {
				return fmt.Errorf("invalid --min-age %s: must be 0 (publish at once) or more", o.minAge)
			}
			if o.duration < 0 {
				return fmt.Errorf("invalid --duration %s: must be 0 (until a signal) or more", o.duration)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := run(o); err != nil {
				return &runError{err}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	f := cmd.Flags()
	f.StringVar(&o.runtimeDir, "runtime-dir", proto.DefaultRuntimeDir(), "fieldd runtime directory, which contains the control socket")
	f.StringVar(&o.procRoot, "proc-root", "/proc", "mount point of the proc file system to sample")
	f.Float64Var(&o.rate, "rate", 100, "samples per second")
	f.DurationVar(&o.duration, "duration", 0, "stop after this duration, such as 30s (0: run until SIGINT or SIGTERM)")
	f.BoolVar(&o.noProcs, "no-procs", false, "publish no per-process fields and leave the proc prefix unclaimed")
	f.DurationVar(&o.minAge, "min-age", time.Second, "publish a process only once it has been seen this long, so short-lived processes use no field IDs (0: at once)")
	f.BoolVar(&o.quiet, "quiet", false, "print no start and progress lines; errors and the summary still go to stderr")
	return cmd
}

// run connects, claims the prefixes and publishes samples until the
// duration passes or a signal arrives.
func run(o options) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	logger := log.New(os.Stderr, "fieldproc: ", 0)

	dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.Dial(dialCtx, client.Options{RuntimeDir: o.runtimeDir, Name: "fieldproc"})
	if err != nil {
		return err
	}
	defer c.Close()
	prefixes := []string{"cpu", "mem", "load", procPrefix}
	if o.noProcs {
		prefixes = prefixes[:3]
	}
	w, err := c.Claim(dialCtx, prefixes...)
	if err != nil {
		return err
	}
	defer func() {
		// After a daemon restart the release cannot be sent; the new
		// daemon releases the prefixes when this process exits.
		if cerr := w.Close(); cerr != nil && !errors.Is(cerr, client.ErrDisconnected) {
			err = errors.Join(err, fmt.Errorf("release prefixes: %w", cerr))
		}
	}()

	p := newPublisher(c, w, o.procRoot, o.noProcs, logger)
	interval := time.Duration(float64(time.Second) / o.rate)
	p.minSamples = uint64(o.minAge / interval)
	if !o.quiet {
		logger.Printf("publishing %s at %g samples/s (every %s) to %s",
			strings.Join(prefixes, ", "), o.rate, interval, o.runtimeDir)
	}

	start := time.Now()
	loopErr := p.loop(ctx, interval, o.quiet, start)
	elapsed := time.Since(start)
	logger.Printf("stopped after %s: %d samples (%.1f samples/s), %d publishes, %d retires, %d fields (%d live), %d errors",
		elapsed.Round(time.Millisecond), p.samples, float64(p.samples)/elapsed.Seconds(),
		p.publishes, p.retires, len(p.fields), p.liveFields(), p.errors)
	return loopErr
}

// loop runs one step per interval until ctx is done. The first step also
// retires fields left by an earlier run.
func (p *publisher) loop(ctx context.Context, interval time.Duration, quiet bool, start time.Time) error {
	if err := p.step(ctx); err != nil {
		return err
	}
	if p.samples == 0 {
		return errors.New("the first sample of /proc failed; see the error above")
	}
	if !p.noProcs {
		if err := p.retireStale(ctx); err != nil {
			return err
		}
	}

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	nextProgress := start.Add(progressInterval)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if err := p.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // a request canceled by the signal or the duration
			}
			return err
		}
		if now := time.Now(); !quiet && !now.Before(nextProgress) {
			elapsed := now.Sub(start)
			p.log.Printf("%s: %d samples (%.1f samples/s), %d publishes, %d retires, %d fields, %d errors",
				elapsed.Round(time.Second), p.samples, float64(p.samples)/elapsed.Seconds(),
				p.publishes, p.retires, len(p.fields), p.errors)
			nextProgress = nextProgress.Add(progressInterval)
		}
	}
}
