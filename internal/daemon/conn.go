package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
	"github.com/fieldd/fieldd/internal/shm"
)

// maxLoggedRejects is how many rejected requests of one connection are
// logged one by one; the rest are counted and logged at disconnect.
const maxLoggedRejects = 10

// conn is one client connection. Its fields are guarded by Server.mu,
// except nc, cred and log, which are fixed after the handshake.
type conn struct {
	nc   *net.UnixConn
	cred shm.Cred
	log  *slog.Logger
	name string

	slot     int
	gen      uint64
	watches  map[uint32]bool
	arena    int // 0 until the first claim
	prefixes []string

	rejects int
}

// reqError is a request failure to send back as proto.Error.
type reqError struct {
	code   string
	msg    string
	holder int32
}

func (e *reqError) Error() string { return e.msg }

func fail(code, format string, args ...any) *reqError {
	return &reqError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) serveConn(nc *net.UnixConn) {
	defer s.wg.Done()
	defer nc.Close()
	nc.SetReadBuffer(2 * s.cfg.MaxMessage)
	nc.SetWriteBuffer(2 * s.cfg.MaxMessage)

	cred, err := shm.PeerCred(nc)
	if err != nil {
		s.log.Error("read peer credentials failed", "err", err)
		return
	}
	c := &conn{nc: nc, cred: cred, slot: -1, watches: make(map[uint32]bool)}
	c.log = s.log.With("pid", cred.PID, "uid", cred.UID)

	// A peer of a uid on neither list is rejected before anything else, and
	// holds its descriptor for at most deniedHoldTime.
	if !s.cfg.Readers.Permits(cred.UID, cred.GID) && !s.cfg.Writers.Permits(cred.UID, cred.GID) {
		select {
		case s.denials <- struct{}{}:
			s.denyEarly(c)
			<-s.denials
		default:
			s.reject(proto.CodeDenied) // too many at once: close without a reply
		}
		return
	}
	if !s.startHandshake(cred.UID) {
		s.reject(proto.CodeLimit)
		s.logLimited("handshakes", "connection rejected: too many handshakes in progress",
			"pid", cred.PID, "uid", cred.UID, "max", s.cfg.MaxHandshakes, "max_per_uid", s.cfg.MaxHandshakesPerUID)
		select {
		case s.denials <- struct{}{}:
			s.answerEarly(c, proto.CodeLimit, fmt.Sprintf(
				"too many connections are in their handshake (at most %d, %d per uid; fieldd --max-handshakes, --max-handshakes-per-uid); retry shortly",
				s.cfg.MaxHandshakes, s.cfg.MaxHandshakesPerUID))
			<-s.denials
		default:
		}
		return
	}

	buf := make([]byte, s.cfg.MaxMessage+1)
	ok := s.handshake(c, buf)
	s.endHandshake(cred.UID)
	if !ok {
		return
	}
	defer s.disconnect(c)

	for {
		n, _, flags, _, err := nc.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 && flags == 0 {
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Warn("read failed", "slot", c.slot, "err", err)
			}
			return
		}
		h, body, err := proto.DecodeHeader(buf[:n], s.cfg.MaxMessage)
		if err != nil {
			s.rejectConn(c, h.ID, fail(proto.CodeBadRequest, "%v", err))
			if errors.Is(err, proto.ErrMagic) || errors.Is(err, proto.ErrVersion) {
				return
			}
			continue
		}
		typ, reply, rerr := s.handle(c, h.Type, body)
		if rerr != nil {
			s.rejectConn(c, h.ID, rerr)
			continue
		}
		var files []*os.File
		if cr, ok := reply.(claimedReply); ok {
			reply, files = cr.Claimed, []*os.File{cr.file}
		}
		if err := s.send(c, typ, h.ID, reply, files...); err != nil {
			c.log.Warn("send reply failed", "slot", c.slot, "err", err)
			return
		}
	}
}

func (s *Server) send(c *conn, typ proto.Type, id uint32, v any, files ...*os.File) error {
	msg, err := proto.Encode(nil, typ, id, v)
	if err != nil {
		return err
	}
	if len(msg) > s.cfg.MaxMessage {
		return fmt.Errorf("reply of %d bytes exceeds --max-message-size=%d", len(msg), s.cfg.MaxMessage)
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return shm.SendFiles(c.nc, msg, files...)
}

func (s *Server) rejectConn(c *conn, id uint32, e *reqError) {
	s.reject(e.code)
	s.mu.Lock()
	c.rejects++
	n := c.rejects
	s.mu.Unlock()
	if n <= maxLoggedRejects {
		c.log.Warn("request rejected", "slot", c.slot, "code", e.code, "reason", e.msg)
	}
	s.send(c, proto.TypeError, id, proto.Error{Code: e.code, Message: e.msg, Holder: e.holder})
}

// denyEarly rejects a peer whose uid may not connect, with an error reply.
func (s *Server) denyEarly(c *conn) {
	s.reject(proto.CodeDenied)
	s.logLimited("denied", "connection rejected", "pid", c.cred.PID, "uid", c.cred.UID, "gid", c.cred.GID)
	s.answerEarly(c, proto.CodeDenied, fmt.Sprintf(
		"uid %d (gid %d) is not allowed to connect; add it to fieldd --readers or --writers", c.cred.UID, c.cred.GID))
}

// answerEarly sends an error to a peer before its handshake. It waits
// briefly for the hello first, so the reply is not lost to a peer still
// writing it.
func (s *Server) answerEarly(c *conn, code, msg string) {
	c.nc.SetReadDeadline(time.Now().Add(deniedHoldTime))
	buf := make([]byte, 64)
	var id uint32
	if n, _, _, _, err := c.nc.ReadMsgUnix(buf, nil); err == nil {
		if h, _, err := proto.DecodeHeader(buf[:n], s.cfg.MaxMessage); err == nil {
			id = h.ID
		}
	}
	s.send(c, proto.TypeError, id, proto.Error{Code: code, Message: msg})
}

// logLimited logs a warning unless more than a few of its kind were logged
// in the last second. The next line logged counts the dropped ones.
func (s *Server) logLimited(kind, msg string, args ...any) {
	ok, dropped := s.limiter.allow(kind)
	if !ok {
		return
	}
	if dropped > 0 {
		args = append(args, "dropped_since_last", dropped)
	}
	s.log.Warn(msg, args...)
}

// handshake reads the hello, checks versions and credentials, hands out a
// slot and sends the welcome with the region fds.
func (s *Server) handshake(c *conn, buf []byte) bool {
	c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
	n, _, _, _, err := c.nc.ReadMsgUnix(buf, nil)
	if err != nil {
		s.logLimited("hello", "hello not received", "pid", c.cred.PID, "uid", c.cred.UID, "err", err)
		return false
	}
	c.nc.SetReadDeadline(time.Time{})

	h, body, err := proto.DecodeHeader(buf[:n], s.cfg.MaxMessage)
	var hello proto.Hello
	switch {
	case errors.Is(err, proto.ErrVersion):
		s.rejectConn(c, h.ID, fail(proto.CodeVersion, "%v", err))
		return false
	case err != nil:
		s.rejectConn(c, h.ID, fail(proto.CodeBadRequest, "%v", err))
		return false
	case h.Type != proto.TypeHello:
		s.rejectConn(c, h.ID, fail(proto.CodeBadRequest, "first message is %s, want hello", h.Type))
		return false
	}
	if err := proto.DecodeBody(body, &hello); err != nil {
		s.rejectConn(c, h.ID, fail(proto.CodeBadRequest, "hello: %v", err))
		return false
	}
	if hello.Proto != proto.Version || hello.Layout != region.LayoutVersion {
		s.rejectConn(c, h.ID, fail(proto.CodeVersion,
			"version mismatch: client speaks protocol %d and reads layout %d, fieldd speaks protocol %d and layout %d: upgrade the older side",
			hello.Proto, hello.Layout, proto.Version, region.LayoutVersion))
		return false
	}
	if !s.cfg.Readers.Permits(c.cred.UID, c.cred.GID) && !s.cfg.Writers.Permits(c.cred.UID, c.cred.GID) {
		s.rejectConn(c, h.ID, fail(proto.CodeDenied,
			"uid %d (gid %d) is not allowed to connect; add it to fieldd --readers or --writers", c.cred.UID, c.cred.GID))
		return false
	}
	if len(hello.Name) > 64 {
		hello.Name = hello.Name[:64]
	}
	c.name = hello.Name

	s.mu.Lock()
	slot, gen, err := s.slots.Get()
	if err != nil {
		s.mu.Unlock()
		s.rejectConn(c, h.ID, fail(proto.CodeSlotsFull,
			"all %d client slots are in use; raise fieldd --max-clients", s.cfg.Geometry.MaxSlots))
		return false
	}
	c.slot, c.gen = slot, gen
	sl, _ := s.reg.Slot(slot)
	start, _ := procStart(c.cred.PID)
	sl.Reset(region.SlotInfo{InUse: true, Generation: gen, PID: c.cred.PID, UID: c.cred.UID, Since: time.Now(), ProcStart: start})
	s.conns[c] = struct{}{}
	s.mu.Unlock()

	c.log = c.log.With("slot", slot, "name", c.name)
	w := proto.Welcome{Slot: slot, Generation: gen, DaemonPID: os.Getpid(), MaxPath: s.cfg.MaxPath, MaxMessage: s.cfg.MaxMessage}
	if err := s.send(c, proto.TypeWelcome, h.ID, w, s.files.ValuesRO, s.files.Slots); err != nil {
		c.log.Warn("send welcome failed", "err", err)
		s.disconnect(c)
		return false
	}
	c.log.Info("client connected", "generation", gen)
	return true
}

// disconnect reclaims everything the client held: its watches, its claims
// and its slot, which is wiped before the next client gets it.
func (s *Server) disconnect(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.stopping {
		c.log.Info("client still connected at shutdown, slot kept for the next daemon", "arena", c.arena)
		return
	}
	for id := range c.watches {
		s.reg.SetWatch(id, c.slot, false)
	}
	released := s.releaseLocked(c)
	s.freeSlotLocked(c.slot, c.gen)
	if c.rejects > maxLoggedRejects {
		c.log.Warn("rejected requests not logged", "count", c.rejects-maxLoggedRejects)
	}
	c.log.Info("client disconnected, slot reclaimed", "watches", len(c.watches), "released_fields", released)
}

// releaseLocked gives the client's prefixes and its arena back.
func (s *Server) releaseLocked(c *conn) int {
	if c.arena == 0 {
		return 0
	}
	n := s.freeArenaLocked(c.arena)
	c.log.Info("writer released", "arena", c.arena, "prefixes", c.prefixes, "fields", n)
	c.arena, c.prefixes = 0, nil
	return n
}

// freeArenaLocked hands every field of arena a back to the daemon and
// frees the arena. Each field is marked pending for its watchers, because
// the writer may have stored a version and died before notifying. It
// returns how many fields it released.
func (s *Server) freeArenaLocked(a int) int {
	n := 0
	for id := uint32(1); id <= s.paths.Len(); id++ {
		if s.reg.Owner(id) == a {
			s.reg.SetOwner(id, 0)
			s.reg.Raise(id)
			n++
		}
	}
	s.reg.SetArenaOwner(a, 0, 0)
	s.arenas.Put(a)
	return n
}

// freeSlotLocked adds slot i's counters to the reclaimed totals, wipes it
// and frees it. The caller has already removed it from every watcher mask.
func (s *Server) freeSlotLocked(i int, gen uint64) {
	sl, _ := s.reg.Slot(i)
	addSlotCounters(&s.retired, sl.Counters())
	sl.Reset(region.SlotInfo{Generation: gen})
	s.slots.Put(i)
}

// holderOf returns the connection whose claims cover path, if any.
func (s *Server) holderOf(path string) *conn {
	for o := range s.conns {
		for _, p := range o.prefixes {
			if proto.HasPrefix(path, p) {
				return o
			}
		}
	}
	return nil
}

func (s *Server) pidOfArena(a int) int32 {
	if a == 0 {
		return 0 // the daemon's own arena
	}
	for o := range s.conns {
		if o.arena == a {
			return o.cred.PID
		}
	}
	for _, o := range s.orphanArenas {
		if o.index == a {
			return o.pid
		}
	}
	return 0
}
