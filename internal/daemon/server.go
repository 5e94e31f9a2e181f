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
	"syscall"
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
var ErrRunning = errors.New("another fieldd holds the directory")

// Server is a running fieldd.
type Server struct {
	cfg       Config
	log       *slog.Logger
	start     time.Time
	lock      *os.File
	stateLock *os.File
	paths     *registry.Log
	reg       *region.Region
	files     *region.Files
	ln        *net.UnixListener
	wg        sync.WaitGroup
	closing   chan struct{}

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

	hsMu    sync.Mutex
	hsTotal int            // handshakes in progress
	hsByUID map[uint32]int // handshakes in progress by peer uid
	denials chan struct{}  // one token per denied peer waiting for its reply
	limiter *logLimiter
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
		hsByUID:  make(map[uint32]int),
		denials:  make(chan struct{}, maxDenials),
		limiter:  newLogLimiter(5),
		arenas:   registry.NewAlloc(1, cfg.Geometry.Writers),
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()

	if err = checkDir(cfg.RuntimeDir, "--runtime-dir"); err != nil {
		return nil, err
	}
	if err = checkDir(cfg.StateDir, "--state-dir"); err != nil {
		return nil, err
	}
	if s.lock, err = takeLock(cfg.RuntimeDir, "--runtime-dir"); err != nil {
		return nil, err
	}
	// A second lock keeps two daemons with different runtime directories
	// from appending to one path log.
	if s.stateLock, err = takeLock(cfg.StateDir, "--state-dir"); err != nil {
		return nil, err
	}
	s.paths, err = registry.Open(filepath.Join(cfg.StateDir, PathLogName), uint32(cfg.Geometry.MaxFields), cfg.MaxPath)
	if err != nil {
		return nil, err
	}
	if s.paths.Dropped > 0 {
		s.log.Warn("path log ended in a torn record, cut off", "bytes", s.paths.Dropped, "ids", s.paths.Len())
	}
	if err = s.openRegion(); err != nil {
		return nil, err
	}
	if err = s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// takeLock locks dir's lock file and writes this pid into it. flag names
// the option that chose dir, for the error message.
func takeLock(dir, flag string) (*os.File, error) {
	name := filepath.Join(dir, LockName)
	f, err := shm.OpenOwned(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file (%s): %w", flag, err)
	}
	ok, err := shm.TryLock(f, 0, 0)
	if err != nil || !ok {
		b, _ := os.ReadFile(name)
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s is held by pid %s; stop that daemon or choose another %s",
			ErrRunning, dir, strings.TrimSpace(string(b)), flag)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// checkDir creates dir if needed and rejects one where another user could
// replace the socket or the files: one owned by a user other than this
// daemon's or root, or one that group or others can write without the
// sticky bit (a tmpfs mount point such as /dev/shm has it).
func checkDir(dir, flag string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s=%s is not a directory", flag, dir)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(sys.Uid) != os.Geteuid() && sys.Uid != 0 {
		return fmt.Errorf("%s=%s is owned by uid %d, not by this daemon's uid %d or root; choose a directory of your own",
			flag, dir, sys.Uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s=%s is writable by group or others (mode %04o); run chmod go-w on it or choose another directory",
			flag, dir, st.Mode().Perm())
	}
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
	case errors.Is(err, os.ErrNotExist) && !exists(filepath.Join(s.cfg.RuntimeDir, region.ValuesFile)):
		r, files, err = region.Create(s.cfg.RuntimeDir, g, os.Getpid())
	default:
		// A bad slots file alone costs no values: keep the values file.
		restoreSlots := s.moveAside(region.SlotsFile)
		if r, files, err = region.RebuildSlots(s.cfg.RuntimeDir, g, os.Getpid()); err == nil {
			s.log.Warn("rebuilt the slots file; values kept", "dir", s.cfg.RuntimeDir)
			s.adoptOrphans(r)
			break
		}
		restoreSlots()
		s.log.Warn("replacing region: values and versions start over", "dir", s.cfg.RuntimeDir, "reason", err)
		restore := s.moveRegionAside()
		r, files, err = region.Create(s.cfg.RuntimeDir, g, os.Getpid())
		if err != nil {
			restore()
		}
	}
	if err == nil {
		s.clearUnissued(r)
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

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// moveRegionAside renames the region files to NAME.bad-TIME, after
// deleting older such copies so that repeated rebuilds cannot fill the
// tmpfs. It returns a function that moves them back, for a rebuild that
// fails.
func (s *Server) moveRegionAside() (restore func()) {
	return s.moveAside(region.ValuesFile, region.SlotsFile)
}

// moveAside is moveRegionAside for the named files only.
func (s *Server) moveAside(names ...string) (restore func()) {
	dir := s.cfg.RuntimeDir
	stamp := time.Now().Format("20060102T150405")
	var moved [][2]string
	for _, name := range names {
		old, _ := filepath.Glob(filepath.Join(dir, name+".bad-*"))
		for _, p := range old {
			os.Remove(p)
		}
		p := filepath.Join(dir, name)
		if err := os.Rename(p, p+".bad-"+stamp); err == nil {
			moved = append(moved, [2]string{p, p + ".bad-" + stamp})
		}
	}
	return func() {
		for _, m := range moved {
			if err := os.Rename(m[1], m[0]); err != nil {
				s.log.Error("restore region file failed", "file", m[0], "err", err)
			}
		}
	}
}

// clearUnissued wipes the field entries above the highest ID in the path
// log. They can only hold data when the log lost records that a region
// still remembers, and an ID issued anew must not inherit that data.
func (s *Server) clearUnissued(r *region.Region) {
	if n := r.ClearFieldsAbove(s.paths.Len()); n > 0 {
		s.log.Warn("cleared fields the path log does not know", "count", n, "issued", s.paths.Len())
	}
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
// and releases the region. It sends systemd READY=1 once it accepts.
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

	var backoff time.Duration
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
			// Out of descriptors or memory: back off, up to a second, and
			// log at most a few lines a second.
			s.logLimited("accept", "accept failed", "err", err)
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
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
	if s.stateLock != nil {
		s.stateLock.Close()
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
