// Command fieldctl inspects and changes the fields of a running fieldd:
// daemon status, slots, fields and counters, single values, and a live
// watch of chosen paths.
package main

import (
	"context"
	"errors"
	"fmt"
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

// Exit codes, listed in the root command's help.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitTimedOut = 3
)

// dialTimeout bounds connecting to the daemon and its handshake.
const dialTimeout = 5 * time.Second

// runError is an error raised after a command started running, with the
// exit code it maps to. Any other error that Execute returns comes from
// parsing the command line and exits with exitUsage.
type runError struct {
	code int
	err  error
}

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// globals contains the flags that every subcommand takes.
type globals struct {
	runtimeDir string
	output     string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line args and returns the exit code. An error
// goes to stderr as one line, followed by the command's usage when the
// command line was invalid.
func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}

	fmt.Fprintln(os.Stderr, "fieldctl:", oneLine(err.Error()))
	var ee *runError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprint(os.Stderr, "\n"+cmd.UsageString())
	return exitUsage
}

// oneLine joins the lines of a multi-line message, so every error is one
// line on stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "fieldctl",
		Short: "Inspect and change the fields of a running fieldd",
		Long: `fieldctl inspects and changes the fields of a running fieldd.

Every flag can also be set with an environment variable: FIELDCTL_ and the
flag name in upper case with '-' as '_' (for example FIELDCTL_OUTPUT=json).
--runtime-dir also falls back to FIELDD_RUNTIME_DIR, the variable fieldd
reads. A flag on the command line wins over the environment.

With -o json every command prints one JSON document on stdout, except
watch, which prints one JSON object per line. A command that fails prints
nothing on stdout.

Exit codes:
  0  success
  1  error, including a daemon that is not running or does not reply
  2  usage error: unknown command or flag, wrong number of arguments
  3  watch timed out before it received --count values`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("missing command")
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := envflag.Apply(cmd.Flags(), "FIELDCTL", map[string]string{"runtime-dir": "FIELDD_RUNTIME_DIR"}); err != nil {
				return err
			}
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("invalid output format %q for -o: use table or json", g.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	f := root.PersistentFlags()
	f.StringVar(&g.runtimeDir, "runtime-dir", proto.DefaultRuntimeDir(), "fieldd runtime directory, which contains the control socket")
	f.StringVarP(&g.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		newStatus(g),
		newSlots(g),
		newFields(g),
		newStats(g),
		newGet(g),
		newSet(g),
		newWatch(g),
	)
	return root
}

// runE wraps a command's function so that the errors it returns exit with
// exitError unless they carry their own code.
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := fn(cmd, args)
		if err == nil {
			return nil
		}
		var ee *runError
		if errors.As(err, &ee) {
			return err
		}
		return &runError{code: exitError, err: err}
	}
}

// signalContext returns a context that is canceled on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// dial connects to the daemon in the runtime directory.
func (g *globals) dial(ctx context.Context) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return client.Dial(ctx, client.Options{RuntimeDir: g.runtimeDir, Name: "fieldctl"})
}

// daemonStats connects, fetches the daemon's statistics and disconnects.
// command prefixes a failed request's error.
func (g *globals) daemonStats(command string) (client.DaemonStats, error) {
	ctx, stop := signalContext()
	defer stop()
	c, err := g.dial(ctx)
	if err != nil {
		return client.DaemonStats{}, err
	}
	defer c.Close()
	st, err := c.DaemonStats(ctx)
	if err != nil {
		return client.DaemonStats{}, fmt.Errorf("%s: %w", command, err)
	}
	return st, nil
}

func (g *globals) json() bool { return g.output == "json" }
