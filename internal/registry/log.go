// Package registry holds the daemon's durable path-to-ID map and its slot
// and arena allocation.
//
// The map is an append-only log of records, each written and synced before
// the daemon returns its ID, so an ID once returned survives any crash and
// is never reused. Every record carries a CRC-32C:
//
//	+-----------+-----------+-----------+----------------+
//	| len (u32) | crc (u32) | id (u32)  | path (len-4 B) |
//	+-----------+-----------+-----------+----------------+
//
// A torn record at the end, left by a crash during an append, is cut off
// when the log is opened; a bad record before the end is an error.
package registry

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrFull is returned when every field ID of the table has been issued.
var ErrFull = errors.New("field table is full (raise --max-fields)")

// ErrCorrupt is returned for a log with a bad record before its end.
var ErrCorrupt = errors.New("path log is corrupt")

const recHeader = 12

// Log is the path-to-ID map and its file. It is safe for concurrent use.
type Log struct {
	mu     sync.Mutex
	f      *os.File
	ids    map[string]uint32
	paths  []string // index = ID; paths[0] is unused
	maxID  uint32   // IDs must stay below this
	maxLen int

	// Dropped is the number of bytes of a torn final record that Open cut
	// off: an append that a crash interrupted before it was synced.
	Dropped int64
}

// Open reads the log at path, creating it if missing, and cuts off a torn
// final record. IDs run from 1 to maxID-1.
func Open(path string, maxID uint32, maxPathLen int) (*Log, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open path log: %w", err)
	}
	l := &Log{f: f, ids: make(map[string]uint32), paths: []string{""}, maxID: maxID, maxLen: maxPathLen}
	good, err := l.load()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read path log %s: %w", path, err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > good {
		l.Dropped = st.Size() - good
	}
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("truncate path log %s to %d bytes: %w", path, good, err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if int(l.Len()) >= int(maxID) {
		f.Close()
		return nil, fmt.Errorf("path log %s holds %d IDs, more than --max-fields=%d allows", path, l.Len(), maxID)
	}
	return l, nil
}

// load reads records and returns the offset after the last good one.
func (l *Log) load() (int64, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	r := bufio.NewReader(io.NewSectionReader(l.f, 0, size))
	var off int64
	hdr := make([]byte, recHeader)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return off, nil // end of log, or a torn header at the end
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		sum := binary.LittleEndian.Uint32(hdr[4:8])
		id := binary.LittleEndian.Uint32(hdr[8:12])
		if n < 4 || int(n)-4 > l.maxLen+1024 {
			return l.tornOrCorrupt(off+recHeader+int64(n)-4, size, fmt.Sprintf("record length %d", n))
		}
		path := make([]byte, n-4)
		if _, err := io.ReadFull(r, path); err != nil {
			return off, nil // torn record at the end
		}
		end := off + recHeader + int64(n) - 4
		if crc32.Checksum(append(hdr[8:12:12], path...), crcTable) != sum {
			return l.tornOrCorrupt(end, size, "checksum mismatch")
		}
		if id != uint32(len(l.paths)) {
			return 0, fmt.Errorf("%w: record at byte %d has ID %d, want %d", ErrCorrupt, off, id, len(l.paths))
		}
		p := string(path)
		if _, dup := l.ids[p]; dup {
			return 0, fmt.Errorf("%w: record at byte %d repeats path %q", ErrCorrupt, off, p)
		}
		l.ids[p] = id
		l.paths = append(l.paths, p)
		off = end
	}
}

// tornOrCorrupt accepts a bad record only when nothing follows it.
func (l *Log) tornOrCorrupt(end, size int64, why string) (int64, error) {
	if end >= size {
		return l.lastGood(), nil
	}
	return 0, fmt.Errorf("%w: %s before the end of the log", ErrCorrupt, why)
}

func (l *Log) lastGood() int64 {
	var off int64
	for _, p := range l.paths[1:] {
		off += recHeader + int64(len(p))
	}
	return off
}

// Lookup returns the ID of path.
func (l *Log) Lookup(path string) (uint32, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.ids[path]
	return id, ok
}

// Path returns the path of id.
func (l *Log) Path(id uint32) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id == 0 || int(id) >= len(l.paths) {
		return "", false
	}
	return l.paths[id], true
}

// Len returns the highest issued ID.
func (l *Log) Len() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint32(len(l.paths) - 1)
}

// Create returns the ID of path, appending a record and syncing it first
// when path is new. The caller has validated path.
func (l *Log) Create(path string) (id uint32, created bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id, ok := l.ids[path]; ok {
		return id, false, nil
	}
	id = uint32(len(l.paths))
	if id >= l.maxID {
		return 0, false, fmt.Errorf("%w: all %d IDs are issued", ErrFull, l.maxID-1)
	}
	rec := make([]byte, recHeader+len(path))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(4+len(path)))
	binary.LittleEndian.PutUint32(rec[8:12], id)
	copy(rec[recHeader:], path)
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(rec[8:], crcTable))
	if _, err := l.f.Write(rec); err != nil {
		return 0, false, fmt.Errorf("append path %q: %w", path, err)
	}
	if err := l.f.Sync(); err != nil {
		return 0, false, fmt.Errorf("sync path log: %w", err)
	}
	l.ids[path] = id
	l.paths = append(l.paths, path)
	return id, true, nil
}

// Under returns the IDs of every path under prefix (see [HasPrefix]) in ID
// order; an empty prefix matches all.
func (l *Log) Under(prefix string, hasPrefix func(p, prefix string) bool) []uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint32
	for id, p := range l.paths[1:] {
		if prefix == "" || hasPrefix(p, prefix) {
			out = append(out, uint32(id+1))
		}
	}
	return out
}

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }
