package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/fieldd/fieldd/internal/region"
)

// dispatchLoop runs frames while fields are queued and blocks, with no
// timer running, while none are.
func (c *Client) dispatchLoop() {
	defer close(c.dispDone)
	c.dispatcher.Store(goid())
	var scratch []byte
	var next time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-c.work:
		case <-c.done:
			return
		}
		for {
			if c.opts.FrameInterval > 0 {
				if wait := time.Until(next); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-c.done:
						return
					}
				}
				next = time.Now().Add(c.opts.FrameInterval)
			}
			var more bool
			scratch, more = c.frame(scratch)
			if !more || c.closed.Load() {
				break
			}
		}
	}
}

// frame delivers queued fields in queue order until the queue is empty or
// the frame's budget is spent, and reports whether fields are left. The
// queue is the resume cursor: what a frame leaves is at the front of the
// next one, so no field starves.
func (c *Client) frame(scratch []byte) ([]byte, bool) {
	slot := c.rd.Slot()
	slot.Count(region.CtrFrames, 1)
	deadline := time.Now().Add(c.opts.FrameBudget)
	for !c.closed.Load() {
		id, ok := c.pop()
		if !ok {
			return scratch, false
		}
		scratch = c.deliver(FieldID(id), scratch)
		if time.Now().After(deadline) {
			c.mu.Lock()
			left := c.queue.len()
			c.mu.Unlock()
			if left > 0 {
				slot.Count(region.CtrOverruns, 1)
				return scratch, true
			}
		}
	}
	return scratch, false
}

// deliver reads field id's newest value and calls each of its callbacks
// that has not seen that version.
func (c *Client) deliver(id FieldID, scratch []byte) []byte {
	data, ver, gone, err := c.rd.Take(uint32(id), scratch[:0])
	scratch = data
	if errors.Is(err, region.ErrContended) {
		c.enqueue([]uint32{uint32(id)})
		return scratch
	}
	if err != nil || ver == 0 {
		return scratch
	}

	c.mu.Lock()
	ws := c.watches[id]
	var due []*watch
	for _, w := range ws {
		if ver > w.last {
			due = append(due, w)
		}
	}
	c.mu.Unlock()
	if len(due) == 0 {
		if len(ws) > 0 {
			c.stale.Add(1)
		}
		return scratch
	}

	v := Value{id: id, version: ver, data: bytes.Clone(data), gone: gone}
	if v.data == nil {
		v.data = []byte{}
	}
	for _, w := range due {
		c.runMu.Lock()
		if !w.canceled.Load() && ver > w.last {
			w.last = ver
			c.call(w, v)
		}
		c.runMu.Unlock()
	}
	return scratch
}

// call runs one callback and recovers a panic, which it counts and logs
// with the field's path.
func (c *Client) call(w *watch, v Value) {
	slot := c.rd.Slot()
	defer func() {
		if p := recover(); p != nil {
			slot.Count(region.CtrPanics, 1)
			path := strconv.Itoa(int(w.id))
			if s, ok := c.paths.Load(w.id); ok {
				path = s.(string)
			} else if !c.closed.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				if s, err := c.FieldPath(ctx, w.id); err == nil {
					path = s
				}
				cancel()
			}
			c.opts.Logger.Error("fieldd callback panicked", "path", path, "id", uint32(w.id),
				"version", v.version, "panic", fmt.Sprint(p))
		}
	}()
	slot.Count(region.CtrCallbacks, 1)
	w.fn(v)
}

// goid returns the current goroutine's ID, parsed from its stack header.
// Close and cancel functions use it to detect that they run on the dispatcher,
// inside a callback, where waiting for callbacks to return would deadlock.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}
