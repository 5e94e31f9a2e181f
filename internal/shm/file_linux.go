//go:build linux

package shm

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Create creates the region file at path, which must not exist, with mode 0600 and
// reserves size bytes of backing store with fallocate, so that touching any
// page of the mapping later cannot raise SIGBUS for lack of tmpfs space. A
// file system that cannot hold size bytes gives an error wrapping
// [ErrNoSpace] that names the needed and available sizes.
func Create(path string, size int64) (f *os.File, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create region %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()

	if err := Reserve(f, size); err != nil {
		return nil, fmt.Errorf("create region %s: %w", path, err)
	}
	return f, nil
}

// Reserve allocates size bytes of backing store for f.
func Reserve(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) {
		var st unix.Statfs_t
		avail := int64(-1)
		if unix.Fstatfs(int(f.Fd()), &st) == nil {
			avail = int64(st.Bavail) * int64(st.Bsize)
		}
		return fmt.Errorf("%w: need %d bytes, %d bytes available", ErrNoSpace, size, avail)
	}
	if errors.Is(err, unix.EOPNOTSUPP) {
		// Without fallocate, writing zeros is the only way to reserve pages.
		return writeZeros(f, size)
	}
	return fmt.Errorf("fallocate %d bytes: %w", size, err)
}

func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				return fmt.Errorf("%w: need %d bytes", ErrNoSpace, size)
			}
			return fmt.Errorf("reserve %d bytes: %w", size, err)
		}
	}
	return nil
}

// Mapping is a shared mapping of a whole region file.
type Mapping struct {
	m mmap.MMap
}

// Map maps the whole of f shared. A writable mapping needs f opened
// read-write; a read-only one works on a read-only fd, so a process given
// only such an fd cannot change the region.
func Map(f *os.File, writable bool) (*Mapping, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("map region: %w", err)
	}
	if st.Size() <= 0 {
		return nil, fmt.Errorf("map region %s: file is empty", f.Name())
	}
	prot := mmap.RDONLY
	if writable {
		prot = mmap.RDWR
	}
	m, err := mmap.MapRegion(f, int(st.Size()), prot, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("map region %s (%d bytes): %w", f.Name(), st.Size(), err)
	}
	return &Mapping{m: m}, nil
}

// Anonymous maps size bytes of zeroed memory shared with children forked
// later. Tests use it for atomics on memory outside the Go heap.
func Anonymous(size int) (*Mapping, error) {
	m, err := mmap.MapRegion(nil, size, mmap.RDWR, mmap.ANON, 0)
	if err != nil {
		return nil, fmt.Errorf("map %d anonymous bytes: %w", size, err)
	}
	return &Mapping{m: m}, nil
}

// Bytes returns the mapped memory. It is valid until [Mapping.Close].
func (m *Mapping) Bytes() []byte { return m.m }

// Close unmaps the region. Any view built over [Mapping.Bytes] must not be
// used afterwards.
func (m *Mapping) Close() error {
	if m == nil || m.m == nil {
		return nil
	}
	err := m.m.Unmap()
	m.m = nil
	return err
}

// OpenOwned opens the file at path without following a symbolic link and
// checks that this process's effective uid owns it and that group and
// others cannot write it. A directory that other users can write to (with
// the sticky bit) may hold files they planted; this keeps the daemon from
// trusting them.
func OpenOwned(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|unix.O_NOFOLLOW, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if ok && (int(sys.Uid) != os.Geteuid() || st.Mode().Perm()&0o022 != 0 || !st.Mode().IsRegular()) {
		f.Close()
		return nil, fmt.Errorf("%s is owned by uid %d with mode %s, want a regular file of uid %d not writable by others; remove it",
			path, sys.Uid, st.Mode(), os.Geteuid())
	}
	return f, nil
}
