//go:build !linux

package shm

import (
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Cred is the identity of a unix socket peer.
type Cred struct {
	PID int32
	UID uint32
	GID uint32
}

// Mapping is a shared mapping of a region file.
type Mapping struct{}

// MaxFiles is the largest number of descriptors in one message.
const MaxFiles = 4

func Create(string, int64) (*os.File, error)                   { return nil, ErrNotSupported }
func Reserve(*os.File, int64) error                            { return ErrNotSupported }
func Map(*os.File, bool) (*Mapping, error)                     { return nil, ErrNotSupported }
func Anonymous(int) (*Mapping, error)                          { return nil, ErrNotSupported }
func (m *Mapping) Bytes() []byte                               { return nil }
func (m *Mapping) Close() error                                { return nil }
func FutexWait(*atomic.Uint32, uint32, time.Duration) error    { return ErrNotSupported }
func FutexWake(*atomic.Uint32, int) (int, error)               { return 0, ErrNotSupported }
func PeerCred(*net.UnixConn) (Cred, error)                     { return Cred{}, ErrNotSupported }
func SendFiles(*net.UnixConn, []byte, ...*os.File) error       { return ErrNotSupported }
func RecvFiles(*net.UnixConn, []byte) (int, []*os.File, error) { return 0, nil, ErrNotSupported }
func TryLock(*os.File, int64, int64) (bool, error)             { return false, ErrNotSupported }
func OpenOwned(string, int, os.FileMode) (*os.File, error)     { return nil, ErrNotSupported }
