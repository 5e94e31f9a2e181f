package daemon

import (
	"errors"
	"os"
	"slices"

	"github.com/fieldd/fieldd/internal/proto"
	"github.com/fieldd/fieldd/internal/region"
	"github.com/fieldd/fieldd/internal/registry"
)

// Request size limits that keep one peer from holding the daemon's lock
// for long.
const (
	maxBatch = 4096 // paths or IDs in one request
	listPage = 500  // fields in one list reply
)

// handle runs one request and returns the reply's type and body.
func (s *Server) handle(c *conn, typ proto.Type, body []byte) (proto.Type, any, *reqError) {
	switch typ {
	case proto.TypeFieldIDs:
		var m proto.FieldIDs
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		return s.fieldIDs(c, m)
	case proto.TypeFieldPaths:
		var m proto.FieldPaths
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		return s.fieldPaths(m)
	case proto.TypeWatch, proto.TypeUnwatch:
		var m proto.Watch
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		return s.watch(c, m.IDs, typ == proto.TypeWatch)
	case proto.TypeUpdate:
		var m proto.Update
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		if !s.cfg.Writers.Permits(c.cred.UID, c.cred.GID) {
			return 0, nil, fail(proto.CodeDenied, "uid %d may read but not change fields; add it to fieldd --writers", c.cred.UID)
		}
		return s.update(m)
	case proto.TypeClaim:
		var m proto.Claim
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		return s.claim(c, m)
	case proto.TypeRelease:
		s.mu.Lock()
		s.releaseLocked(c)
		s.mu.Unlock()
		return proto.TypeOK, proto.OK{}, nil
	case proto.TypeStats:
		return proto.TypeStatsReply, s.stats(), nil
	case proto.TypeList:
		var m proto.List
		if err := decode(body, &m); err != nil {
			return 0, nil, err
		}
		return s.list(m)
	}
	return 0, nil, fail(proto.CodeBadRequest, "message type %s is not a request", typ)
}

func decode(body []byte, v any) *reqError {
	if err := proto.DecodeBody(body, v); err != nil {
		return fail(proto.CodeBadRequest, "%v", err)
	}
	return nil
}

func (s *Server) fieldIDs(c *conn, m proto.FieldIDs) (proto.Type, any, *reqError) {
	if len(m.Paths) > maxBatch {
		return 0, nil, fail(proto.CodeLimit, "%d paths in one request, the limit is %d", len(m.Paths), maxBatch)
	}
	for _, p := range m.Paths {
		if err := proto.ValidatePath(p, s.cfg.MaxPath); err != nil {
			return 0, nil, fail(proto.CodeBadRequest, "%v", err)
		}
	}
	ids := make([]uint32, len(m.Paths))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range m.Paths {
		if !m.Create {
			ids[i], _ = s.paths.Lookup(p)
			continue
		}
		id, created, err := s.paths.Create(p)
		if errors.Is(err, registry.ErrFull) {
			return 0, nil, fail(proto.CodeLimit, "create %q: %v", p, err)
		}
		if err != nil {
			c.log.Error("create field failed", "path", p, "err", err)
			return 0, nil, fail(proto.CodeInternal, "create %q: %v", p, err)
		}
		if created {
			// The owner word is set before the ID becomes valid, so the
			// claiming writer can publish to it at once.
			if h := s.holderOf(p); h != nil {
				s.reg.SetOwner(id, h.arena)
			}
			s.reg.SetIssued(id)
		}
		ids[i] = id
	}
	return proto.TypeIDs, proto.IDs{IDs: ids}, nil
}

func (s *Server) fieldPaths(m proto.FieldPaths) (proto.Type, any, *reqError) {
	if len(m.IDs) > maxBatch {
		return 0, nil, fail(proto.CodeLimit, "%d IDs in one request, the limit is %d", len(m.IDs), maxBatch)
	}
	paths := make([]string, len(m.IDs))
	for i, id := range m.IDs {
		p, ok := s.paths.Path(id)
		if !ok {
			return 0, nil, fail(proto.CodeNotFound, "field ID %d was never issued (issued: 1..%d)", id, s.paths.Len())
		}
		paths[i] = p
	}
	return proto.TypePaths, proto.Paths{Paths: paths}, nil
}

func (s *Server) checkIDs(ids []uint32) *reqError {
	if len(ids) > maxBatch {
		return fail(proto.CodeLimit, "%d IDs in one request, the limit is %d", len(ids), maxBatch)
	}
	issued := s.paths.Len()
	for _, id := range ids {
		if id == 0 || id > issued {
			return fail(proto.CodeNotFound, "field ID %d was never issued (issued: 1..%d)", id, issued)
		}
	}
	return nil
}

func (s *Server) watch(c *conn, ids []uint32, on bool) (proto.Type, any, *reqError) {
	if err := s.checkIDs(ids); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.reg.SetWatch(id, c.slot, on)
		if on {
			c.watches[id] = true
		} else {
			delete(c.watches, id)
		}
	}
	return proto.TypeOK, proto.OK{}, nil
}

func (s *Server) update(m proto.Update) (proto.Type, any, *reqError) {
	if err := s.checkIDs([]uint32{m.ID}); err != nil {
		return 0, nil, err
	}
	if len(m.Value) > s.reg.L.MaxValueSize {
		return 0, nil, fail(proto.CodeLimit, "value of %d bytes exceeds the limit of %d bytes; raise fieldd --max-value-size",
			len(m.Value), s.reg.L.MaxValueSize)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.reg.Owner(m.ID); a != 0 {
		path, _ := s.paths.Path(m.ID)
		pid := s.pidOfArena(a)
		e := fail(proto.CodeOwned, "field %q is owned by writer pid %d; only that writer may change it", path, pid)
		e.holder = pid
		return 0, nil, e
	}
	if err := s.dw.Publish(m.ID, m.Value); err != nil {
		s.log.Error("update failed", "id", m.ID, "err", err)
		return 0, nil, fail(proto.CodeLimit, "update field %d: %v", m.ID, err)
	}
	return proto.TypeOK, proto.OK{}, nil
}

func (s *Server) claim(c *conn, m proto.Claim) (proto.Type, any, *reqError) {
	if !s.cfg.Writers.Permits(c.cred.UID, c.cred.GID) {
		return 0, nil, fail(proto.CodeDenied, "uid %d is not allowed to write; add it to fieldd --writers", c.cred.UID)
	}
	if len(m.Prefixes) == 0 || len(m.Prefixes) > 256 {
		return 0, nil, fail(proto.CodeBadRequest, "claim needs 1 to 256 prefixes, got %d", len(m.Prefixes))
	}
	for _, p := range m.Prefixes {
		if err := proto.ValidatePath(p, s.cfg.MaxPath); err != nil {
			return 0, nil, fail(proto.CodeBadRequest, "%v", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range m.Prefixes {
		for o := range s.conns {
			if o == c {
				continue
			}
			for _, q := range o.prefixes {
				if proto.Overlap(p, q) {
					e := fail(proto.CodeClaimed, "prefix %q overlaps %q, held by writer pid %d (%s)", p, q, o.cred.PID, o.name)
					e.holder = o.cred.PID
					return 0, nil, e
				}
			}
		}
	}
	// Writers that outlived the previous daemon left no claims behind, so
	// the fields they own stand in for them.
	for _, p := range m.Prefixes {
		for _, id := range s.paths.Under(p, proto.HasPrefix) {
			a := s.reg.Owner(id)
			for _, o := range s.orphanArenas {
				if o.index == a {
					path, _ := s.paths.Path(id)
					e := fail(proto.CodeClaimed, "prefix %q covers field %q, owned by writer pid %d from before the daemon restarted", p, path, o.pid)
					e.holder = o.pid
					return 0, nil, e
				}
			}
		}
	}
	if c.arena == 0 {
		a, _, err := s.arenas.Get()
		if err != nil {
			return 0, nil, fail(proto.CodeLimit, "all %d writer arenas are in use; raise fieldd --max-writers", s.cfg.Geometry.Writers)
		}
		c.arena = a
		start, _ := procStart(c.cred.PID)
		s.reg.SetArenaOwner(a, c.cred.PID, start)
	}
	for _, p := range m.Prefixes {
		if !slices.Contains(c.prefixes, p) {
			c.prefixes = append(c.prefixes, p)
		}
		for _, id := range s.paths.Under(p, proto.HasPrefix) {
			s.reg.SetOwner(id, c.arena)
		}
	}
	c.log.Info("writer claimed", "arena", c.arena, "prefixes", c.prefixes)
	return proto.TypeClaimed, claimedReply{proto.Claimed{Arena: c.arena, Prefixes: slices.Clone(c.prefixes)}, s.files.Values}, nil
}

// claimedReply carries the values fd to attach to the reply.
type claimedReply struct {
	proto.Claimed
	file *os.File
}

func (s *Server) list(m proto.List) (proto.Type, any, *reqError) {
	if m.Prefix != "" {
		if err := proto.ValidatePath(m.Prefix, s.cfg.MaxPath); err != nil {
			return 0, nil, fail(proto.CodeBadRequest, "%v", err)
		}
	}
	limit := m.Limit
	if limit <= 0 || limit > listPage {
		limit = listPage
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out proto.ListReply
	for _, id := range s.paths.Under(m.Prefix, proto.HasPrefix) {
		if id <= m.After {
			continue
		}
		if len(out.Fields) == limit {
			out.Truncated = true
			break
		}
		p, _ := s.paths.Path(id)
		w := 0
		for i := range s.reg.L.MaxSlots {
			if s.reg.Watched(id, i) {
				w++
			}
		}
		out.Fields = append(out.Fields, proto.FieldInfo{
			ID: id, Path: p, Version: s.reg.Version(id), Owner: s.pidOfArena(s.reg.Owner(id)), Watchers: w,
		})
	}
	return proto.TypeListReply, out, nil
}

// Stats returns the daemon's statistics, as the stats request does.
func (s *Server) Stats() proto.StatsReply { return s.stats() }

// addSlotCounters adds a slot's counters to a running total.
func addSlotCounters(t *proto.SlotStats, k region.SlotCounters) {
	t.Overflows += k.Overflows
	t.Wakes += k.Wakes
	t.Drains += k.Owner[region.CtrDrains]
	t.Drained += k.Owner[region.CtrDrained]
	t.Rebuilds += k.Owner[region.CtrRebuilds]
	t.Frames += k.Owner[region.CtrFrames]
	t.Callbacks += k.Owner[region.CtrCallbacks]
	t.Overruns += k.Owner[region.CtrOverruns]
	t.Panics += k.Owner[region.CtrPanics]
	t.BadIDs += k.Owner[region.CtrBadIDs]
	t.Parks += k.Owner[region.CtrParks]
}

func (s *Server) stats() proto.StatsReply {
	l := s.reg.L
	r := proto.StatsReply{
		DaemonPID: os.Getpid(), Started: s.start.Unix(), RuntimeDir: s.cfg.RuntimeDir, StateDir: s.cfg.StateDir,
		Fields: int(s.paths.Len()), MaxFields: l.MaxFields, MaxClients: l.MaxSlots, RingSize: l.RingSize,
		MaxValue: l.MaxValueSize, MaxWriters: l.Writers, ArenaSize: l.ArenaSize,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.RejectedBy = make(map[string]uint64, len(s.rejected))
	for code, n := range s.rejected {
		r.Rejected += n
		r.RejectedBy[code] = n
	}
	r.Reclaimed = s.retired
	r.Totals = s.retired
	s.hsMu.Lock()
	r.Handshakes = s.hsTotal
	s.hsMu.Unlock()
	addSlot := func(st proto.SlotStats, k region.SlotCounters) {
		st.Pending = k.Pending
		addSlotCounters(&st, k)
		addSlotCounters(&r.Totals, k)
		r.Slots = append(r.Slots, st)
	}
	for c := range s.conns {
		sl, _ := s.reg.Slot(c.slot)
		addSlot(proto.SlotStats{
			Slot: c.slot, Generation: c.gen, PID: c.cred.PID, UID: c.cred.UID, Name: c.name,
			Since: sl.Info().Since.Unix(), Watches: len(c.watches), Prefixes: slices.Clone(c.prefixes),
		}, sl.Counters())
	}
	for _, o := range s.orphanSlots {
		sl, _ := s.reg.Slot(o.index)
		info := sl.Info()
		addSlot(proto.SlotStats{
			Slot: o.index, Generation: info.Generation, PID: o.pid, UID: info.UID, Since: info.Since.Unix(), Orphan: true,
		}, sl.Counters())
	}
	slices.SortFunc(r.Slots, func(a, b proto.SlotStats) int { return a.Slot - b.Slot })
	for a := 0; a <= l.Writers; a++ {
		w, _ := s.reg.WriterCounters(a)
		if a != 0 && w.PID == 0 && w.Publishes == 0 {
			continue
		}
		r.Writers = append(r.Writers, proto.WriterStat{
			Arena: a, PID: w.PID, Publishes: w.Publishes, Coalesced: w.Coalesced, Notified: w.Notified,
			ArenaFull: w.ArenaFull, BytesUsed: w.BytesUsed, BytesCap: w.BytesTotal,
		})
	}
	return r
}
