package daemon

import (
	"bytes"
	"os"
	"strconv"

	"github.com/fieldd/fieldd/internal/region"
)

// An orphan is a slot or an arena that a process from before the daemon's
// restart still holds. That process keeps draining or publishing through
// its mappings; the daemon leaves the index alone until the process exits
// and then reclaims it.
type orphan struct {
	index int
	pid   int32
	start uint64
}

// procStart returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/PID/stat), and false when no such process runs.
func procStart(pid int32) (uint64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name in parentheses may contain spaces and ')', so the
	// fields are counted from the last ')', which ends field 2.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(b[i+1:])
	const startField = 22 - 3 // fields after the name start at field 3
	if len(fields) <= startField {
		return 0, false
	}
	v, err := strconv.ParseUint(string(fields[startField]), 10, 64)
	return v, err == nil
}

// alive reports whether process pid runs and started at start, so a reused
// pid does not count.
func alive(pid int32, start uint64) bool {
	got, ok := procStart(pid)
	return ok && start != 0 && got == start
}

// adoptOrphans runs when the daemon reopens a region. Slots and arenas whose
// processes still run are kept as they are, so those processes go on
// receiving and publishing notifications. Every other slot is wiped and
// leaves the watcher masks, and the fields of writers that died while no
// daemon ran are handed back to the daemon and marked pending for their
// watchers.
func (s *Server) adoptOrphans(r *region.Region) {
	g := r.L.Geometry
	keep := make([]bool, g.MaxSlots)
	for i := range g.MaxSlots {
		sl, _ := r.Slot(i)
		info := sl.Info()
		s.slots.SetGeneration(i, info.Generation)
		if info.InUse && alive(info.PID, info.ProcStart) && s.slots.Reserve(i) {
			keep[i] = true
			s.orphanSlots = append(s.orphanSlots, orphan{index: i, pid: info.PID, start: info.ProcStart})
			continue
		}
		sl.Reset(region.SlotInfo{Generation: info.Generation})
	}
	r.RetainWatches(keep)

	liveArena := make([]bool, g.Writers+1)
	for a := 1; a <= g.Writers; a++ {
		pid, start := r.ArenaOwner(a)
		if pid != 0 && alive(pid, start) && s.arenas.Reserve(a) {
			liveArena[a] = true
			s.orphanArenas = append(s.orphanArenas, orphan{index: a, pid: pid, start: start})
			continue
		}
		r.SetArenaOwner(a, 0, 0)
	}
	for id := uint32(1); id <= s.paths.Len(); id++ {
		if a := r.Owner(id); a != 0 && (a < 0 || a > g.Writers || !liveArena[a]) {
			r.SetOwner(id, 0)
			r.Raise(id)
		}
	}
	if len(s.orphanSlots)+len(s.orphanArenas) > 0 {
		s.log.Info("kept slots and arenas of processes that outlived the previous daemon",
			"slots", len(s.orphanSlots), "arenas", len(s.orphanArenas))
	}
}

// reapOrphans reclaims the slots and arenas of orphans that have exited.
// The heartbeat calls it once a second while orphans remain.
func (s *Server) reapOrphans() {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.orphanSlots[:0]
	for _, o := range s.orphanSlots {
		if alive(o.pid, o.start) {
			kept = append(kept, o)
			continue
		}
		sl, _ := s.reg.Slot(o.index)
		s.reg.ClearSlotWatches(o.index)
		s.freeSlotLocked(o.index, sl.Info().Generation)
		s.log.Info("orphaned slot reclaimed", "slot", o.index, "pid", o.pid)
	}
	s.orphanSlots = kept

	keptArenas := s.orphanArenas[:0]
	for _, o := range s.orphanArenas {
		if alive(o.pid, o.start) {
			keptArenas = append(keptArenas, o)
			continue
		}
		n := s.freeArenaLocked(o.index)
		s.log.Info("orphaned writer arena released", "arena", o.index, "pid", o.pid, "fields", n)
	}
	s.orphanArenas = keptArenas
}

// hasOrphans reports whether any orphan remains.
func (s *Server) hasOrphans() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orphanSlots)+len(s.orphanArenas) > 0
}
