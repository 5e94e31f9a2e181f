package client

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
)

// Writer publishes fields under the path prefixes its client claimed.
// Publishing goes straight to shared memory: no message to the daemon.
// Its methods are safe for concurrent use.
type Writer struct {
	c        *Client
	mu       sync.Mutex
	reg      *region.Region // values mapped read-write
	w        *region.Writer
	prefixes []string
	closed   bool
}

// Claim takes exclusive ownership of path prefixes: every field whose path
// is a prefix or lies under one ("a/b" covers "a/b" and "a/b/c"), present
// and future. A prefix that another live writer holds is rejected with
// [CodeClaimed], naming that writer's pid. Claiming again adds prefixes
// and returns the same Writer.
func (c *Client) Claim(ctx context.Context, prefixes ...string) (*Writer, error) {
	for _, p := range prefixes {
		if err := proto.ValidatePath(p, c.welcome.MaxPath); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
	}
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	var reply proto.Claimed
	files, err := c.request(ctx, proto.TypeClaim, proto.Claim{Prefixes: prefixes}, proto.TypeClaimed, &reply)
	if err != nil {
		return nil, fmt.Errorf("claim %q: %w", prefixes, err)
	}
	defer closeFiles(files)
	if w := c.writer; w != nil && !w.isClosed() {
		w.mu.Lock()
		w.prefixes = reply.Prefixes
		w.mu.Unlock()
		return w, nil
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("claim: fieldd sent %d fds, want 1", len(files))
	}
	reg, err := region.Open(files[0], c.slots, true)
	if err != nil {
		return nil, fmt.Errorf("claim: map values read-write: %w", err)
	}
	rw, err := reg.Writer(reply.Arena)
	if err != nil {
		reg.Close()
		return nil, fmt.Errorf("claim: %w", err)
	}
	w := &Writer{c: c, reg: reg, w: rw, prefixes: reply.Prefixes}
	c.writer = w
	return w, nil
}

// Prefixes returns the prefixes the writer holds.
func (w *Writer) Prefixes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.prefixes)
}

func (w *Writer) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Publish stores value in field id and notifies its watchers. The field
// must lie under the writer's prefixes, and value must fit the daemon's
// --max-value-size. Publish allocates nothing when the value's size fits
// the storage of the field's previous value but one.
func (w *Writer) Publish(id FieldID, value []byte) error {
	return w.store(id, value, false)
}

// Retire marks field id gone: watchers get one value whose Gone reports
// true. The path keeps its ID, and a later Publish brings the field back.
func (w *Writer) Retire(id FieldID) error {
	return w.store(id, nil, true)
}

func (w *Writer) store(id FieldID, value []byte, retire bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if issued := w.reg.Issued(); id == 0 || uint32(id) > issued {
		return notIssued(id, issued)
	}
	if w.reg.Owner(uint32(id)) != w.w.Arena() {
		name := fmt.Sprint(uint32(id))
		if p, ok := w.c.paths.Load(id); ok {
			name = fmt.Sprintf("%q", p)
		}
		return fmt.Errorf("%w: field %s; this writer holds %q", ErrNotOwned, name, w.prefixes)
	}
	if max := w.reg.L.MaxValueSize; len(value) > max {
		return fmt.Errorf("%w: %d bytes, the limit is %d (fieldd --max-value-size)", ErrTooLarge, len(value), max)
	}
	if retire {
		return w.w.Retire(uint32(id))
	}
	return w.w.Publish(uint32(id), value)
}

// Close gives the writer's prefixes back to the daemon. The fields keep
// their last values.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()

	ctx, done := ctxOrTimeout()
	defer done()
	_, err := w.c.request(ctx, proto.TypeRelease, nil, proto.TypeOK, &proto.OK{})
	w.unmap()
	if err == ErrClosed {
		return nil
	}
	return err
}

func (w *Writer) unmap() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.reg != nil {
		w.reg.Close()
		w.reg = nil
	}
}
