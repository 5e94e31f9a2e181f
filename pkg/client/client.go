// Package client is the library Go programs link to watch and write
// fieldd fields.
//
// A [Client] holds one slot of the shared region. Its drainer goroutine
// moves notifications from the slot's ring into a local queue at a fixed
// rate while they arrive, and parks on the slot's futex once the ring
// stays empty, so an idle client makes no wake-ups. Its dispatcher
// goroutine runs one frame per FrameInterval. A frame takes queued fields
// in order, reads their newest values straight from shared memory and
// calls their callbacks, at most once per field. When the frame's time
// budget runs out, the next frame resumes where it stopped.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
)

// Defaults of [Options].
const (
	DefaultDrainInterval = 4 * time.Millisecond
	DefaultFrameInterval = time.Second / 60
	DefaultFrameBudget   = 4 * time.Millisecond

	// idleDrains is how many drains in a row must find the ring empty
	// before the drainer parks on the futex.
	idleDrains = 3
	// requestTimeout bounds requests made without a context.
	requestTimeout = 10 * time.Second
)

// Options configure a Client. The zero value of every field is its
// default.
type Options struct {
	// RuntimeDir is the daemon's runtime directory; empty means the
	// default (/run/fieldd for root, $XDG_RUNTIME_DIR/fieldd otherwise).
	RuntimeDir string
	// Name identifies the client in the daemon's logs and statistics.
	Name string
	// FrameInterval is the period of the dispatch frame: 1/60 s when zero;
	// negative dispatches right after each drain.
	FrameInterval time.Duration
	// DrainInterval is the drain period while notifications arrive: 4 ms
	// when zero; negative drains on every futex wake-up, for the lowest
	// latency.
	DrainInterval time.Duration
	// FrameBudget is the time one frame may spend in callbacks before the
	// rest waits for the next frame: 4 ms when zero.
	FrameBudget time.Duration
	// Logger receives recovered callback panics; nil discards them.
	Logger *slog.Logger
}

// Client is a connection to fieldd and one slot of its region. Its methods
// are safe for concurrent use.
type Client struct {
	opts    Options
	conn    *net.UnixConn
	welcome proto.Welcome
	slots   *os.File // kept to map the region again for a Writer
	reg     *region.Region
	rd      *region.Reader

	reqMu  sync.Mutex // one request in flight on conn
	nextID uint32
	rbuf   []byte

	watchMu sync.Mutex // orders watch and unwatch requests per field
	mu      sync.Mutex // guards watches, queue and queued
	watches map[FieldID][]*watch
	queue   fifo
	queued  []uint64 // bitset: IDs in queue
	work    chan struct{}

	runMu       sync.Mutex    // held while a callback runs
	dispatcher  atomic.Uint64 // goroutine ID of the dispatcher
	closed      atomic.Bool
	done        chan struct{}
	closeOnce   sync.Once
	drainerDone chan struct{}
	dispDone    chan struct{}

	paths  sync.Map // FieldID -> string
	ids    sync.Map // string -> FieldID
	writer *Writer  // guarded by watchMu
	stale  atomic.Uint64

	// regMu keeps the region mapped while a method reads it. Methods that
	// read the region outside the drainer and the dispatcher hold it for
	// reading, and release holds it for writing while it unmaps.
	regMu    sync.RWMutex
	unmapped bool  // guarded by regMu
	final    Stats // the counters at unmapping; guarded by regMu
}

type watch struct {
	id       FieldID
	fn       func(Value)
	last     uint64 // newest version delivered; dispatcher only
	canceled atomic.Bool
}

// Dial connects to the daemon, receives a slot and maps the region.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.RuntimeDir == "" {
		opts.RuntimeDir = proto.DefaultRuntimeDir()
	}
	if opts.Name == "" {
		opts.Name = filepath.Base(os.Args[0])
	}
	if opts.FrameInterval == 0 {
		opts.FrameInterval = DefaultFrameInterval
	}
	if opts.DrainInterval == 0 {
		opts.DrainInterval = DefaultDrainInterval
	}
	if opts.FrameBudget <= 0 {
		opts.FrameBudget = DefaultFrameBudget
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	// A daemon with too many handshakes in progress replies CodeLimit.
	// That passes within milliseconds, so Dial retries it with backoff.
	for attempt := 0; ; attempt++ {
		c, err := dial(ctx, opts)
		var e *Error
		if attempt >= 6 || !errors.As(err, &e) || e.Code != CodeLimit || !strings.Contains(e.Message, "handshake") {
			return c, err
		}
		select {
		case <-time.After(10 * time.Millisecond << attempt):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// dial makes one connection attempt for Dial.
func dial(ctx context.Context, opts Options) (_ *Client, err error) {
	sock := filepath.Join(opts.RuntimeDir, proto.SocketName)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", sock)
	if err != nil {
		return nil, fmt.Errorf("connect to fieldd at %s: %w (is fieldd running with --runtime-dir %s?)", sock, err, opts.RuntimeDir)
	}
	c := &Client{
		opts:        opts,
		conn:        nc.(*net.UnixConn),
		rbuf:        make([]byte, proto.DefaultMaxMessage+1),
		watches:     make(map[FieldID][]*watch),
		work:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		drainerDone: make(chan struct{}),
		dispDone:    make(chan struct{}),
	}
	defer func() {
		if err != nil {
			c.conn.Close()
			if c.reg != nil {
				c.reg.Close()
			}
			if c.slots != nil {
				c.slots.Close()
			}
		}
	}()

	hello := proto.Hello{Proto: proto.Version, Layout: region.LayoutVersion, Name: opts.Name}
	files, err := c.request(ctx, proto.TypeHello, hello, proto.TypeWelcome, &c.welcome)
	if err != nil {
		return nil, fmt.Errorf("connect to fieldd: %w", err)
	}
	if len(files) != 2 {
		closeFiles(files)
		return nil, fmt.Errorf("connect to fieldd: welcome carried %d fds, want 2", len(files))
	}
	c.slots = files[1]
	c.reg, err = region.Open(files[0], files[1], false)
	files[0].Close()
	if err != nil {
		return nil, fmt.Errorf("map fieldd region: %w", err)
	}
	if len(c.rbuf) < c.welcome.MaxMessage+1 {
		c.rbuf = make([]byte, c.welcome.MaxMessage+1)
	}
	if c.rd, err = c.reg.Reader(c.welcome.Slot); err != nil {
		return nil, err
	}
	c.queued = make([]uint64, c.reg.L.MaxFields/64)

	go c.drainLoop()
	go c.dispatchLoop()
	return c, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// Slot returns the index of the client's slot in the region.
func (c *Client) Slot() int { return c.welcome.Slot }

// Close disconnects from the daemon, which reclaims the slot, and unmaps
// the region. It is safe to call from a callback and more than once.
// Called outside a callback, it returns after every callback has returned;
// from inside one, the unmapping waits for that callback in the
// background.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.done)
		c.rd.Unpark()
		<-c.drainerDone
		if goid() == c.dispatcher.Load() {
			go func() {
				<-c.dispDone
				c.release()
			}()
			return
		}
		<-c.dispDone
		c.release()
	})
	return nil
}

func (c *Client) release() {
	c.watchMu.Lock()
	w := c.writer
	c.watchMu.Unlock()
	if w != nil {
		w.unmap()
	}
	// The daemon wipes the slot's counters once the connection closes, so
	// they are copied first.
	final := c.Stats()
	c.conn.Close()

	c.regMu.Lock()
	c.final, c.unmapped = final, true
	c.reg.Close()
	c.slots.Close()
	c.regMu.Unlock()
}

// drainLoop moves notifications from the slot into the local queue.
func (c *Client) drainLoop() {
	defer close(c.drainerDone)
	ids := make([]uint32, 0, c.reg.L.RingSize)
	idle := 0
	for !c.closed.Load() {
		ids = c.rd.Drain(ids[:0], c.reg.L.RingSize)
		if len(ids) > 0 {
			c.enqueue(ids)
			idle = 0
		} else {
			idle++
		}
		if c.opts.DrainInterval < 0 || idle >= idleDrains {
			c.rd.Park(0, c.closed.Load)
			idle = 0
			continue
		}
		time.Sleep(c.opts.DrainInterval)
	}
}

// enqueue adds IDs that are not queued yet to the local queue and
// signals the dispatcher.
func (c *Client) enqueue(ids []uint32) {
	c.mu.Lock()
	for _, id := range ids {
		w, bit := id/64, uint64(1)<<(id%64)
		if int(w) >= len(c.queued) || c.queued[w]&bit != 0 {
			continue
		}
		c.queued[w] |= bit
		c.queue.push(id)
	}
	c.mu.Unlock()
	select {
	case c.work <- struct{}{}:
	default:
	}
}

func (c *Client) pop() (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.queue.pop()
	if ok {
		c.queued[id/64] &^= 1 << (id % 64)
	}
	return id, ok
}

// Stats is a snapshot of a client's counters.
type Stats struct {
	Slot       int
	Generation uint64
	Watches    int    // fields with at least one callback
	Queued     int    // fields waiting for the next frame
	Drains     uint64 // drains that found notifications
	Drained    uint64 // notifications taken from the slot
	Rebuilds   uint64 // ring overflows recovered by a bitmap scan
	Overflows  uint64 // ring overflows raised by writers
	Frames     uint64 // dispatch frames
	Callbacks  uint64 // callbacks called
	Overruns   uint64 // frames that hit their time budget with work left
	Panics     uint64 // callbacks that panicked
	BadIDs     uint64 // out-of-range IDs dropped from the slot
	Parks      uint64 // futex waits
	Wakes      uint64 // futex wakes made by writers
	Stale      uint64 // queued fields with no newer version to deliver
}

// Stats returns the client's counters. After Close it returns them as
// they were when the region was unmapped.
func (c *Client) Stats() Stats {
	c.regMu.RLock()
	defer c.regMu.RUnlock()
	if c.unmapped {
		return c.final
	}
	k := c.rd.Slot().Counters()
	c.mu.Lock()
	st := Stats{Slot: c.welcome.Slot, Generation: c.welcome.Generation, Watches: len(c.watches), Queued: c.queue.len()}
	c.mu.Unlock()
	st.Drains = k.Owner[region.CtrDrains]
	st.Drained = k.Owner[region.CtrDrained]
	st.Rebuilds = k.Owner[region.CtrRebuilds]
	st.Overflows = k.Overflows
	st.Frames = k.Owner[region.CtrFrames]
	st.Callbacks = k.Owner[region.CtrCallbacks]
	st.Overruns = k.Owner[region.CtrOverruns]
	st.Panics = k.Owner[region.CtrPanics]
	st.BadIDs = k.Owner[region.CtrBadIDs]
	st.Parks = k.Owner[region.CtrParks]
	st.Wakes = k.Wakes
	st.Stale = c.stale.Load()
	return st
}
