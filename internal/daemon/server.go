package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
	"github.com/fieldd/fieldd/internal/registry"
	"github.com/fieldd/fieldd/internal/shm"
)

// LockName is the lock file in the runtime directory that keeps a second
// daemon off the same region.
const LockName = "fieldd.lock"

// PathLogName is the path registry's file in the state directory.
const PathLogName = "paths.log"

// ErrRunning is wrapped when another daemon holds the runtime directory.
var ErrRunning = errors.New("another fieldd holds the runtime directory")

// Server is a running fieldd.
type Server struct {
	cfg     Config
	log     *slog.Logger
	start   time.Time
	lock    *os.File
	paths   *registry.Log
	reg     *region.Region
	files   *region.Files
	ln      *net.UnixListener
	wg      sync.WaitGroup
	closing chan struct{}

	// mu guards everything below, and serializes every change to owner
	// words, watcher masks and daemon-written values.
	mu       sync.Mutex
	slots    *registry.Alloc
	arenas   *registry.Alloc
	conns    map[*conn]struct{}
	dw       *region.Writer // arena 0
	rejected map[string]uint64
	retired  proto.SlotStats // counters of reclaimed slots, summed

	orphanSlots  []orphan
	orphanArenas []orphan
	stopping     bool // set by shutdown: disconnects keep slots and arenas
}

// New sets up a daemon: directories, the instance lock, the path log, the
// region files and the listening socket. It does not serve yet.
func New(cfg Config) (_ *Server, err error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		start:    time.Now(),
		closing:  make(chan struct{}),
		conns:    make(map[*conn]struct{}),
		rejected: make(map[string]uint64),
		slots:    registry.NewAlloc(0, cfg.Geometry.MaxSlots),
		arenas:   registry.NewAlloc(1, cfg.Geometry.Writers),
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()

	for _, d := range []string{cfg.RuntimeDir, cfg.StateDir} {
		if err = os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create directory: %w", err)
		}
	}
	if err = s.takeLock(); err != nil {
		return nil, err
	}
	s.paths, err = registry.Open(filepath.Join(cfg.StateDir, PathLogName), uint32(cfg.Geometry.MaxFields), cfg.MaxPath)
	if err != nil {
		return nil, err
	}
	if err = s.openRegion(); err != nil {
		return nil, err
	}
	if err = s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) takeLock() error {
	name := filepath.Join(s.cfg.RuntimeDir, LockName)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	ok, err := shm.TryLock(f, 0, 0)
	if err != nil || !ok {
		b, _ := os.ReadFile(name)
		f.Close()
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s is held by pid %s; stop that daemon or choose another --runtime-dir",
			ErrRunning, s.cfg.RuntimeDir, strings.TrimSpace(string(b)))
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	s.lock = f
	return nil
}

// openRegion reopens the region left by an earlier daemon when it is valid
// and has the configured geometry, and builds a new one otherwise. Values
// and versions survive a reopen; slots, owners and arenas start free.
func (s *Server) openRegion() error {
	g := s.cfg.Geometry
	r, files, err := region.Reopen(s.cfg.RuntimeDir, g)
	switch {
	case err == nil:
		s.log.Info("reopened region", "dir", s.cfg.RuntimeDir)
		s.adoptOrphans(r)
	case errors.Is(err, os.ErrNotExist):
		r, files, err = region.Create(s.cfg.RuntimeDir, g, os.Getpid())
	default:
		s.log.Warn("replacing region", "dir", s.cfg.RuntimeDir, "reason", err)
		stamp := time.Now().Format("20060102T150405")
		for _, name := range []string{region.ValuesFile, region.SlotsFile} {
			p := filepath.Join(s.cfg.RuntimeDir, name)
			os.Rename(p, p+".bad-"+stamp)
		}
		r, files, err = region.Create(s.cfg.RuntimeDir, g, os.Getpid())
	}
	if err != nil {
		return fmt.Errorf("build region in %s: %w", s.cfg.RuntimeDir, err)
	}
	s.reg, s.files = r, files
	r.SetDaemon(os.Getpid(), s.start)
	r.SetIssued(s.paths.Len())
	start, _ := procStart(int32(os.Getpid()))
	r.SetArenaOwner(0, int32(os.Getpid()), start)
	s.dw, err = r.Writer(0)
	return err
}

func (s *Server) listen() error {
	sock := filepath.Join(s.cfg.RuntimeDir, proto.SocketName)
	os.Remove(sock) // stale: the instance lock is ours
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	// Any local user may connect; the peer-credential check decides.
	if err := os.Chmod(sock, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("chmod %s: %w", sock, err)
	}
	s.ln = ln
	return nil
}

// SocketPath returns the control socket's path.
func (s *Server) SocketPath() string { return filepath.Join(s.cfg.RuntimeDir, proto.SocketName) }

// Serve accepts clients until ctx is done, then disconnects every client
// and releases the region. It tells systemd READY=1 once it accepts.
func (s *Server) Serve(ctx context.Context) error {
	l := s.reg.L
	s.log.Info("fieldd started",
		"pid", os.Getpid(), "runtime_dir", s.cfg.RuntimeDir, "state_dir", s.cfg.StateDir,
		"max_fields", l.MaxFields, "max_clients", l.MaxSlots, "ring_size", l.RingSize,
		"max_value_size", l.MaxValueSize, "max_writers", l.Writers, "arena_size", l.ArenaSize,
		"region_bytes", l.Size(), "fields", s.paths.Len())
	sddaemon.SdNotify(false, sddaemon.SdNotifyReady)

	stop := context.AfterFunc(ctx, func() { close(s.closing); s.ln.Close() })
	defer stop()
	s.wg.Add(1)
	go s.heartbeat()

	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.closing:
				sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
				s.shutdown()
				s.log.Info("fieldd stopped", "pid", os.Getpid())
				return nil
			default:
			}
			s.log.Error("accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

func (s *Server) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			s.reg.Beat(now)
			if s.hasOrphans() {
				s.reapOrphans()
			}
		}
	}
}

// shutdown closes every connection but leaves the slots and arenas of
// connected clients as they are: those processes keep draining and
// publishing through their mappings, and the next daemon adopts them.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.stopping = true
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.closeAll()
}

func (s *Server) closeAll() {
	if s.ln != nil {
		s.ln.Close()
		os.Remove(s.SocketPath())
	}
	if s.reg != nil {
		s.reg.Close()
	}
	if s.files != nil {
		s.files.Close()
	}
	if s.paths != nil {
		s.paths.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
}

func (s *Server) reject(reason string) {
	s.mu.Lock()
	s.rejected[reason]++
	s.mu.Unlock()
}

// Close releases everything New set up, for a server that will not Serve.
func (s *Server) Close() error {
	s.closeAll()
	return nil
}
