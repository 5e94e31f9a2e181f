package client

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// FieldID is the permanent numeric ID the daemon gives a field path.
type FieldID uint32

// Value is one version of a field. It owns its bytes: it stays valid after
// its callback returns and after [Client.Close].
type Value struct {
	id      FieldID
	version uint64
	data    []byte
	gone    bool
}

// ID returns the field's ID.
func (v Value) ID() FieldID { return v.id }

// Version returns the field's version: 0 when the field was never written,
// higher for every later write.
func (v Value) Version() uint64 { return v.version }

// Gone reports whether the writer retired the field. A later write brings
// it back with a higher version.
func (v Value) Gone() bool { return v.gone }

// Bytes returns a copy of the value.
func (v Value) Bytes() []byte { return append([]byte(nil), v.data...) }

// Len returns the value's length in bytes.
func (v Value) Len() int { return len(v.data) }

// String returns the value as a string.
func (v Value) String() string { return string(v.data) }

// Float64 parses the value as a decimal number, ignoring surrounding
// white space.
func (v Value) Float64() (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(v.data)), 64)
	if err != nil {
		return 0, fmt.Errorf("field %d value %.32q is not a number: %w", v.id, v.data, err)
	}
	return f, nil
}

// Decode unmarshals the value as JSON into dst.
func (v Value) Decode(dst any) error {
	if err := json.Unmarshal(v.data, dst); err != nil {
		return fmt.Errorf("decode field %d as JSON: %w", v.id, err)
	}
	return nil
}
