package daemon

import (
	"sync"
	"time"
)

// Limits on peers that have connected but not finished the handshake, so
// that a local user cannot exhaust the daemon's descriptors.
const (
	DefaultMaxHandshakes       = 256             // handshakes in progress at once
	DefaultMaxHandshakesPerUID = 64              // of those, from one uid
	maxDenials                 = 16              // peers sent an error before the handshake at once; more are closed without one
	helloTimeout               = 5 * time.Second // time a peer has to send its hello
	deniedHoldTime             = time.Second     // time a denied peer has to send its hello before the reply
)

// logLimiter allows a few log lines per key each second and counts the
// rest, so a flood of one kind of event cannot flood the log.
type logLimiter struct {
	mu      sync.Mutex
	window  time.Time
	counts  map[string]int
	perSec  int
	dropped map[string]int
}

func newLogLimiter(perSec int) *logLimiter {
	return &logLimiter{counts: map[string]int{}, dropped: map[string]int{}, perSec: perSec}
}

// allow reports whether a line of kind key may be logged now, and how many
// lines of that kind were dropped in the previous window.
func (l *logLimiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.window = now
		clear(l.counts)
	}
	l.counts[key]++
	if l.counts[key] > l.perSec {
		l.dropped[key]++
		return false, 0
	}
	n := l.dropped[key]
	delete(l.dropped, key)
	return true, n
}

// startHandshake takes a handshake token for uid, and reports false when
// the daemon or that uid has too many handshakes in progress.
func (s *Server) startHandshake(uid uint32) bool {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	if s.hsTotal >= s.cfg.MaxHandshakes || s.hsByUID[uid] >= s.cfg.MaxHandshakesPerUID {
		return false
	}
	s.hsTotal++
	s.hsByUID[uid]++
	return true
}

// endHandshake returns the token startHandshake took.
func (s *Server) endHandshake(uid uint32) {
	s.hsMu.Lock()
	defer s.hsMu.Unlock()
	s.hsTotal--
	if s.hsByUID[uid]--; s.hsByUID[uid] <= 0 {
		delete(s.hsByUID, uid)
	}
}
