package client

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldd/fieldd/internal/proto"
)

// DaemonStats is a snapshot of the daemon: its limits, every slot in use
// and every writer arena that is held or was ever published to. The JSON
// names are the ones fieldctl prints.
type DaemonStats struct {
	PID          int           `json:"daemon_pid"`
	Started      time.Time     `json:"started"`
	RuntimeDir   string        `json:"runtime_dir"`
	StateDir     string        `json:"state_dir"`
	Fields       int           `json:"fields"` // field IDs issued so far
	MaxFields    int           `json:"max_fields"`
	MaxClients   int           `json:"max_clients"`
	RingSize     int           `json:"ring_size"`
	MaxValueSize int           `json:"max_value_size"`
	MaxWriters   int           `json:"max_writers"`
	ArenaSize    int64         `json:"arena_size"`
	Slots        []SlotStats   `json:"slots"`    // by slot index
	Writers      []WriterStats `json:"writers"`  // by arena index; arena 0 is the daemon's
	Rejected     uint64        `json:"rejected"` // requests the daemon rejected since it started
	// Reclaimed sums the counters of the slots of clients that have left,
	// so totals over Slots and Reclaimed cover every client since start.
	Reclaimed SlotStats `json:"reclaimed"`
	// SlotTotals sums the counters of every slot since the daemon
	// started: Reclaimed plus the slots in use.
	SlotTotals SlotStats `json:"slot_totals"`
	// Handshakes counts connections that have not finished their
	// handshake, this one's request excluded.
	Handshakes int `json:"handshakes"`
}

// SlotStats describes one slot in use and the counters its owner and the
// writers keep in it.
type SlotStats struct {
	Slot       int       `json:"slot"`
	Generation uint64    `json:"generation"`
	PID        int       `json:"pid"`
	UID        uint32    `json:"uid"`
	Name       string    `json:"name"`
	Since      time.Time `json:"since"`
	Watches    int       `json:"watches"`  // fields the slot watches
	Prefixes   []string  `json:"prefixes"` // prefixes the client claimed
	Pending    int       `json:"pending"`  // pending bits set at the snapshot
	Overflows  uint64    `json:"overflows"`
	Wakes      uint64    `json:"wakes"`
	Drains     uint64    `json:"drains"`
	Drained    uint64    `json:"drained"` // notifications taken from the slot
	Rebuilds   uint64    `json:"rebuilds"`
	Frames     uint64    `json:"frames"`
	Callbacks  uint64    `json:"callbacks"`
	Overruns   uint64    `json:"overruns"`
	Panics     uint64    `json:"panics"`
	BadIDs     uint64    `json:"bad_ids"`
	Parks      uint64    `json:"parks"`
	// Orphan marks a slot whose process connected to an earlier daemon
	// and still runs without a connection; its watches keep working.
	Orphan bool `json:"orphan,omitempty"`
}

// WriterStats describes one value arena. PID is 0 when no writer holds
// the arena; its counters then stay from the writers that held it before.
type WriterStats struct {
	Arena      int    `json:"arena"`
	PID        int    `json:"pid"`
	Publishes  uint64 `json:"publishes"`
	Coalesced  uint64 `json:"coalesced"` // notifications skipped because the field was already pending
	Notified   uint64 `json:"notified"`  // notifications put in a slot's ring
	ArenaFull  uint64 `json:"arena_full"`
	BytesUsed  int64  `json:"bytes_used"`
	BytesTotal int64  `json:"bytes_total"`
}

// FieldInfo describes one field as the daemon lists it.
type FieldInfo struct {
	ID       FieldID `json:"id"`
	Path     string  `json:"path"`
	Version  uint64  `json:"version"`
	OwnerPID int     `json:"owner_pid"` // 0 when the daemon owns the field
	Watchers int     `json:"watchers"`  // slots that watch the field
}

// DaemonStats returns a snapshot of the daemon's state and counters. The
// calling client's own slot is among the slots.
func (c *Client) DaemonStats(ctx context.Context) (DaemonStats, error) {
	var r proto.StatsReply
	if _, err := c.request(ctx, proto.TypeStats, proto.Stats{}, proto.TypeStatsReply, &r); err != nil {
		return DaemonStats{}, err
	}

	st := DaemonStats{
		PID: r.DaemonPID, Started: time.Unix(r.Started, 0), RuntimeDir: r.RuntimeDir, StateDir: r.StateDir,
		Fields: r.Fields, MaxFields: r.MaxFields, MaxClients: r.MaxClients, RingSize: r.RingSize,
		MaxValueSize: r.MaxValue, MaxWriters: r.MaxWriters, ArenaSize: r.ArenaSize, Rejected: r.Rejected,
		Slots:   make([]SlotStats, 0, len(r.Slots)),
		Writers: make([]WriterStats, 0, len(r.Writers)),
	}
	for _, s := range r.Slots {
		st.Slots = append(st.Slots, slotStats(s))
	}
	st.Reclaimed = slotStats(r.Reclaimed)
	st.SlotTotals = slotStats(r.Totals)
	st.Handshakes = r.Handshakes
	for _, w := range r.Writers {
		st.Writers = append(st.Writers, WriterStats{
			Arena: w.Arena, PID: int(w.PID), Publishes: w.Publishes, Coalesced: w.Coalesced,
			Notified: w.Notified, ArenaFull: w.ArenaFull, BytesUsed: w.BytesUsed, BytesTotal: w.BytesCap,
		})
	}
	return st, nil
}

func slotStats(s proto.SlotStats) SlotStats {
	return SlotStats{
		Slot: s.Slot, Generation: s.Generation, PID: int(s.PID), UID: s.UID, Name: s.Name,
		Since: time.Unix(s.Since, 0), Watches: s.Watches, Prefixes: append([]string{}, s.Prefixes...),
		Pending: s.Pending, Overflows: s.Overflows, Wakes: s.Wakes, Drains: s.Drains,
		Drained: s.Drained, Rebuilds: s.Rebuilds, Frames: s.Frames, Callbacks: s.Callbacks,
		Overruns: s.Overruns, Panics: s.Panics, BadIDs: s.BadIDs, Parks: s.Parks, Orphan: s.Orphan,
	}
}

// ListFields returns every field whose path is prefix or lies under it
// ("a/b" covers "a/b" and "a/b/c"), or every field when prefix is empty,
// in ID order. It pages through the daemon's listing, so a field created
// while it runs may or may not be included.
func (c *Client) ListFields(ctx context.Context, prefix string) ([]FieldInfo, error) {
	if prefix != "" {
		if err := proto.ValidatePath(prefix, c.welcome.MaxPath); err != nil {
			return nil, err
		}
	}
	var out []FieldInfo
	var after uint32
	for {
		var page proto.ListReply
		req := proto.List{Prefix: prefix, After: after}
		if _, err := c.request(ctx, proto.TypeList, req, proto.TypeListReply, &page); err != nil {
			return nil, fmt.Errorf("list fields: %w", err)
		}
		for _, f := range page.Fields {
			out = append(out, FieldInfo{
				ID: FieldID(f.ID), Path: f.Path, Version: f.Version, OwnerPID: int(f.Owner), Watchers: f.Watchers,
			})
			after = max(after, f.ID)
		}
		if !page.Truncated {
			return out, nil
		}
		if len(page.Fields) == 0 {
			return nil, fmt.Errorf("list fields: fieldd returned an empty page marked truncated after ID %d", after)
		}
	}
}

// LookupFieldID returns the ID of path, or 0 when the daemon has no field
// with that path. Unlike [Client.FieldID], it never creates a field.
func (c *Client) LookupFieldID(ctx context.Context, path string) (FieldID, error) {
	if id, ok := c.ids.Load(path); ok {
		return id.(FieldID), nil
	}
	if err := proto.ValidatePath(path, c.welcome.MaxPath); err != nil {
		return 0, err
	}
	var reply proto.IDs
	req := proto.FieldIDs{Paths: []string{path}, Create: false}
	if _, err := c.request(ctx, proto.TypeFieldIDs, req, proto.TypeIDs, &reply); err != nil {
		return 0, err
	}
	if len(reply.IDs) != 1 {
		return 0, fmt.Errorf("look up field ID: fieldd returned %d IDs for 1 path", len(reply.IDs))
	}
	id := FieldID(reply.IDs[0])
	if id != 0 {
		c.ids.Store(path, id)
		c.paths.Store(id, path)
	}
	return id, nil
}
