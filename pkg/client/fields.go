package client

import (
	"context"
	"fmt"

	"github.com/fieldd/fieldd/internal/proto"
)

// batch is the most paths or IDs sent in one request.
const batch = 1024

// FieldID returns the permanent ID of path, which the daemon creates on
// first use. Paths are segments of ASCII letters, digits, '_', '-' and '.'
// separated by '/', with no empty segment, at most 256 bytes long unless
// the daemon sets another --max-path-length.
func (c *Client) FieldID(ctx context.Context, path string) (FieldID, error) {
	ids, err := c.FieldIDs(ctx, path)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// FieldIDs returns the IDs of paths, in order, creating new ones.
func (c *Client) FieldIDs(ctx context.Context, paths ...string) ([]FieldID, error) {
	out := make([]FieldID, len(paths))
	var missing []string
	var at []int
	for i, p := range paths {
		if id, ok := c.ids.Load(p); ok {
			out[i] = id.(FieldID)
			continue
		}
		if err := proto.ValidatePath(p, c.welcome.MaxPath); err != nil {
			return nil, err
		}
		missing = append(missing, p)
		at = append(at, i)
	}
	for len(missing) > 0 {
		n := min(len(missing), batch)
		var reply proto.IDs
		if _, err := c.request(ctx, proto.TypeFieldIDs, proto.FieldIDs{Paths: missing[:n], Create: true}, proto.TypeIDs, &reply); err != nil {
			return nil, err
		}
		if len(reply.IDs) != n {
			return nil, fmt.Errorf("field IDs: fieldd returned %d IDs for %d paths", len(reply.IDs), n)
		}
		for j, id := range reply.IDs {
			fid := FieldID(id)
			out[at[j]] = fid
			c.ids.Store(missing[j], fid)
			c.paths.Store(fid, missing[j])
		}
		missing, at = missing[n:], at[n:]
	}
	return out, nil
}

// FieldPath returns the path of id.
func (c *Client) FieldPath(ctx context.Context, id FieldID) (string, error) {
	if p, ok := c.paths.Load(id); ok {
		return p.(string), nil
	}
	if err := c.checkID(id); err != nil {
		return "", err
	}
	var reply proto.Paths
	if _, err := c.request(ctx, proto.TypeFieldPaths, proto.FieldPaths{IDs: []uint32{uint32(id)}}, proto.TypePaths, &reply); err != nil {
		return "", err
	}
	if len(reply.Paths) != 1 {
		return "", fmt.Errorf("field path: fieldd returned %d paths for 1 ID", len(reply.Paths))
	}
	c.paths.Store(id, reply.Paths[0])
	c.ids.Store(reply.Paths[0], id)
	return reply.Paths[0], nil
}

// checkID returns ErrClosed after Close, and an error wrapping
// ErrNotIssued for an ID the daemon never issued.
func (c *Client) checkID(id FieldID) error {
	c.regMu.RLock()
	defer c.regMu.RUnlock()
	return c.checkIDLocked(id)
}

// checkIDLocked is checkID for a caller that holds regMu.
func (c *Client) checkIDLocked(id FieldID) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if issued := c.reg.Issued(); id == 0 || uint32(id) > issued {
		return notIssued(id, issued)
	}
	return nil
}

// Read returns the newest value of field id, straight from shared memory.
// A field never written has version 0 and no bytes.
func (c *Client) Read(id FieldID) (Value, error) {
	c.regMu.RLock()
	defer c.regMu.RUnlock()
	if err := c.checkIDLocked(id); err != nil {
		return Value{}, err
	}
	data, ver, gone, err := c.reg.ReadInto(uint32(id), nil)
	if err != nil {
		return Value{}, fmt.Errorf("read field %d: %w", id, err)
	}
	if data == nil {
		data = []byte{}
	}
	return Value{id: id, version: ver, data: data, gone: gone}, nil
}

// Update requests that the daemon store value in field id. Only fields that no
// writer has claimed can be updated this way; for a claimed field the
// daemon rejects the update with [CodeOwned], naming the owner's pid, and
// the owning writer must publish the change.
func (c *Client) Update(ctx context.Context, id FieldID, value []byte) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	if max := c.reg.L.MaxValueSize; len(value) > max {
		return fmt.Errorf("%w: %d bytes, the limit is %d (fieldd --max-value-size)", ErrTooLarge, len(value), max)
	}
	_, err := c.request(ctx, proto.TypeUpdate, proto.Update{ID: uint32(id), Value: value}, proto.TypeOK, &proto.OK{})
	return err
}

// Watch calls fn with each new value of field id, on the client's
// dispatcher goroutine, at most once per frame with the newest version.
// The current value comes first when the field has one, so a change made
// just before Watch is never missed. Versions passed to one fn strictly
// increase.
//
// After cancel returns, fn is never called again, unless cancel runs
// inside fn itself, where the running call simply finishes. cancel is safe
// to call from any goroutine and more than once.
func (c *Client) Watch(id FieldID, fn func(Value)) (cancel func(), err error) {
	if fn == nil {
		return nil, fmt.Errorf("watch field %d: nil callback", id)
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := c.checkID(id); err != nil {
		return nil, err
	}
	w := &watch{id: id, fn: fn}

	c.watchMu.Lock()
	c.mu.Lock()
	first := len(c.watches[id]) == 0
	c.watches[id] = append(c.watches[id], w)
	c.mu.Unlock()
	if first {
		ctx, done := ctxOrTimeout()
		_, err := c.request(ctx, proto.TypeWatch, proto.Watch{IDs: []uint32{uint32(id)}}, proto.TypeOK, &proto.OK{})
		done()
		if err != nil {
			c.removeWatch(w)
			c.watchMu.Unlock()
			return nil, fmt.Errorf("watch field %d: %w", id, err)
		}
	}
	c.watchMu.Unlock()

	// Queue the field once so its current value is read after the daemon
	// set the watcher bit: every later publish notifies the slot, and a
	// pending bit left from an earlier watch cannot hide this one.
	c.enqueue([]uint32{uint32(id)})
	return func() { c.cancel(w) }, nil
}

func (c *Client) removeWatch(w *watch) (last bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.watches[w.id]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.watches, w.id)
		return true
	}
	c.watches[w.id] = ws
	return false
}

func (c *Client) cancel(w *watch) {
	if !w.canceled.CompareAndSwap(false, true) {
		return
	}
	c.watchMu.Lock()
	if c.removeWatch(w) && !c.closed.Load() {
		ctx, done := ctxOrTimeout()
		c.request(ctx, proto.TypeUnwatch, proto.Watch{IDs: []uint32{uint32(w.id)}}, proto.TypeOK, &proto.OK{})
		done()
	}
	c.watchMu.Unlock()
	// Wait for a call of w that may be running on the dispatcher.
	if goid() != c.dispatcher.Load() {
		c.runMu.Lock()
		c.runMu.Unlock()
	}
}
