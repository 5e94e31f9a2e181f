// Command fieldd is the fieldd coordinator: it builds the shared region,
// keeps the path registry and serves clients on a unix socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/fieldd/fieldd/internal/daemon"
	"github.com/fieldd/fieldd/internal/envflag"
	"github.com/fieldd/fieldd/internal/metrics"
	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
)

// usageError is a command-line error: it exits with status 2, as
// fieldctl's do, and the other failures with 1.
type usageError struct{ error }

func main() {
	root := newRoot()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fieldd:", err)
		var u usageError
		if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "fieldd",
		Short: "Shared-memory field notification daemon",
		Long: `fieldd is the coordinator of a shared-memory field notification region.

Exit codes: 0 after a stop on SIGTERM or SIGINT, 1 on an error, 2 on a
usage error such as an unknown flag.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRun())
	return root
}

func newRun() *cobra.Command {
	g := region.DefaultGeometry()
	var (
		cfg       daemon.Config
		readers   []string
		writers   []string
		logLevel  string
		logFormat string
		metrics   string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground until SIGTERM or SIGINT",
		Long: `Run the daemon in the foreground until SIGTERM or SIGINT.

Every flag can also be set with an environment variable: FIELDD_ and the
flag name in upper case with '-' as '_' (for example FIELDD_MAX_CLIENTS).
A flag on the command line wins over the environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			self := uint32(os.Geteuid())
			if cfg.Readers, err = daemon.ParseAllow(readers, self); err != nil {
				return fmt.Errorf("--readers: %w", err)
			}
			if cfg.Writers, err = daemon.ParseAllow(writers, self); err != nil {
				return fmt.Errorf("--writers: %w", err)
			}
			cfg.Geometry = g
			cfg.Logger = logger
			s, err := daemon.New(cfg)
			if err != nil {
				return err // main prints it once, as the last line
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if metrics != "" {
				if err := serveMetrics(ctx, metrics, s, logger); err != nil {
					s.Close()
					return err
				}
			}
			return s.Serve(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.RuntimeDir, "runtime-dir", proto.DefaultRuntimeDir(), "directory (tmpfs) for the control socket and region files")
	f.StringVar(&cfg.StateDir, "state-dir", proto.DefaultStateDir(), "directory (disk) for the durable path-to-ID log")
	f.IntVar(&g.MaxSlots, "max-clients", g.MaxSlots, "client slots: connected clients at once")
	f.IntVar(&g.MaxFields, "max-fields", g.MaxFields, "field table size: IDs 1..N-1, a multiple of 64")
	f.IntVar(&g.RingSize, "ring-size", g.RingSize, "notification ring cells per slot, a power of two")
	f.IntVar(&g.MaxValueSize, "max-value-size", g.MaxValueSize, "largest field value, in bytes")
	f.IntVar(&g.Writers, "max-writers", g.Writers, "writer processes with claims at once (one value arena each)")
	f.Int64Var(&g.ArenaSize, "arena-size", g.ArenaSize, "value arena per writer, in bytes, a multiple of 4096")
	f.IntVar(&cfg.MaxPath, "max-path-length", proto.DefaultMaxPath, "longest field path, in bytes")
	f.IntVar(&cfg.MaxMessage, "max-message-size", proto.DefaultMaxMessage, "largest control message, in bytes")
	f.IntVar(&cfg.MaxHandshakes, "max-handshakes", daemon.DefaultMaxHandshakes, "connections in their handshake at once; more are rejected")
	f.IntVar(&cfg.MaxHandshakesPerUID, "max-handshakes-per-uid", daemon.DefaultMaxHandshakesPerUID, "connections from one uid in their handshake at once")
	f.StringSliceVar(&readers, "readers", nil, "uids, user names or group names (group:NAME) allowed to connect (default: the daemon's uid)")
	f.StringSliceVar(&writers, "writers", nil, "uids, user names or group names (group:NAME) allowed to claim prefixes (default: the daemon's uid)")
	f.StringVar(&metrics, "metrics-listen", "", "TCP address for Prometheus /metrics, such as 127.0.0.1:9464 (default: no listener)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return envflag.Apply(cmd.Flags(), "FIELDD", nil) }
	return cmd
}

// serveMetrics listens on addr and serves /metrics until ctx is done.
func serveMetrics(ctx context.Context, addr string, s *daemon.Server, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen=%s: %w", addr, err)
	}
	mux := http.NewServeMux()
	reg := metrics.NewRegistry(s.Stats)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server failed", "addr", addr, "err", err)
		}
	}()
	context.AfterFunc(ctx, func() { srv.Close() })
	logger.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level=%q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format=%q: want text or json", format)
}
