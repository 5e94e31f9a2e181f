// Package shm maps region files and builds typed atomic views over them.
//
// It is the only package of fieldd that makes system calls on shared
// memory: it creates and reserves region files, maps them, waits and wakes
// on futex words, and passes file descriptors and peer credentials over
// unix sockets. Everything above it works on the byte slices it returns.
package shm

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// ErrNotSupported is returned on platforms without futexes, fd passing or
// shared file mappings.
var ErrNotSupported = errors.New("shm: not supported on this platform")

// ErrNoSpace is wrapped by [Create] when the file system cannot hold a
// region of the requested size.
var ErrNoSpace = errors.New("shm: not enough space for region")

// checkWord reports whether an 8-byte word at off lies inside b and is
// 8-byte aligned in memory, which atomic access on 32-bit platforms needs.
func checkWord(b []byte, off, n, size int) error {
	if off < 0 || n < 0 || off > len(b) || n > (len(b)-off)/size {
		return fmt.Errorf("shm: view of %d words at offset %d exceeds region of %d bytes", n, off, len(b))
	}
	if n == 0 {
		return nil
	}
	if addr := uintptr(unsafe.Pointer(&b[off])); addr%uintptr(size) != 0 {
		return fmt.Errorf("shm: offset %d is not %d-byte aligned", off, size)
	}
	return nil
}

// Uint64s returns n atomic 64-bit words starting at byte offset off of b.
// The words alias b: stores through them are seen by every process that
// maps the same region.
func Uint64s(b []byte, off, n int) ([]atomic.Uint64, error) {
	if err := checkWord(b, off, n, 8); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	return unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&b[off])), n), nil
}

// Uint64At returns the atomic 64-bit word at byte offset off of b.
func Uint64At(b []byte, off int) (*atomic.Uint64, error) {
	w, err := Uint64s(b, off, 1)
	if err != nil {
		return nil, err
	}
	return &w[0], nil
}

// Uint32At returns the atomic 32-bit word at byte offset off of b. Futex
// words are 32 bits wide.
func Uint32At(b []byte, off int) (*atomic.Uint32, error) {
	if err := checkWord(b, off, 1, 4); err != nil {
		return nil, err
	}
	return (*atomic.Uint32)(unsafe.Pointer(&b[off])), nil
}

// MustUint64s is [Uint64s] for offsets the caller has already validated
// against the layout. It panics on a bad offset, which is a bug in the
// layout code, not bad input.
func MustUint64s(b []byte, off, n int) []atomic.Uint64 {
	w, err := Uint64s(b, off, n)
	if err != nil {
		panic(err)
	}
	return w
}
