//go:build linux

// Package procfs samples system and per-process statistics from a Linux
// /proc file system and returns them as fieldd fields: a path such as
// "cpu/total/user" mapped to a value in ASCII decimal text.
//
// The fields are cpu/{total,N}/{user,system,idle,iowait} in USER_HZ
// ticks since boot, cpu/total/busy_percent, mem/*_bytes from
// /proc/meminfo, load/{1m,5m,15m,running,total_tasks} from /proc/loadavg,
// and proc/pid/<PID>/{cpu_ticks,rss_bytes,comm} for each process. A comm
// value is the raw command name cut to 64 bytes, so it can contain any
// byte except NUL.
//
// The parse functions take file contents as bytes and do no I/O, so tests
// can run them on fixtures. Sampler does the I/O with raw system calls and
// reusable buffers, so once it has seen every CPU and process a Sample
// makes no heap allocations.
package procfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

// maxCommLen is the maximum length in bytes of a proc/pid/<PID>/comm value.
// Longer command names are truncated.
const maxCommLen = 64

// maxErrorLineLen is the maximum number of bytes of an offending line that
// an error message quotes.
const maxErrorLineLen = 80

// Field paths with fixed names.
const (
	pathCPUTotalUser   = "cpu/total/user"
	pathCPUTotalSystem = "cpu/total/system"
	pathCPUTotalIdle   = "cpu/total/idle"
	pathCPUTotalIowait = "cpu/total/iowait"
	pathCPUTotalBusy   = "cpu/total/busy_percent"

	pathLoad1      = "load/1m"
	pathLoad5      = "load/5m"
	pathLoad15     = "load/15m"
	pathLoadRun    = "load/running"
	pathLoadTotal  = "load/total_tasks"
	procPathPrefix = "proc/pid/"
)

// memFields lists the /proc/meminfo labels that Sample reports, with the
// field path of each.
var memFields = [...]struct{ label, path string }{
	{"MemTotal", "mem/total_bytes"},
	{"MemFree", "mem/free_bytes"},
	{"MemAvailable", "mem/available_bytes"},
	{"Buffers", "mem/buffers_bytes"},
	{"Cached", "mem/cached_bytes"},
	{"SwapTotal", "mem/swap_total_bytes"},
	{"SwapFree", "mem/swap_free_bytes"},
}

// Sampler reads /proc and reports its statistics as fields. It keeps CPU
// counters and process IDs between calls to Sample, to compute
// busy_percent and the list of exited processes. A Sampler is not safe
// for concurrent use.
type Sampler struct {
	root     string
	rootName []byte // root followed by a NUL byte, the form openat takes
	pageSize int64

	// Paths of the files in root, for error messages.
	statPath, meminfoPath, loadavgPath string

	buf     []byte // contents of the file read last
	dirents []byte // getdents64 records of the root directory
	name    []byte // NUL-terminated "<PID>/stat" for openat
	values  []byte // backing array of the values stored in dst

	cpus     []cpuStat
	cpuPaths []cpuPaths
	pids     []int

	procs      map[int]*procEntry
	generation uint64 // incremented by each Sample, stored in procEntry.seen
	gone       []string

	prevTotal     cpuTimes
	havePrevTotal bool
	busyPercent   float64
	haveBusy      bool
}

// cpuPaths contains the field paths of one "cpuN" line of /proc/stat.
type cpuPaths struct {
	num                        int
	user, system, idle, iowait string
}

// procEntry contains the field paths of one process, built when Sample
// first lists the process and reused until it exits.
type procEntry struct {
	prefix   string // "proc/pid/<PID>", the prefix reported in gone
	statPath string // path of the stat file, for error messages
	cpuTicks string
	rssBytes string
	comm     string
	seen     uint64 // Sampler.generation of the last Sample that listed the process
}

// NewSampler returns a Sampler that reads the /proc file system mounted at
// root, normally "/proc".
func NewSampler(root string) *Sampler {
	return &Sampler{
		root:        root,
		rootName:    append([]byte(root), 0),
		pageSize:    int64(os.Getpagesize()),
		statPath:    filepath.Join(root, "stat"),
		meminfoPath: filepath.Join(root, "meminfo"),
		loadavgPath: filepath.Join(root, "loadavg"),
		buf:         make([]byte, 16<<10),
		dirents:     make([]byte, 16<<10),
		procs:       make(map[int]*procEntry),
	}
}

// Sample clears dst, then stores in it the current value of every field.
// The first call leaves out cpu/total/busy_percent, which needs two
// readings of /proc/stat.
//
// The values in dst share a buffer that the next call to Sample
// overwrites, so a caller that keeps a value past that call must copy it.
// The returned gone slice lists the prefix "proc/pid/<PID>" of each
// process that an earlier call listed and this call did not, in no
// particular order, and the next call reuses it too. After a failed call,
// gone can name a process whose fields the caller never received.
//
// A process that exits while Sample reads it is left out without an
// error. When err is not nil, dst is incomplete and gone is nil.
func (s *Sampler) Sample(dst map[string][]byte) (gone []string, err error) {
	if dst == nil {
		return nil, errors.New("procfs: Sample: dst is a nil map, expected a non-nil map to fill")
	}
	clear(dst)
	s.values = s.values[:0]
	s.generation++

	rootFD, err := openat(atFDCWD, s.rootName, syscall.O_DIRECTORY)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: s.root, Err: err}
	}
	defer syscall.Close(rootFD)

	if err := s.sampleStat(rootFD, dst); err != nil {
		return nil, err
	}
	if err := s.sampleMeminfo(rootFD, dst); err != nil {
		return nil, err
	}
	if err := s.sampleLoadavg(rootFD, dst); err != nil {
		return nil, err
	}
	if err := s.sampleProcesses(rootFD, dst); err != nil {
		return nil, err
	}
	return s.collectGone(), nil
}

// sampleStat stores the cpu/ fields from <root>/stat.
func (s *Sampler) sampleStat(rootFD int, dst map[string][]byte) error {
	b, err := s.readFile(rootFD, "stat")
	if err != nil {
		return err
	}
	total, cpus, err := parseStat(b, s.statPath, s.cpus)
	s.cpus = cpus
	if err != nil {
		return err
	}

	s.putUint(dst, pathCPUTotalUser, total.user)
	s.putUint(dst, pathCPUTotalSystem, total.system)
	s.putUint(dst, pathCPUTotalIdle, total.idle)
	s.putUint(dst, pathCPUTotalIowait, total.iowait)
	for i, cpu := range cpus {
		paths := s.cpuPathsAt(i, cpu.num)
		s.putUint(dst, paths.user, cpu.times.user)
		s.putUint(dst, paths.system, cpu.times.system)
		s.putUint(dst, paths.idle, cpu.times.idle)
		s.putUint(dst, paths.iowait, cpu.times.iowait)
	}

	// The baseline stays put while no tick elapses, so two samples taken
	// within one tick repeat the last percentage instead of dividing by
	// zero. A total that decreased, as after a CPU went offline, becomes
	// the new baseline.
	if percent, ok := busyPercent(s.prevTotal, total); ok && s.havePrevTotal {
		s.busyPercent = percent
		s.haveBusy = true
		s.prevTotal = total
	} else if !s.havePrevTotal || total.sum() < s.prevTotal.sum() {
		s.prevTotal = total
		s.havePrevTotal = true
	}
	if s.haveBusy {
		s.putFloat(dst, pathCPUTotalBusy, s.busyPercent)
	}
	return nil
}

// cpuPathsAt returns the field paths for CPU number num, reported on the
// i-th "cpuN" line. It builds new paths only when the set of CPUs changes.
func (s *Sampler) cpuPathsAt(i, num int) *cpuPaths {
	if i == len(s.cpuPaths) {
		s.cpuPaths = append(s.cpuPaths, cpuPaths{num: -1})
	}
	paths := &s.cpuPaths[i]
	if paths.num != num {
		prefix := "cpu/" + strconv.Itoa(num) + "/"
		*paths = cpuPaths{
			num:    num,
			user:   prefix + "user",
			system: prefix + "system",
			idle:   prefix + "idle",
			iowait: prefix + "iowait",
		}
	}
	return paths
}

// busyPercent returns the share of CPU time, from 0 to 100 and rounded to
// two decimals, that was not idle or iowait between prev and cur. It
// returns false when no tick elapsed between them.
//
// NOTE: /proc/stat counts in USER_HZ ticks, 100 per second on most
// architectures according to proc_stat(5), so between samples taken 10 ms
// apart about one tick per CPU elapses and the percentage moves in coarse
// steps.
func busyPercent(prev, cur cpuTimes) (float64, bool) {
	prevAll, curAll := prev.sum(), cur.sum()
	if curAll <= prevAll {
		return 0, false
	}
	elapsed := curAll - prevAll

	// proc_stat(5) warns that iowait can decrease, so the idle delta is
	// clamped to [0, elapsed].
	var idle uint64
	prevIdle, curIdle := prev.idle+prev.iowait, cur.idle+cur.iowait
	if curIdle > prevIdle {
		idle = min(curIdle-prevIdle, elapsed)
	}
	percent := 100 * float64(elapsed-idle) / float64(elapsed)
	return math.Round(percent*100) / 100, true
}

// sampleMeminfo stores the mem/ fields from <root>/meminfo.
func (s *Sampler) sampleMeminfo(rootFD int, dst map[string][]byte) error {
	b, err := s.readFile(rootFD, "meminfo")
	if err != nil {
		return err
	}
	info, err := parseMeminfo(b, s.meminfoPath)
	if err != nil {
		return err
	}
	for i, field := range memFields {
		if info.present[i] {
			s.putUint(dst, field.path, info.bytes[i])
		}
	}
	return nil
}

// sampleLoadavg stores the load/ fields from <root>/loadavg.
func (s *Sampler) sampleLoadavg(rootFD int, dst map[string][]byte) error {
	b, err := s.readFile(rootFD, "loadavg")
	if err != nil {
		return err
	}
	load, err := parseLoadavg(b, s.loadavgPath)
	if err != nil {
		return err
	}
	s.putFloat(dst, pathLoad1, load.load1)
	s.putFloat(dst, pathLoad5, load.load5)
	s.putFloat(dst, pathLoad15, load.load15)
	s.putUint(dst, pathLoadRun, load.running)
	s.putUint(dst, pathLoadTotal, load.total)
	return nil
}

// sampleProcesses stores the proc/pid/ fields of every process directory
// in root and marks each process as seen in this generation.
func (s *Sampler) sampleProcesses(rootFD int, dst map[string][]byte) error {
	pids, err := s.listPIDs(rootFD)
	s.pids = pids
	if err != nil {
		return err
	}

	for _, pid := range pids {
		s.name = strconv.AppendInt(s.name[:0], int64(pid), 10)
		s.name = append(s.name, "/stat\x00"...)
		b, err := s.read(rootFD, s.name)
		if err == syscall.ENOENT || err == syscall.ESRCH {
			// The process exited after listPIDs saw its directory.
			continue
		}
		entry := s.procEntry(pid)
		if err != nil {
			return &os.PathError{Op: "read", Path: entry.statPath, Err: err}
		}
		stat, err := parsePidStat(b, entry.statPath)
		if err != nil {
			return err
		}
		if stat.pid != pid {
			return fmt.Errorf("parse %s line 1: pid %d, expected %d from the directory name", entry.statPath, stat.pid, pid)
		}
		entry.seen = s.generation

		s.putUint(dst, entry.cpuTicks, stat.utime+stat.stime)
		s.putUint(dst, entry.rssBytes, uint64(max(stat.rssPages, 0))*uint64(s.pageSize))
		comm := stat.comm[:min(len(stat.comm), maxCommLen)]
		start := len(s.values)
		s.values = append(s.values, comm...)
		dst[entry.comm] = s.values[start:len(s.values):len(s.values)]
	}
	return nil
}

// procEntry returns the entry for pid, creating it on first use.
func (s *Sampler) procEntry(pid int) *procEntry {
	if entry, ok := s.procs[pid]; ok {
		return entry
	}
	prefix := procPathPrefix + strconv.Itoa(pid)
	entry := &procEntry{
		prefix:   prefix,
		statPath: filepath.Join(s.root, strconv.Itoa(pid), "stat"),
		cpuTicks: prefix + "/cpu_ticks",
		rssBytes: prefix + "/rss_bytes",
		comm:     prefix + "/comm",
	}
	s.procs[pid] = entry
	return entry
}

// collectGone removes the processes that this Sample did not see and
// returns their prefixes.
func (s *Sampler) collectGone() []string {
	s.gone = s.gone[:0]
	for pid, entry := range s.procs {
		if entry.seen != s.generation {
			s.gone = append(s.gone, entry.prefix)
			delete(s.procs, pid)
		}
	}
	return s.gone
}

// atFDCWD is AT_FDCWD from <fcntl.h>: a dirfd that makes openat resolve a
// relative path from the working directory. The syscall package does not
// export it.
const atFDCWD = -100

// Offsets of the fields of a getdents64 record (struct linux_dirent64).
const (
	direntReclenOffset = int(unsafe.Offsetof(syscall.Dirent{}.Reclen))
	direntTypeOffset   = int(unsafe.Offsetof(syscall.Dirent{}.Type))
	direntNameOffset   = int(unsafe.Offsetof(syscall.Dirent{}.Name))
)

// listPIDs appends to s.pids[:0] the process IDs named by the directory
// entries of rootFD and returns the result. It parses the getdents64
// records itself because syscall.ParseDirent allocates a string per name.
func (s *Sampler) listPIDs(rootFD int) ([]int, error) {
	pids := s.pids[:0]
	for {
		n, err := syscall.Getdents(rootFD, s.dirents)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return pids, &os.PathError{Op: "getdents", Path: s.root, Err: err}
		}
		if n == 0 {
			return pids, nil
		}
		records := s.dirents[:n]
		for len(records) > 0 {
			if len(records) < direntNameOffset {
				return pids, fmt.Errorf("read directory %s: truncated getdents64 record", s.root)
			}
			reclen := int(binary.NativeEndian.Uint16(records[direntReclenOffset:]))
			if reclen < direntNameOffset || reclen > len(records) {
				return pids, fmt.Errorf("read directory %s: invalid getdents64 record length %d", s.root, reclen)
			}
			typ := records[direntTypeOffset]
			name := records[direntNameOffset:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			records = records[reclen:]

			if typ != syscall.DT_DIR && typ != syscall.DT_UNKNOWN {
				continue
			}
			if pid, ok := parsePIDName(name); ok {
				pids = append(pids, pid)
			}
		}
	}
}

// parsePIDName returns the process ID that a /proc directory name
// spells, or false when the name is not a process ID, such as "self".
func parsePIDName(name []byte) (int, bool) {
	pid, ok := parseSmallUint(name)
	return pid, ok && pid > 0
}

// parseSmallUint parses a decimal number of 1 to 9 digits with no sign
// and no leading zero. Nine digits cover every Linux PID and CPU number.
func parseSmallUint(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// readFile reads the file name in the directory rootFD, returning an
// error that names the full path.
func (s *Sampler) readFile(rootFD int, name string) ([]byte, error) {
	s.name = append(append(s.name[:0], name...), 0)
	b, err := s.read(rootFD, s.name)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: filepath.Join(s.root, name), Err: err}
	}
	return b, nil
}

// read returns the whole contents of the file at the NUL-terminated path
// name relative to dirFD. The result aliases s.buf, which read grows as
// needed, so it is valid until the next read. Errors are syscall.Errno.
func (s *Sampler) read(dirFD int, name []byte) ([]byte, error) {
	fd, err := openat(dirFD, name, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)

	n := 0
	for {
		if n == len(s.buf) {
			s.buf = append(s.buf, make([]byte, len(s.buf))...)
		}
		m, err := syscall.Read(fd, s.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return s.buf[:n], nil
		}
		n += m
	}
}

// openat opens the NUL-terminated path name relative to dirFD for
// reading. It calls openat(2) directly because syscall.Openat copies the
// path into a new allocation on every call.
func openat(dirFD int, name []byte, flags int) (int, error) {
	if len(name) == 0 || name[len(name)-1] != 0 {
		return -1, syscall.EINVAL
	}
	for {
		fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirFD),
			uintptr(unsafe.Pointer(&name[0])),
			uintptr(flags|syscall.O_RDONLY|syscall.O_CLOEXEC), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(fd), nil
	}
}

// putUint stores v in dst[path] as decimal text.
func (s *Sampler) putUint(dst map[string][]byte, path string, v uint64) {
	start := len(s.values)
	s.values = strconv.AppendUint(s.values, v, 10)
	dst[path] = s.values[start:len(s.values):len(s.values)]
}

// putFloat stores v in dst[path] in the shortest 'g' format that
// strconv.ParseFloat reads back as v.
func (s *Sampler) putFloat(dst map[string][]byte, path string, v float64) {
	start := len(s.values)
	s.values = strconv.AppendFloat(s.values, v, 'g', -1, 64)
	dst[path] = s.values[start:len(s.values):len(s.values)]
}

// cpuTimes contains the counters of one cpu line of /proc/stat, in
// USER_HZ ticks since boot. The guest columns are left out because Linux
// adds guest time to user and nice as well (account_guest_time in
// kernel/sched/cputime.c).
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal uint64
}

// sum returns the total of all counters.
func (t cpuTimes) sum() uint64 {
	return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal
}

// cpuStat contains one "cpuN" line of /proc/stat.
type cpuStat struct {
	num   int // N from the line's label
	times cpuTimes
}

// cpuFieldNames names the columns of a cpu line in order, for errors.
var cpuFieldNames = [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

// minCPUFields is the number of columns, user through iowait, that a cpu
// line must have. Absent later columns count as 0.
const minCPUFields = 5

// parseStat parses the contents of /proc/stat. It returns the aggregate
// "cpu" line and appends one entry per "cpuN" line to cpus[:0]. Lines
// with other labels are skipped. name is the file path used in errors.
func parseStat(b []byte, name string, cpus []cpuStat) (total cpuTimes, _ []cpuStat, err error) {
	cpus = cpus[:0]
	haveTotal := false
	for lineNum := 1; len(b) > 0; lineNum++ {
		var line []byte
		line, b = cutLine(b)
		if !bytes.HasPrefix(line, []byte("cpu")) {
			continue
		}

		label, rest := nextField(line)
		times, err := parseCPUTimes(rest)
		if err != nil {
			return cpuTimes{}, cpus, lineError(name, lineNum, line, err)
		}
		if len(label) == len("cpu") {
			total = times
			haveTotal = true
			continue
		}
		num, ok := parseSmallUint(label[len("cpu"):])
		if !ok {
			return cpuTimes{}, cpus, lineError(name, lineNum, line, errors.New("invalid CPU label, expected cpu or cpuN"))
		}
		cpus = append(cpus, cpuStat{num: num, times: times})
	}
	if !haveTotal {
		return cpuTimes{}, cpus, fmt.Errorf("parse %s: no aggregate \"cpu\" line", name)
	}
	return total, cpus, nil
}

// parseCPUTimes parses the tick columns that follow the label of a cpu
// line. Columns after steal are not read.
func parseCPUTimes(fields []byte) (cpuTimes, error) {
	var v [len(cpuFieldNames)]uint64
	n := 0
	for n < len(v) {
		var field []byte
		field, fields = nextField(fields)
		if field == nil {
			break
		}
		x, err := strconv.ParseUint(string(field), 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("%s: %w", cpuFieldNames[n], err)
		}
		v[n] = x
		n++
	}
	if n < minCPUFields {
		return cpuTimes{}, fmt.Errorf("%d tick columns, expected at least %d", n, minCPUFields)
	}
	return cpuTimes{
		user: v[0], nice: v[1], system: v[2], idle: v[3],
		iowait: v[4], irq: v[5], softirq: v[6], steal: v[7],
	}, nil
}

// memInfo contains the /proc/meminfo values listed in memFields, in bytes.
type memInfo struct {
	bytes   [len(memFields)]uint64
	present [len(memFields)]bool
}

// parseMeminfo parses the contents of /proc/meminfo. Labels that are not
// in memFields are skipped. Of those in memFields only MemTotal must be
// present, and the others are reported when present. name is the file
// path used in errors.
func parseMeminfo(b []byte, name string) (memInfo, error) {
	var info memInfo
	for lineNum := 1; len(b) > 0; lineNum++ {
		var line []byte
		line, b = cutLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		label := line[:colon]
		index := -1
		for i, field := range memFields {
			if string(label) == field.label {
				index = i
				break
			}
		}
		if index < 0 {
			continue
		}

		kB, err := parseKB(line[colon+1:])
		if err != nil {
			return memInfo{}, lineError(name, lineNum, line, err)
		}
		info.bytes[index] = kB * 1024
		info.present[index] = true
	}
	if !info.present[0] {
		return memInfo{}, fmt.Errorf("parse %s: no %s line", name, memFields[0].label)
	}
	return info, nil
}

// parseKB parses a meminfo value of the form "  1234 kB".
func parseKB(b []byte) (uint64, error) {
	value, rest := nextField(b)
	unit, rest := nextField(rest)
	if extra, _ := nextField(rest); extra != nil || string(unit) != "kB" {
		return 0, errors.New("invalid value, expected a number followed by kB")
	}
	kB, err := strconv.ParseUint(string(value), 10, 64)
	if err != nil {
		return 0, err
	}
	if kB > math.MaxUint64/1024 {
		return 0, fmt.Errorf("%d kB overflows a 64-bit byte count", kB)
	}
	return kB, nil
}

// loadAvg contains the contents of /proc/loadavg.
type loadAvg struct {
	load1, load5, load15 float64 // run-queue averages over 1, 5 and 15 minutes
	running, total       uint64  // runnable tasks and all tasks
}

// parseLoadavg parses the first line of /proc/loadavg, such as
// "0.04 0.10 0.05 1/89 3079". name is the file path used in errors.
func parseLoadavg(b []byte, name string) (loadAvg, error) {
	line, _ := cutLine(b)
	var averages [3]float64
	rest := line
	for i := range averages {
		var field []byte
		field, rest = nextField(rest)
		if field == nil {
			return loadAvg{}, lineError(name, 1, line, fmt.Errorf("%d fields, expected at least 4", i))
		}
		v, err := strconv.ParseFloat(string(field), 64)
		if err != nil {
			return loadAvg{}, lineError(name, 1, line, err)
		}
		if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return loadAvg{}, lineError(name, 1, line, fmt.Errorf("load average %s, expected a finite non-negative number", field))
		}
		averages[i] = v
	}
	load := loadAvg{load1: averages[0], load5: averages[1], load15: averages[2]}

	tasks, _ := nextField(rest)
	running, total, ok := bytes.Cut(tasks, []byte("/"))
	if !ok {
		return loadAvg{}, lineError(name, 1, line, errors.New("no running/total task field"))
	}
	var err error
	if load.running, err = strconv.ParseUint(string(running), 10, 64); err != nil {
		return loadAvg{}, lineError(name, 1, line, fmt.Errorf("running tasks: %w", err))
	}
	if load.total, err = strconv.ParseUint(string(total), 10, 64); err != nil {
		return loadAvg{}, lineError(name, 1, line, fmt.Errorf("total tasks: %w", err))
	}
	return load, nil
}

// pidStat contains the fields of /proc/[pid]/stat that Sample reports.
type pidStat struct {
	pid          int
	comm         []byte // command name without the parentheses; aliases the parsed bytes
	utime, stime uint64 // clock ticks in user and kernel mode
	rssPages     int64  // resident set size in pages
}

// Positions of /proc/[pid]/stat fields, counted from the state field
// that follows the command name. proc_pid_stat(5) numbers the fields
// state, utime, stime and rss 3, 14, 15 and 24.
const (
	pidStatUtime  = 14 - 3
	pidStatStime  = 15 - 3
	pidStatRSS    = 24 - 3
	pidStatFields = pidStatRSS + 1
)

// parsePidStat parses the contents of /proc/[pid]/stat. The command name
// can contain spaces, parentheses and newlines, so it is taken to end at
// the last ')'. name is the file path used in errors, which always give
// line 1 because the file is one record.
func parsePidStat(b []byte, name string) (pidStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return pidStat{}, lineError(name, 1, b, errors.New("no command name in parentheses"))
	}
	pidText, ok := bytes.CutSuffix(b[:open], []byte(" "))
	if !ok {
		return pidStat{}, lineError(name, 1, b, errors.New("no space between pid and command name"))
	}
	pid, ok := parsePIDName(pidText)
	if !ok {
		return pidStat{}, lineError(name, 1, b, fmt.Errorf("invalid pid %q", pidText))
	}

	stat := pidStat{pid: pid, comm: b[open+1 : end]}
	rest := b[end+1:]
	for i := 0; i < pidStatFields; i++ {
		var field []byte
		field, rest = nextField(rest)
		if field == nil {
			return pidStat{}, lineError(name, 1, b, fmt.Errorf("%d fields after the command name, expected at least %d", i, pidStatFields))
		}
		var err error
		switch i {
		case pidStatUtime:
			stat.utime, err = strconv.ParseUint(string(field), 10, 64)
		case pidStatStime:
			stat.stime, err = strconv.ParseUint(string(field), 10, 64)
		case pidStatRSS:
			stat.rssPages, err = strconv.ParseInt(string(field), 10, 64)
		}
		if err != nil {
			return pidStat{}, lineError(name, 1, b, err)
		}
	}
	return stat, nil
}

// lineError returns the error for line lineNum of the file name, quoting
// at most maxErrorLineLen bytes of the line.
func lineError(name string, lineNum int, line []byte, err error) error {
	if len(line) > maxErrorLineLen {
		line = line[:maxErrorLineLen]
	}
	return fmt.Errorf("parse %s line %d: %q: %w", name, lineNum, line, err)
}

// cutLine returns the first line of b without its '\n' and the bytes
// after it.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// nextField returns the first run of bytes in b that are not spaces,
// tabs or newlines, and the bytes after it. field is nil when b has none.
func nextField(b []byte) (field, rest []byte) {
	start := 0
	for start < len(b) && isBlank(b[start]) {
		start++
	}
	if start == len(b) {
		return nil, nil
	}
	end := start
	for end < len(b) && !isBlank(b[end]) {
		end++
	}
	return b[start:end], b[end:]
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n'
}
