package proto

// Hello opens a session. The daemon replies with [Welcome] or [Error].
type Hello struct {
	Proto  int    `json:"proto"`
	Layout uint64 `json:"layout"` // region layout version the client reads
	Name   string `json:"name"`
}

// Welcome hands the client its slot. Two descriptors come with it: the
// values file (read-only) and the slots file (read-write).
type Welcome struct {
	Slot       int    `json:"slot"`
	Generation uint64 `json:"generation"`
	DaemonPID  int    `json:"daemon_pid"`
	MaxPath    int    `json:"max_path"`
	MaxMessage int    `json:"max_message"`
}

// FieldIDs requests the IDs of paths. With Create, unknown paths get new
// permanent IDs. The reply is [IDs], with 0 for an unknown path when
// Create is false.
type FieldIDs struct {
	Paths  []string `json:"paths"`
	Create bool     `json:"create"`
}

// IDs is the reply to [FieldIDs], in request order.
type IDs struct {
	IDs []uint32 `json:"ids"`
}

// FieldPaths requests the paths of IDs. The reply is [Paths].
type FieldPaths struct {
	IDs []uint32 `json:"ids"`
}

// Paths is the reply to [FieldPaths], in request order.
type Paths struct {
	Paths []string `json:"paths"`
}

// Watch adds the client's slot to the watcher masks of IDs; [Unwatch]
// removes it. The daemon replies to both with [OK].
type Watch struct {
	IDs []uint32 `json:"ids"`
}

// Update requests that the daemon store Value in field ID. Only fields that no
// writer owns can be updated this way.
type Update struct {
	ID    uint32 `json:"id"`
	Value []byte `json:"value"`
}

// Claim requests exclusive ownership of path prefixes ("documents").
type Claim struct {
	Prefixes []string `json:"prefixes"`
}

// Claimed grants a claim. The values file comes with it, read-write.
type Claimed struct {
	Arena    int      `json:"arena"`
	Prefixes []string `json:"prefixes"` // every prefix the client now holds
}

// Stats requests a [StatsReply].
type Stats struct{}

// List requests the fields whose path starts with Prefix (at a segment
// boundary, or every field when empty), at most Limit of them (0: the
// daemon's page size). Truncated in the reply means more follow.
type List struct {
	Prefix string `json:"prefix"`
	After  uint32 `json:"after"` // list IDs above this one, to page
	Limit  int    `json:"limit"`
}

// ListReply is the reply to [List].
type ListReply struct {
	Fields    []FieldInfo `json:"fields"`
	Truncated bool        `json:"truncated"`
}

// FieldInfo describes one field.
type FieldInfo struct {
	ID       uint32 `json:"id"`
	Path     string `json:"path"`
	Version  uint64 `json:"version"`
	Owner    int32  `json:"owner_pid"` // 0 when the daemon owns the field
	Watchers int    `json:"watchers"`
}

// StatsReply describes the daemon, its slots and its writers.
type StatsReply struct {
	DaemonPID  int          `json:"daemon_pid"`
	Started    int64        `json:"started_unix"`
	RuntimeDir string       `json:"runtime_dir"`
	StateDir   string       `json:"state_dir"`
	Fields     int          `json:"fields"`
	MaxFields  int          `json:"max_fields"`
	MaxClients int          `json:"max_clients"`
	RingSize   int          `json:"ring_size"`
	MaxValue   int          `json:"max_value_size"`
	MaxWriters int          `json:"max_writers"`
	ArenaSize  int64        `json:"arena_size"`
	Slots      []SlotStats  `json:"slots"`
	Writers    []WriterStat `json:"writers"`
	Rejected   uint64       `json:"rejected"`
	// Handshakes counts connections that have not finished their handshake.
	Handshakes int `json:"handshakes"`
	// RejectedBy counts rejected requests by error code.
	RejectedBy map[string]uint64 `json:"rejected_by,omitempty"`
	// Reclaimed sums the counters of every slot reclaimed so far, so that
	// totals over Slots plus Reclaimed never decrease.
	Reclaimed SlotStats `json:"reclaimed"`
	// Totals sums the counters of every slot since the daemon started:
	// Reclaimed plus the slots in use. It never decreases.
	Totals SlotStats `json:"totals"`
}

// SlotStats describes one slot in use.
type SlotStats struct {
	Slot       int    `json:"slot"`
	Generation uint64 `json:"generation"`
	PID        int32  `json:"pid"`
	UID        uint32 `json:"uid"`
	Name       string `json:"name"`
	Since      int64  `json:"since_unix"`
	Watches    int    `json:"watches"`
	// Orphan marks a slot whose process connected to an earlier daemon
	// and still runs: it keeps draining, but has no connection.
	Orphan    bool     `json:"orphan,omitempty"`
	Prefixes  []string `json:"prefixes,omitempty"`
	Pending   int      `json:"pending"`
	Overflows uint64   `json:"overflows"`
	Wakes     uint64   `json:"wakes"`
	Drains    uint64   `json:"drains"`
	Drained   uint64   `json:"drained"`
	Rebuilds  uint64   `json:"rebuilds"`
	Frames    uint64   `json:"frames"`
	Callbacks uint64   `json:"callbacks"`
	Overruns  uint64   `json:"overruns"`
	Panics    uint64   `json:"panics"`
	BadIDs    uint64   `json:"bad_ids"`
	Parks     uint64   `json:"parks"`
}

// WriterStat describes one arena.
type WriterStat struct {
	Arena     int    `json:"arena"`
	PID       int32  `json:"pid"`
	Publishes uint64 `json:"publishes"`
	Coalesced uint64 `json:"coalesced"`
	Notified  uint64 `json:"notified"`
	ArenaFull uint64 `json:"arena_full"`
	BytesUsed int64  `json:"bytes_used"`
	BytesCap  int64  `json:"bytes_total"`
}

// OK acknowledges a request that returns nothing.
type OK struct{}

// Error codes.
const (
	CodeBadRequest = "bad-request" // malformed or out-of-range input
	CodeVersion    = "version"     // protocol or layout version mismatch
	CodeDenied     = "denied"      // the peer's uid is not allowed
	CodeSlotsFull  = "slots-full"  // every slot is in use
	CodeLimit      = "limit"       // a configured limit was hit
	CodeNotFound   = "not-found"   // unknown path or ID
	CodeOwned      = "owned"       // the field belongs to a writer
	CodeClaimed    = "claimed"     // another writer holds the prefix
	CodeInternal   = "internal"    // the daemon failed
)

// Error reports a failed request. Holder is the pid of the writer that
// holds a conflicting claim or owns the field, when there is one.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Holder  int32  `json:"holder,omitempty"`
}

func (e *Error) Error() string { return e.Message }
