package client

import (
	"errors"
	"fmt"

	"github.com/fieldd/fieldd/internal/proto"
)

// Errors returned by the client.
var (
	// ErrClosed is returned by calls on a closed Client or Writer.
	ErrClosed = errors.New("fieldd client is closed")
	// ErrNotIssued is wrapped for a field ID the daemon never issued.
	ErrNotIssued = errors.New("field ID was never issued by fieldd")
	// ErrNotOwned is wrapped by Publish for a field outside the writer's
	// claimed prefixes.
	ErrNotOwned = errors.New("field is not under the writer's claimed prefixes")
	// ErrDisconnected is wrapped by requests after the daemon closed the
	// connection. Watches and publishes through the region keep working
	// across a daemon restart; new requests need a new Client.
	ErrDisconnected = errors.New("connection to fieldd lost (the daemon stopped or restarted); Dial again for new requests")
	// ErrTooLarge is wrapped for a value over the daemon's size limit.
	ErrTooLarge = errors.New("value exceeds the maximum value size")
)

// Error is a request the daemon rejected. Code is one of the Code
// constants; Holder is the pid of the writer that holds a conflicting
// claim or owns the field, when there is one.
type Error struct {
	Code    string
	Message string
	Holder  int
}

func (e *Error) Error() string { return "fieldd: " + e.Message }

// Error codes of [Error].
const (
	CodeBadRequest = proto.CodeBadRequest
	CodeVersion    = proto.CodeVersion
	CodeDenied     = proto.CodeDenied
	CodeSlotsFull  = proto.CodeSlotsFull
	CodeLimit      = proto.CodeLimit
	CodeNotFound   = proto.CodeNotFound
	CodeOwned      = proto.CodeOwned
	CodeClaimed    = proto.CodeClaimed
	CodeInternal   = proto.CodeInternal
)

func notIssued(id FieldID, issued uint32) error {
	return fmt.Errorf("%w: %d (issued IDs are 1..%d)", ErrNotIssued, id, issued)
}
