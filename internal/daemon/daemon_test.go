package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
	"github.com/fieldd/fieldd/internal/shm"
)

// startServer runs a real daemon in this process, on a real socket and
// real region files in a temporary directory.
func startServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	dir := t.TempDir()
	g := region.DefaultGeometry()
	g.MaxFields, g.MaxSlots, g.RingSize, g.Writers, g.ArenaSize = 1024, 4, 64, 2, 1<<20
	self := uint32(os.Geteuid())
	readers, _ := ParseAllow(nil, self)
	writers, _ := ParseAllow(nil, self)
	cfg := Config{RuntimeDir: dir + "/run", StateDir: dir + "/state", Geometry: g, Readers: readers, Writers: writers}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// rawConn is a control connection that speaks the protocol by hand.
type rawConn struct {
	t  *testing.T
	nc *net.UnixConn
	id uint32
}

func dialRaw(t *testing.T, s *Server) *rawConn {
	t.Helper()
	nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.SocketPath(), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc}
}

func (c *rawConn) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) send(typ proto.Type, v any) uint32 {
	c.t.Helper()
	c.id++
	msg, err := proto.Encode(nil, typ, c.id, v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(msg)
	return c.id
}

// recv returns the next reply's header, body and fds; a closed connection
// returns an error.
func (c *rawConn) recv() (proto.Header, []byte, []*os.File, error) {
	buf := make([]byte, proto.DefaultMaxMessage+1)
	n, files, err := shm.RecvFiles(c.nc, buf)
	if err != nil {
		return proto.Header{}, nil, nil, err
	}
	h, body, err := proto.DecodeHeader(buf[:n], len(buf))
	return h, body, files, err
}

func (c *rawConn) hello() proto.Welcome {
	c.t.Helper()
	c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion, Name: "raw"})
	h, body, files, err := c.recv()
	if err != nil || h.Type != proto.TypeWelcome {
		c.t.Fatalf("hello: %v %s %s", err, h.Type, body)
	}
	for _, f := range files {
		f.Close()
	}
	var w proto.Welcome
	proto.DecodeBody(body, &w)
	return w
}

// expectError reads one reply and checks it is an error with code whose
// message contains every want.
func (c *rawConn) expectError(code string, want ...string) {
	c.t.Helper()
	h, body, files, err := c.recv()
	if err != nil {
		c.t.Fatalf("want %s error reply, got %v", code, err)
	}
	if len(files) != 0 {
		c.t.Errorf("error reply carried %d fds", len(files))
	}
	var e proto.Error
	if h.Type != proto.TypeError || proto.DecodeBody(body, &e) != nil {
		c.t.Fatalf("want %s error reply, got %s %s", code, h.Type, body)
	}
	if e.Code != code {
		c.t.Errorf("error code %q, want %q (%s)", e.Code, code, e.Message)
	}
	for _, w := range want {
		if !strings.Contains(e.Message, w) {
			c.t.Errorf("error %q lacks %q", e.Message, w)
		}
	}
}

func TestVersionSkewRejectedWithoutFds(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion + 1})
	c.expectError(proto.CodeVersion, "layout 2", "layout 1", "upgrade")

	c2 := dialRaw(t, s)
	c2.sendRaw([]byte{'F', 'd', proto.Version + 1, byte(proto.TypeHello), 1, 0, 0, 0})
	c2.expectError(proto.CodeVersion, "2", "1")

	if st := s.Stats(); len(st.Slots) != 0 || st.RejectedBy[proto.CodeVersion] != 2 {
		t.Fatalf("slots %d, version rejections %d; want 0 and 2", len(st.Slots), st.RejectedBy[proto.CodeVersion])
	}
}

func TestMalformedMessagesHurtOnlySender(t *testing.T) {
	s := startServer(t, nil)
	good := dialRaw(t, s)
	good.hello()
	good.send(proto.TypeFieldIDs, proto.FieldIDs{Paths: []string{"ok/a"}, Create: true})
	if h, _, _, err := good.recv(); err != nil || h.Type != proto.TypeIDs {
		t.Fatalf("field IDs: %v %s", err, h.Type)
	}

	bad := dialRaw(t, s)
	bad.hello()
	cases := []struct {
		name string
		msg  []byte
		code string
	}{
		{"truncated", []byte{'F', 'd', proto.Version}, proto.CodeBadRequest},
		{"unknown type", []byte{'F', 'd', proto.Version, 99, 5, 0, 0, 0}, proto.CodeBadRequest},
		{"reply type", []byte{'F', 'd', proto.Version, byte(proto.TypeOK), 6, 0, 0, 0}, proto.CodeBadRequest},
		{"bad json", append([]byte{'F', 'd', proto.Version, byte(proto.TypeWatch), 7, 0, 0, 0}, "{"...), proto.CodeBadRequest},
		{"oversized", make([]byte, proto.DefaultMaxMessage+100), proto.CodeBadRequest},
	}
	for _, tc := range cases {
		if tc.name == "oversized" {
			copy(tc.msg, []byte{'F', 'd', proto.Version, byte(proto.TypeStats)})
		}
		bad.sendRaw(tc.msg)
		bad.expectError(tc.code)
	}
	for _, p := range []string{"a\x00b", "a/\xff", "a//b", ""} {
		bad.send(proto.TypeFieldIDs, proto.FieldIDs{Paths: []string{p}, Create: true})
		bad.expectError(proto.CodeBadRequest, "invalid field path")
	}
	bad.send(proto.TypeWatch, proto.Watch{IDs: []uint32{5000}})
	bad.expectError(proto.CodeNotFound, "5000", "never issued")

	// A flood of requests from one peer is served in order, one at a time.
	flood, _ := proto.Encode(nil, proto.TypeWatch, 0, proto.Watch{IDs: []uint32{0}})
	sent := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 2000 && err == nil; i++ {
			_, err = bad.nc.Write(flood)
		}
		sent <- err
	}()
	for range 2000 {
		bad.expectError(proto.CodeNotFound)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}

	// The well-behaved client is unaffected.
	good.send(proto.TypeFieldIDs, proto.FieldIDs{Paths: []string{"ok/a"}})
	h, body, _, err := good.recv()
	var ids proto.IDs
	if err != nil || h.Type != proto.TypeIDs || proto.DecodeBody(body, &ids) != nil || ids.IDs[0] != 1 {
		t.Fatalf("good client after the flood: %v %s %s", err, h.Type, body)
	}
	if n := s.Stats().RejectedBy[proto.CodeBadRequest]; n < uint64(len(cases)+4) {
		t.Errorf("bad-request rejections counted %d, want at least %d", n, len(cases)+4)
	}
}

func TestSlotsFullNamesFlag(t *testing.T) {
	s := startServer(t, nil)
	for range 4 {
		dialRaw(t, s).hello()
	}
	fifth := dialRaw(t, s)
	fifth.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
	fifth.expectError(proto.CodeSlotsFull, "--max-clients", "4")
	if n := len(s.Stats().Slots); n != 4 {
		t.Fatalf("%d slots in use, want 4", n)
	}
}

func TestReaderGetsReadOnlyValues(t *testing.T) {
	s := startServer(t, nil)
	c := dialRaw(t, s)
	c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
	h, _, files, err := c.recv()
	if err != nil || h.Type != proto.TypeWelcome || len(files) != 2 {
		t.Fatalf("welcome: %v %s %d fds", err, h.Type, len(files))
	}
	defer files[0].Close()
	defer files[1].Close()
	if m, err := shm.Map(files[0], true); err == nil {
		m.Close()
		t.Fatal("values fd of a reader maps read-write")
	}
	m, err := shm.Map(files[0], false)
	if err != nil {
		t.Fatalf("values fd does not map read-only: %v", err)
	}
	m.Close()
}

func TestUpdateOwnedFieldNamesWriter(t *testing.T) {
	s := startServer(t, nil)
	w := dialRaw(t, s)
	w.hello()
	w.send(proto.TypeClaim, proto.Claim{Prefixes: []string{"doc"}})
	h, _, files, err := w.recv()
	if err != nil || h.Type != proto.TypeClaimed || len(files) != 1 {
		t.Fatalf("claim: %v %s %d fds", err, h.Type, len(files))
	}
	files[0].Close()
	w.send(proto.TypeFieldIDs, proto.FieldIDs{Paths: []string{"doc/x"}, Create: true})
	w.recv()

	r := dialRaw(t, s)
	r.hello()
	r.send(proto.TypeUpdate, proto.Update{ID: 1, Value: []byte("v")})
	r.expectError(proto.CodeOwned, "doc/x", "pid "+itoa(os.Getpid()))
	r.send(proto.TypeClaim, proto.Claim{Prefixes: []string{"doc/x/y"}})
	r.expectError(proto.CodeClaimed, "doc", "pid "+itoa(os.Getpid()))
	r.send(proto.TypeUpdate, proto.Update{ID: 1, Value: make([]byte, 70000)})
	r.expectError(proto.CodeLimit, "--max-value-size")
}

func TestDeniedUIDGetsNoSlot(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Readers = Allow{UIDs: map[uint32]bool{12345: true}, GIDs: map[uint32]bool{}}
		c.Writers = c.Readers
	})
	if os.Geteuid() == 0 {
		t.Skip("root is always allowed; TestOtherUIDRejected covers rejection as root")
	}
	c := dialRaw(t, s)
	c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
	c.expectError(proto.CodeDenied, "--readers")
}

func TestParseAllow(t *testing.T) {
	a, err := ParseAllow([]string{"1000,1001", "root", "group:root"}, 42)
	if err != nil {
		t.Fatal(err)
	}
	for _, uid := range []uint32{42, 1000, 1001, 0} {
		if !a.UIDs[uid] {
			t.Errorf("uid %d not allowed", uid)
		}
	}
	if !a.Permits(777, 0) {
		t.Error("gid 0 (group root) not permitted")
	}
	if a.Permits(777, 777) {
		t.Error("uid 777 gid 777 permitted")
	}
	if _, err := ParseAllow([]string{"no-such-name-xyz"}, 1); err == nil {
		t.Error("unknown name accepted")
	}
}

func TestStaleSocketReplacedAndLockHeld(t *testing.T) {
	s := startServer(t, nil)
	_, err := New(s.cfg)
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), itoa(os.Getpid())) {
		t.Fatalf("second New = %v, want ErrRunning naming pid %d", err, os.Getpid())
	}
	if _, err := os.Stat(filepath.Join(s.cfg.RuntimeDir, proto.SocketName)); err != nil {
		t.Fatalf("first daemon's socket is gone: %v", err)
	}
}

func TestSilentPeersCannotBlockClients(t *testing.T) {
	s := startServer(t, nil)
	// Peers that connect and never send a hello use up their uid's
	// handshake tokens; the daemon sends the ones beyond an error or closes them within
	// about deniedHoldTime instead of held for helloTimeout.
	var silent []*net.UnixConn
	for range DefaultMaxHandshakesPerUID + 40 {
		nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.SocketPath(), Net: "unixpacket"})
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, nc)
	}
	early := time.Now().Add(deniedHoldTime + time.Second) // well before helloTimeout
	results := make(chan bool, len(silent))
	for _, nc := range silent {
		go func() {
			nc.SetReadDeadline(early)
			_, err := nc.Read(make([]byte, 512))
			results <- !errors.Is(err, os.ErrDeadlineExceeded)
		}()
	}
	released := 0
	for range silent {
		if <-results {
			released++
		}
	}
	if released != 40 {
		t.Errorf("%d of %d silent peers were released early, want the 40 beyond %d per uid",
			released, len(silent), DefaultMaxHandshakesPerUID)
	}
	for _, nc := range silent {
		nc.Close()
	}

	// Once they are gone, a client connects.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, s)
		c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
		h, _, files, err := c.recv()
		for _, f := range files {
			f.Close()
		}
		if err == nil && h.Type == proto.TypeWelcome {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client not welcomed after the silent peers left: %v %s", err, h.Type)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHandshakeLimitAnswersWithReason(t *testing.T) {
	s := startServer(t, nil)
	var held []*net.UnixConn
	for range DefaultMaxHandshakesPerUID {
		nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.SocketPath(), Net: "unixpacket"})
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, nc)
	}
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	// Wait until the daemon holds all of them in their handshake.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.hsMu.Lock()
		n := s.hsTotal
		s.hsMu.Unlock()
		if n == DefaultMaxHandshakesPerUID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes in progress, want %d", n, DefaultMaxHandshakesPerUID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := dialRaw(t, s)
	c.send(proto.TypeHello, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
	c.expectError(proto.CodeLimit, "handshake", "retry", "--max-handshakes-per-uid")
}

func TestLogLimiterDropsRepeats(t *testing.T) {
	l := newLogLimiter(2)
	got := 0
	for range 10 {
		if ok, _ := l.allow("k"); ok {
			got++
		}
	}
	if got != 2 {
		t.Errorf("allowed %d of 10 lines in one second, want 2", got)
	}
	if ok, _ := l.allow("other"); !ok {
		t.Error("a different kind was limited")
	}
}

func TestBurstOfClientsAllAnswered(t *testing.T) {
	s := startServer(t, nil) // 4 slots
	const n = 200
	codes := make(chan string, n)
	for range n {
		go func() {
			nc, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.SocketPath(), Net: "unixpacket"})
			if err != nil {
				codes <- "dial: " + err.Error()
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			msg, _ := proto.Encode(nil, proto.TypeHello, 1, proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion})
			nc.Write(msg)
			buf := make([]byte, 4096)
			m, files, err := shm.RecvFiles(nc, buf)
			for _, f := range files {
				f.Close()
			}
			if err != nil {
				codes <- "no answer: " + err.Error()
				return
			}
			h, body, _ := proto.DecodeHeader(buf[:m], len(buf))
			if h.Type == proto.TypeWelcome {
				codes <- "welcome"
				// Hold the slot until every client has its reply.
				time.Sleep(2 * time.Second)
				return
			}
			var e proto.Error
			proto.DecodeBody(body, &e)
			codes <- e.Code
		}()
	}
	got := map[string]int{}
	for range n {
		got[<-codes]++
	}
	if got["welcome"] != 4 {
		t.Errorf("%d clients welcomed, want the 4 slots: %v", got["welcome"], got)
	}
	if got["welcome"]+got[proto.CodeSlotsFull]+got[proto.CodeLimit] != n {
		t.Errorf("not every client got a welcome or a clear error: %v", got)
	}
}

func TestStatsTotalsIncludeReclaimedSlots(t *testing.T) {
	s := startServer(t, nil)
	gone := dialRaw(t, s)
	w := gone.hello()
	sl, _ := s.reg.Slot(w.Slot)
	sl.Count(region.CtrFrames, 5)
	gone.nc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Reclaimed.Frames != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("reclaimed frames = %d, want 5", s.Stats().Reclaimed.Frames)
		}
		time.Sleep(5 * time.Millisecond)
	}

	live := dialRaw(t, s)
	w = live.hello()
	sl, _ = s.reg.Slot(w.Slot)
	sl.Count(region.CtrFrames, 3)
	st := s.Stats()
	if st.Totals.Frames != 8 {
		t.Errorf("total frames = %d, want 5 reclaimed + 3 live", st.Totals.Frames)
	}
	if len(st.Slots) != 1 || st.Slots[0].Frames != 3 {
		t.Errorf("live slots = %+v, want one with 3 frames", st.Slots)
	}
}
