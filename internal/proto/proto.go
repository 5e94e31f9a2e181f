// Package proto defines fieldd's control protocol: one message per
// SOCK_SEQPACKET packet, an 8-byte binary header followed by a JSON body.
//
//	0      2        3      4              8
//	+------+--------+------+--------------+------------------+
//	| "Fd" | version| type | request ID   | JSON body ...    |
//	+------+--------+------+--------------+------------------+
//
// A request and its reply carry the same request ID. The daemon may reply
// to any request with [Error]. Region files travel as SCM_RIGHTS descriptors
// attached to [Welcome] and [Claimed].
package proto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Version is the protocol version this build speaks.
const Version = 1

// HeaderSize is the size of the binary header.
const HeaderSize = 8

// DefaultMaxMessage is the default limit on one message, header included.
// It stays below the usual net.core.wmem_max (208 KiB), which caps the
// send buffer of an unprivileged process and so the largest packet.
const DefaultMaxMessage = 192 << 10

// SocketName is the control socket's name inside the runtime directory.
const SocketName = "fieldd.sock"

// Type identifies a message.
type Type uint8

// Message types. Requests come from clients; the rest are replies.
const (
	TypeHello Type = iota + 1
	TypeWelcome
	TypeFieldIDs
	TypeIDs
	TypeFieldPaths
	TypePaths
	TypeWatch
	TypeUnwatch
	TypeUpdate
	TypeClaim
	TypeClaimed
	TypeRelease
	TypeStats
	TypeStatsReply
	TypeList
	TypeListReply
	TypeOK
	TypeError
	typeEnd
)

var typeNames = [...]string{"", "hello", "welcome", "field-ids", "ids", "field-paths", "paths",
	"watch", "unwatch", "update", "claim", "claimed", "release", "stats", "stats-reply",
	"list", "list-reply", "ok", "error"}

func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Errors of the codec.
var (
	ErrShort    = errors.New("message shorter than its header")
	ErrMagic    = errors.New("message does not start with the protocol magic")
	ErrVersion  = errors.New("protocol version mismatch")
	ErrType     = errors.New("unknown message type")
	ErrTooLarge = errors.New("message exceeds the size limit")
	ErrBody     = errors.New("malformed message body")
)

// Header is a decoded message header.
type Header struct {
	Version uint8
	Type    Type
	ID      uint32
}

// Encode appends the message with header h and body v to dst. A nil v
// gives an empty body.
func Encode(dst []byte, typ Type, id uint32, v any) ([]byte, error) {
	dst = append(dst, 'F', 'd', Version, byte(typ), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(dst[len(dst)-4:], id)
	if v == nil {
		return dst, nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return append(dst, body...), nil
}

// DecodeHeader checks the header of msg and returns it with the body. It
// returns an [ErrVersion] error, with the header filled in, for a peer
// that speaks another version, so the receiver can name both versions.
func DecodeHeader(msg []byte, max int) (Header, []byte, error) {
	if len(msg) > max {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(msg), max)
	}
	if len(msg) < HeaderSize {
		return Header{}, nil, fmt.Errorf("%w: %d bytes", ErrShort, len(msg))
	}
	if msg[0] != 'F' || msg[1] != 'd' {
		return Header{}, nil, fmt.Errorf("%w: % x", ErrMagic, msg[:2])
	}
	h := Header{Version: msg[2], Type: Type(msg[3]), ID: binary.LittleEndian.Uint32(msg[4:8])}
	if h.Version != Version {
		return h, nil, fmt.Errorf("%w: peer speaks %d, this build speaks %d: upgrade the older side", ErrVersion, h.Version, Version)
	}
	if h.Type == 0 || h.Type >= typeEnd {
		return h, nil, fmt.Errorf("%w: %d", ErrType, msg[3])
	}
	return h, msg[HeaderSize:], nil
}

// DecodeBody decodes a JSON body into v, rejecting unknown fields and
// trailing data.
func DecodeBody(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBody, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrBody)
	}
	return nil
}

// DefaultRuntimeDir returns /run/fieldd for root and
// $XDG_RUNTIME_DIR/fieldd (or /tmp/fieldd-UID without it) otherwise.
func DefaultRuntimeDir() string {
	if os.Geteuid() == 0 {
		return "/run/fieldd"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "fieldd")
	}
	return filepath.Join(os.TempDir(), "fieldd-"+strconv.Itoa(os.Geteuid()))
}

// DefaultStateDir returns /var/lib/fieldd for root and
// $XDG_STATE_HOME/fieldd (or ~/.local/state/fieldd) otherwise.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/fieldd"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "fieldd")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "fieldd-state-"+strconv.Itoa(os.Geteuid()))
	}
	return filepath.Join(home, ".local", "state", "fieldd")
}
