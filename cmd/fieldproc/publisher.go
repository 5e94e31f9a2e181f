package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldd/fieldd/internal/procfs"
	"github.com/fieldd/fieldd/pkg/client"
)

// procPrefix is the prefix of per-process fields, and procPidPrefix the
// prefix that the sampler reports in its gone list.
const (
	procPrefix    = "proc"
	procPidPrefix = "proc/pid/"
)

// maxLoggedErrors is how many publish errors are logged one by one; later
// ones are only counted, and the count appears in the progress lines.
const maxLoggedErrors = 10

// fieldState is the publisher's record of one field path.
type fieldState struct {
	id      client.FieldID
	last    []byte // bytes published last, a copy; the sampler reuses its buffer
	live    bool   // published since the start or since the last retire
	retired bool   // retired and not published since
}

// publisher turns samples of /proc into publishes: it resolves new paths
// to field IDs in one batch per sample, publishes values that changed, and
// retires the fields of processes that exited.
type publisher struct {
	c       *client.Client
	w       *client.Writer
	sampler *procfs.Sampler
	root    string // the proc file system's mount point
	noProcs bool
	log     *log.Logger

	// minSamples is how many samples in a row must show a process before
	// its fields are published; 0 or 1 publishes every process at once.
	minSamples uint64
	firstSeen  map[string]uint64 // sample number a pid prefix first appeared in

	sample   map[string][]byte        // reused by every Sample
	fields   map[string]*fieldState   // by path
	procs    map[string][]*fieldState // by "proc/pid/<PID>"
	skipped  map[string]bool          // paths the daemon had no field ID left for
	newPaths []string

	samples, publishes, retires, errors uint64
	registryFull                        bool
	disconnected                        bool // the daemon connection is gone
}

func newPublisher(c *client.Client, w *client.Writer, root string, noProcs bool, logger *log.Logger) *publisher {
	return &publisher{
		c:       c,
		w:       w,
		sampler: procfs.NewSampler(root),
		root:    root,
		noProcs: noProcs,
		log:     logger,
		sample:  make(map[string][]byte),
		fields:  make(map[string]*fieldState),
		procs:   make(map[string][]*fieldState),
		skipped: make(map[string]bool),

		firstSeen: make(map[string]uint64),
	}
}

// running reports whether the process of a per-process field path still
// has a directory under the proc root.
func (p *publisher) running(path string) bool {
	rest, ok := strings.CutPrefix(path, procPidPrefix)
	if !ok {
		return false
	}
	pid, _, _ := strings.Cut(rest, "/")
	_, err := os.Stat(filepath.Join(p.root, pid))
	return err == nil
}

// dropYoung removes from the sample the fields of processes seen in fewer
// than minSamples samples. Every path gets a permanent field ID, so
// processes that live a few milliseconds would otherwise fill the field
// table on a host that starts many of them.
func (p *publisher) dropYoung() {
	if p.minSamples <= 1 {
		return
	}
	for path := range p.sample {
		if !strings.HasPrefix(path, procPidPrefix) {
			continue
		}
		prefix := path[:strings.LastIndexByte(path, '/')]
		first, ok := p.firstSeen[prefix]
		if !ok {
			first = p.samples
			p.firstSeen[prefix] = first
		}
		if p.samples-first+1 < p.minSamples {
			delete(p.sample, path)
		}
	}
}

// step takes one sample and publishes what changed since the last one.
// It returns an error only when the writer or the connection failed;
// sampling and publish errors are counted and logged.
func (p *publisher) step(ctx context.Context) error {
	gone, err := p.sampler.Sample(p.sample)
	if err != nil {
		p.fail("sample /proc: %v", err)
		return nil
	}
	p.samples++
	p.dropYoung()

	if err := p.resolve(ctx); err != nil {
		return err
	}
	for path, value := range p.sample {
		f := p.fields[path]
		if f == nil {
			continue // skipped: --no-procs or no field ID left
		}
		if f.live && bytes.Equal(f.last, value) {
			continue
		}
		if err := p.w.Publish(f.id, value); err != nil {
			if errors.Is(err, client.ErrClosed) {
				return err
			}
			p.fail("publish %s: %v", path, err)
			continue
		}
		f.last = append(f.last[:0], value...)
		f.live, f.retired = true, false
		p.publishes++
	}

	for _, prefix := range gone {
		delete(p.firstSeen, prefix)
		if err := p.retire(prefix); err != nil {
			return err
		}
	}
	return nil
}

// retire marks the fields of an exited process gone. A process that shows
// up again with the same pid is published anew by the next step, because
// its fields are no longer live.
func (p *publisher) retire(prefix string) error {
	for _, f := range p.procs[prefix] {
		if f.retired {
			continue
		}
		if err := p.w.Retire(f.id); err != nil {
			if errors.Is(err, client.ErrClosed) {
				return err
			}
			p.fail("retire %s: %v", prefix, err)
			continue
		}
		f.live, f.retired = false, true
		f.last = f.last[:0]
		p.retires++
	}
	return nil
}

// resolve gets the field IDs of the paths in the current sample that have
// none yet, all in one request.
func (p *publisher) resolve(ctx context.Context) error {
	p.newPaths = p.newPaths[:0]
	for path := range p.sample {
		if _, ok := p.fields[path]; ok || p.skipped[path] {
			continue
		}
		if p.noProcs && strings.HasPrefix(path, procPidPrefix) {
			continue
		}
		p.newPaths = append(p.newPaths, path)
	}
	if len(p.newPaths) == 0 || p.disconnected {
		return nil
	}

	ids, err := p.c.FieldIDs(ctx, p.newPaths...)
	if isRegistryFull(err) {
		return p.resolveEach(ctx)
	}
	if errors.Is(err, client.ErrDisconnected) {
		// The daemon restarted. Publishing goes on through shared memory,
		// but new paths need IDs from it, so new processes are left out.
		p.disconnected = true
		p.log.Printf("fieldd restarted: existing fields keep being published; restart fieldproc to publish new processes")
		return nil
	}
	if err != nil {
		return fmt.Errorf("get field IDs: %w", err)
	}
	for i, path := range p.newPaths {
		p.add(path, ids[i])
	}
	return nil
}

// resolveEach gets field IDs one path at a time after a batch hit the
// daemon's field limit, so the paths that still fit get their IDs and the
// rest are skipped from now on.
func (p *publisher) resolveEach(ctx context.Context) error {
	if !p.registryFull {
		p.registryFull = true
		p.log.Printf("fieldd has no field IDs left (fieldd --max-fields): new paths are skipped")
	}
	for _, path := range p.newPaths {
		id, err := p.c.FieldID(ctx, path)
		if isRegistryFull(err) {
			p.skipped[path] = true
			continue
		}
		if err != nil {
			return fmt.Errorf("get field ID of %s: %w", path, err)
		}
		p.add(path, id)
	}
	return nil
}

func (p *publisher) add(path string, id client.FieldID) {
	f := &fieldState{id: id}
	p.fields[path] = f
	if strings.HasPrefix(path, procPidPrefix) {
		if i := strings.LastIndexByte(path, '/'); i > len(procPidPrefix) {
			prefix := path[:i]
			p.procs[prefix] = append(p.procs[prefix], f)
		}
	}
}

func isRegistryFull(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Code == client.CodeLimit
}

// retireStale retires the per-process fields that an earlier run left
// live for processes that are gone now. It runs after the first step. A
// process that still runs keeps its fields, even one that --min-age has
// not let this run publish yet.
func (p *publisher) retireStale(ctx context.Context) error {
	list, err := p.c.ListFields(ctx, procPrefix)
	if err != nil {
		return fmt.Errorf("list earlier per-process fields: %w", err)
	}
	for _, info := range list {
		if _, ok := p.fields[info.Path]; ok || info.Version == 0 || p.running(info.Path) {
			continue
		}
		v, err := p.c.Read(info.ID)
		if err != nil {
			p.fail("read %s: %v", info.Path, err)
			continue
		}
		if v.Gone() {
			continue
		}
		if err := p.w.Retire(info.ID); err != nil {
			if errors.Is(err, client.ErrClosed) {
				return err
			}
			p.fail("retire %s: %v", info.Path, err)
			continue
		}
		p.retires++
	}
	return nil
}

// fail counts an error and logs the first maxLoggedErrors of them.
func (p *publisher) fail(format string, args ...any) {
	p.errors++
	if p.errors <= maxLoggedErrors {
		p.log.Printf(format, args...)
	}
	if p.errors == maxLoggedErrors {
		p.log.Printf("further errors are counted, not logged")
	}
}

// liveFields returns how many fields hold a published value that is not
// retired.
func (p *publisher) liveFields() int {
	n := 0
	for _, f := range p.fields {
		if f.live {
			n++
		}
	}
	return n
}
