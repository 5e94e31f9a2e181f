//go:build linux

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pidStatLine returns a /proc/[pid]/stat line in the kernel's format, with
// realistic values in the fields that parsePidStat does not read.
func pidStatLine(pid int, comm string, utime, stime uint64, rssPages int64) string {
	return fmt.Sprintf("%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 1 0 100 1000000 %d "+
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		pid, comm, pid, pid, utime, stime, rssPages)
}

// checkFieldPath returns an error unless path is a valid fieldd field
// path: at most 256 bytes of non-empty '/'-separated segments made of
// [A-Za-z0-9_.-].
func checkFieldPath(path string) error {
	if len(path) > 256 {
		return fmt.Errorf("path %q is %d bytes, longer than 256", path, len(path))
	}
	for segment := range strings.SplitSeq(path, "/") {
		if segment == "" {
			return fmt.Errorf("path %q has an empty segment", path)
		}
		for _, c := range []byte(segment) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '_' || c == '.' || c == '-'
			if !ok {
				return fmt.Errorf("path %q contains byte %q outside [A-Za-z0-9_.-]", path, c)
			}
		}
	}
	return nil
}

func TestCheckFieldPath(t *testing.T) {
	for _, path := range []string{"cpu/total/user", "proc/pid/1/comm", "a.b-c_d"} {
		if err := checkFieldPath(path); err != nil {
			t.Errorf("checkFieldPath(%q) = %v, expected nil", path, err)
		}
	}
	for _, path := range []string{"", "/cpu", "cpu/", "cpu//user", "cpu/to tal", "cpu/(x)", strings.Repeat("a", 257)} {
		if err := checkFieldPath(path); err == nil {
			t.Errorf("checkFieldPath(%q) = nil, expected an error", path)
		}
	}
}

func TestParsePidStat(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  pidStat
	}{
		{
			name:  "plain",
			input: pidStatLine(1234, "bash", 15, 7, 250),
			want:  pidStat{pid: 1234, comm: []byte("bash"), utime: 15, stime: 7, rssPages: 250},
		},
		{
			name:  "comm with spaces and parentheses",
			input: pidStatLine(42, "my (weird) proc", 1, 2, 3),
			want:  pidStat{pid: 42, comm: []byte("my (weird) proc"), utime: 1, stime: 2, rssPages: 3},
		},
		{
			name:  "comm imitating the fields",
			input: pidStatLine(7, "x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 (", 100, 200, 300),
			want: pidStat{pid: 7, comm: []byte("x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 ("),
				utime: 100, stime: 200, rssPages: 300},
		},
		{
			name:  "comm with newline",
			input: pidStatLine(8, "two\nlines", 1, 1, 1),
			want:  pidStat{pid: 8, comm: []byte("two\nlines"), utime: 1, stime: 1, rssPages: 1},
		},
		{
			name:  "empty comm",
			input: pidStatLine(9, "", 0, 0, 0),
			want:  pidStat{pid: 9, comm: []byte{}, utime: 0, stime: 0, rssPages: 0},
		},
		{
			name:  "negative rss",
			input: pidStatLine(10, "kworker/0:1", 5, 6, -1),
			want:  pidStat{pid: 10, comm: []byte("kworker/0:1"), utime: 5, stime: 6, rssPages: -1},
		},
		{
			name:  "no trailing newline, exactly enough fields",
			input: "11 (short) S 1 11 11 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 100 1000 5",
			want:  pidStat{pid: 11, comm: []byte("short"), utime: 3, stime: 4, rssPages: 5},
		},
		{
			name:  "maximum counters",
			input: pidStatLine(12, "big", 18446744073709551615, 0, 9223372036854775807),
			want:  pidStat{pid: 12, comm: []byte("big"), utime: 18446744073709551615, rssPages: 9223372036854775807},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePidStat([]byte(tt.input), "/proc/x/stat")
			if err != nil {
				t.Fatalf("parsePidStat: %v", err)
			}
			if got.pid != tt.want.pid {
				t.Errorf("pid = %d, expected %d", got.pid, tt.want.pid)
			}
			if !bytes.Equal(got.comm, tt.want.comm) {
				t.Errorf("comm = %q, expected %q", got.comm, tt.want.comm)
			}
			if got.utime != tt.want.utime {
				t.Errorf("utime = %d, expected %d", got.utime, tt.want.utime)
			}
			if got.stime != tt.want.stime {
				t.Errorf("stime = %d, expected %d", got.stime, tt.want.stime)
			}
			if got.rssPages != tt.want.rssPages {
				t.Errorf("rssPages = %d, expected %d", got.rssPages, tt.want.rssPages)
			}
		})
	}
}

func TestParsePidStatErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string // substring of the error after the file and line prefix
	}{
		{"empty", "", "no command name"},
		{"no parentheses", "1 bash S 1 1 1", "no command name"},
		{"no closing parenthesis", "1 (bash S 1 1 1", "no command name"},
		{"closing before opening", "1 )bash( S 1", "no command name"},
		{"no pid", "(bash) S 1", "no space between pid"},
		{"no space before comm", "1(bash) S 1", "no space between pid"},
		{"pid not a number", "abc (bash) S 1", "invalid pid"},
		{"pid zero", pidStatLine(0, "x", 1, 1, 1), "invalid pid"},
		{"pid with leading zero", "01 (x) S", "invalid pid"},
		{"too few fields", "1 (bash) S 1 1 1 0 -1 0 0 0 0 0 3 4", "13 fields after the command name, expected at least 22"},
		{"utime not a number", strings.Replace(pidStatLine(1, "x", 1, 2, 3), " 1 2 0 0 20", " x 2 0 0 20", 1), "invalid syntax"},
		{"stime out of range", strings.Replace(pidStatLine(1, "x", 1, 2, 3), " 1 2 0 0 20", " 1 18446744073709551616 0 0 20", 1), "value out of range"},
		{"rss not a number", strings.Replace(pidStatLine(1, "x", 1, 2, 3), " 1000000 3 ", " 1000000 3kB ", 1), "invalid syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePidStat([]byte(tt.input), "/proc/1/stat")
			if err == nil {
				t.Fatalf("parsePidStat(%q) succeeded, expected an error containing %q", tt.input, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "parse /proc/1/stat line 1: ") {
				t.Errorf("error %q does not start with the file and line", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParsePidStatErrorQuotesLongLine(t *testing.T) {
	input := pidStatLine(1, strings.Repeat("a", 200), 1, 2, 3)
	input = input[:strings.LastIndexByte(input, ')')+10]
	_, err := parsePidStat([]byte(input), "/proc/1/stat")
	if err == nil {
		t.Fatal("parsePidStat succeeded on a truncated line, expected an error")
	}
	if strings.Contains(err.Error(), strings.Repeat("a", maxErrorLineLen)) {
		t.Errorf("error %q quotes more than %d bytes of the line", err, maxErrorLineLen)
	}
}

const statFixture = `cpu  1000 10 500 8000 200 30 20 5 0 0
cpu0 600 5 300 4000 100 15 10 2 0 0
cpu1 400 5 200 4000 100 15 10 3 0 0
intr 108327 0 0 0 0
ctxt 246661
btime 1700000000
processes 3000
procs_running 1
procs_blocked 0
softirq 1 2 3
`

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		input     string
		wantTotal cpuTimes
		wantCPUs  []cpuStat
	}{
		{
			name:      "two CPUs",
			input:     statFixture,
			wantTotal: cpuTimes{user: 1000, nice: 10, system: 500, idle: 8000, iowait: 200, irq: 30, softirq: 20, steal: 5},
			wantCPUs: []cpuStat{
				{num: 0, times: cpuTimes{user: 600, nice: 5, system: 300, idle: 4000, iowait: 100, irq: 15, softirq: 10, steal: 2}},
				{num: 1, times: cpuTimes{user: 400, nice: 5, system: 200, idle: 4000, iowait: 100, irq: 15, softirq: 10, steal: 3}},
			},
		},
		{
			name:      "offline CPU leaves a gap",
			input:     "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu2 0 0 0 0 0 0 0 0 0 0\n",
			wantTotal: cpuTimes{user: 1, nice: 2, system: 3, idle: 4, iowait: 5, irq: 6, softirq: 7, steal: 8},
			wantCPUs: []cpuStat{
				{num: 0, times: cpuTimes{user: 1, nice: 2, system: 3, idle: 4, iowait: 5, irq: 6, softirq: 7, steal: 8}},
				{num: 2},
			},
		},
		{
			name:      "five columns from an old kernel",
			input:     "cpu 1 2 3 4 5\n",
			wantTotal: cpuTimes{user: 1, nice: 2, system: 3, idle: 4, iowait: 5},
			wantCPUs:  []cpuStat{},
		},
		{
			name:      "no trailing newline and tabs",
			input:     "cpu\t1\t2\t3\t4\t5\t6\t7\t8",
			wantTotal: cpuTimes{user: 1, nice: 2, system: 3, idle: 4, iowait: 5, irq: 6, softirq: 7, steal: 8},
			wantCPUs:  []cpuStat{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, cpus, err := parseStat([]byte(tt.input), "/proc/stat", nil)
			if err != nil {
				t.Fatalf("parseStat: %v", err)
			}
			if total != tt.wantTotal {
				t.Errorf("total = %+v, expected %+v", total, tt.wantTotal)
			}
			if !slices.Equal(cpus, tt.wantCPUs) {
				t.Errorf("cpus = %+v, expected %+v", cpus, tt.wantCPUs)
			}
		})
	}
}

func TestParseStatReusesSlice(t *testing.T) {
	cpus := make([]cpuStat, 5, 8)
	_, got, err := parseStat([]byte(statFixture), "/proc/stat", cpus)
	if err != nil {
		t.Fatalf("parseStat: %v", err)
	}
	if len(got) != 2 {
		t.Errorf("len(cpus) = %d, expected 2", len(got))
	}
	if &got[0] != &cpus[0] {
		t.Error("parseStat allocated a new slice although the given one had room")
	}
}

func TestParseStatErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"empty", "", `parse /proc/stat: no aggregate "cpu" line`},
		{"only per-CPU lines", "cpu0 1 2 3 4 5\n", `no aggregate "cpu" line`},
		{"bad number on line 3", "intr 1\ncpu  1 2 3 4 5\ncpu0 1 x 3 4 5\n", `parse /proc/stat line 3: "cpu0 1 x 3 4 5": nice: strconv.ParseUint: parsing "x": invalid syntax`},
		{"negative number", "cpu  1 2 3 -4 5\n", `parse /proc/stat line 1: "cpu  1 2 3 -4 5": idle: `},
		{"too few columns", "cpu  1 2 3 4\n", `parse /proc/stat line 1: "cpu  1 2 3 4": 4 tick columns, expected at least 5`},
		{"label without number", "cpu  1 2 3 4 5\ncpux 1 2 3 4 5\n", `parse /proc/stat line 2: "cpux 1 2 3 4 5": invalid CPU label`},
		{"label with leading zero", "cpu  1 2 3 4 5\ncpu01 1 2 3 4 5\n", "line 2: "},
		{"overflow", "cpu  1 2 3 4 18446744073709551616\n", "value out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseStat([]byte(tt.input), "/proc/stat", nil)
			if err == nil {
				t.Fatalf("parseStat(%q) succeeded, expected an error containing %q", tt.input, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

const meminfoFixture = `MemTotal:       24683664 kB
MemFree:        24509312 kB
MemAvailable:   24434308 kB
Buffers:            2552 kB
Cached:            47528 kB
SwapCached:            0 kB
Active(anon):       1520 kB
SwapTotal:       1048576 kB
SwapFree:        1048000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestParseMeminfo(t *testing.T) {
	info, err := parseMeminfo([]byte(meminfoFixture), "/proc/meminfo")
	if err != nil {
		t.Fatalf("parseMeminfo: %v", err)
	}
	want := [len(memFields)]uint64{
		24683664 * 1024, 24509312 * 1024, 24434308 * 1024, 2552 * 1024,
		47528 * 1024, 1048576 * 1024, 1048000 * 1024,
	}
	for i, field := range memFields {
		if !info.present[i] {
			t.Errorf("%s missing", field.label)
		}
		if info.bytes[i] != want[i] {
			t.Errorf("%s = %d bytes, expected %d", field.label, info.bytes[i], want[i])
		}
	}
}

func TestParseMeminfoOptionalLabels(t *testing.T) {
	info, err := parseMeminfo([]byte("MemTotal: 100 kB\nMemFree: 50 kB\n"), "/proc/meminfo")
	if err != nil {
		t.Fatalf("parseMeminfo: %v", err)
	}
	for i, field := range memFields {
		wantPresent := field.label == "MemTotal" || field.label == "MemFree"
		if info.present[i] != wantPresent {
			t.Errorf("%s present = %v, expected %v", field.label, info.present[i], wantPresent)
		}
	}
	if info.bytes[0] != 100*1024 {
		t.Errorf("MemTotal = %d bytes, expected %d", info.bytes[0], 100*1024)
	}
}

func TestParseMeminfoErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"empty", "", "parse /proc/meminfo: no MemTotal line"},
		{"bad number", "MemTotal: 100 kB\nMemFree: x kB\n", `parse /proc/meminfo line 2: "MemFree: x kB": strconv.ParseUint: parsing "x": invalid syntax`},
		{"wrong unit", "MemTotal: 100 MB\n", `parse /proc/meminfo line 1: "MemTotal: 100 MB": invalid value, expected a number followed by kB`},
		{"no unit", "MemTotal: 100\n", "expected a number followed by kB"},
		{"no value", "MemTotal:\n", "expected a number followed by kB"},
		{"extra column", "MemTotal: 100 kB x\n", "expected a number followed by kB"},
		{"overflow", "MemTotal: 18014398509481984 kB\n", "overflows a 64-bit byte count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMeminfo([]byte(tt.input), "/proc/meminfo")
			if err == nil {
				t.Fatalf("parseMeminfo(%q) succeeded, expected an error containing %q", tt.input, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseLoadavg(t *testing.T) {
	tests := []struct {
		input string
		want  loadAvg
	}{
		{"0.04 0.10 0.05 1/89 3079\n", loadAvg{load1: 0.04, load5: 0.1, load15: 0.05, running: 1, total: 89}},
		{"12.50 3.00 0.00 17/1200 99", loadAvg{load1: 12.5, load5: 3, load15: 0, running: 17, total: 1200}},
		{"1.00 2.00 3.00 0/1\n", loadAvg{load1: 1, load5: 2, load15: 3, running: 0, total: 1}},
	}
	for _, tt := range tests {
		got, err := parseLoadavg([]byte(tt.input), "/proc/loadavg")
		if err != nil {
			t.Errorf("parseLoadavg(%q): %v", tt.input, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseLoadavg(%q) = %+v, expected %+v", tt.input, got, tt.want)
		}
	}
}

func TestParseLoadavgErrors(t *testing.T) {
	tests := []struct {
		input   string
		wantErr string
	}{
		{"", `parse /proc/loadavg line 1: "": 0 fields, expected at least 4`},
		{"0.1 0.2\n", "2 fields, expected at least 4"},
		{"0.1 0.2 0.3\n", "no running/total task field"},
		{"0.1 0.2 0.3 5\n", "no running/total task field"},
		{"0.1 x 0.3 1/2\n", `strconv.ParseFloat: parsing "x": invalid syntax`},
		{"0.1 -0.2 0.3 1/2\n", "expected a finite non-negative number"},
		{"0.1 NaN 0.3 1/2\n", "expected a finite non-negative number"},
		{"0.1 0.2 +Inf 1/2\n", "expected a finite non-negative number"},
		{"0.1 0.2 0.3 a/2\n", "running tasks: "},
		{"0.1 0.2 0.3 1/\n", "total tasks: "},
	}
	for _, tt := range tests {
		_, err := parseLoadavg([]byte(tt.input), "/proc/loadavg")
		if err == nil {
			t.Errorf("parseLoadavg(%q) succeeded, expected an error containing %q", tt.input, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseLoadavg(%q) error %q does not contain %q", tt.input, err, tt.wantErr)
		}
	}
}

func TestBusyPercent(t *testing.T) {
	prev := cpuTimes{user: 100, system: 50, idle: 800, iowait: 50}
	tests := []struct {
		name   string
		cur    cpuTimes
		want   float64
		wantOK bool
	}{
		{"two thirds busy", cpuTimes{user: 150, system: 100, idle: 850, iowait: 50}, 66.67, true},
		{"all idle", cpuTimes{user: 100, system: 50, idle: 900, iowait: 60}, 0, true},
		{"all busy", cpuTimes{user: 110, nice: 5, system: 55, irq: 1, softirq: 1, steal: 3, idle: 800, iowait: 50}, 100, true},
		{"iowait decreased", cpuTimes{user: 120, system: 50, idle: 800, iowait: 40}, 100, true},
		{"no tick elapsed", prev, 0, false},
		{"counters decreased", cpuTimes{user: 1}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := busyPercent(prev, tt.cur)
			if ok != tt.wantOK {
				t.Errorf("ok = %v, expected %v", ok, tt.wantOK)
			}
			if got != tt.want {
				t.Errorf("percent = %v, expected %v", got, tt.want)
			}
		})
	}
}

func TestParsePIDName(t *testing.T) {
	for _, name := range []string{"1", "42", "4194304", "999999999"} {
		want, _ := strconv.Atoi(name)
		got, ok := parsePIDName([]byte(name))
		if !ok || got != want {
			t.Errorf("parsePIDName(%q) = %d, %v, expected %d, true", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "0", "01", "self", "1a", "-1", "+1", "1000000000"} {
		if got, ok := parsePIDName([]byte(name)); ok {
			t.Errorf("parsePIDName(%q) = %d, true, expected false", name, got)
		}
	}
}

// fixture is a fake /proc directory in a test's temporary directory.
type fixture struct {
	t    *testing.T
	root string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, root: t.TempDir()}
	f.write("stat", statFixture)
	f.write("meminfo", meminfoFixture)
	f.write("loadavg", "0.04 0.10 0.05 1/89 3079\n")
	return f
}

// write creates or replaces the file at the slash-separated path name
// under the root, creating its parent directories.
func (f *fixture) write(name, content string) {
	f.t.Helper()
	path := filepath.Join(f.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// sample runs s.Sample and returns dst with string values.
func sample(t *testing.T, s *Sampler) (fields map[string]string, gone []string) {
	t.Helper()
	dst := make(map[string][]byte)
	gone, err := s.Sample(dst)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	fields = make(map[string]string, len(dst))
	for path, value := range dst {
		fields[path] = string(value)
	}
	return fields, slices.Sorted(slices.Values(gone))
}

// compareFields reports every path whose value in got differs from want.
func compareFields(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, path := range slices.Sorted(maps.Keys(want)) {
		value, ok := got[path]
		if !ok {
			t.Errorf("field %s missing, expected %q", path, want[path])
			continue
		}
		if value != want[path] {
			t.Errorf("field %s = %q, expected %q", path, value, want[path])
		}
	}
	for path, value := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("unexpected field %s = %q", path, value)
		}
	}
}

func TestSamplerFixture(t *testing.T) {
	f := newFixture(t)
	longComm := strings.Repeat("c", 70)
	f.write("100/stat", pidStatLine(100, "my (weird) proc", 30, 12, 10))
	f.write("200/stat", pidStatLine(200, longComm, 5, 1, 0))
	f.write("300/cmdline", "") // a process that exited: its directory has no stat
	f.write("sys/kernel/ostype", "Linux\n")
	f.write("42", "a regular file with a numeric name\n")
	f.write("0123/stat", pidStatLine(123, "leading zero", 1, 1, 1))
	if err := os.Symlink("100", filepath.Join(f.root, "self")); err != nil {
		t.Fatal(err)
	}
	s := NewSampler(f.root)

	got, gone := sample(t, s)
	want := map[string]string{
		"cpu/total/user":         "1000",
		"cpu/total/system":       "500",
		"cpu/total/idle":         "8000",
		"cpu/total/iowait":       "200",
		"cpu/0/user":             "600",
		"cpu/0/system":           "300",
		"cpu/0/idle":             "4000",
		"cpu/0/iowait":           "100",
		"cpu/1/user":             "400",
		"cpu/1/system":           "200",
		"cpu/1/idle":             "4000",
		"cpu/1/iowait":           "100",
		"mem/total_bytes":        strconv.FormatInt(24683664*1024, 10),
		"mem/free_bytes":         strconv.FormatInt(24509312*1024, 10),
		"mem/available_bytes":    strconv.FormatInt(24434308*1024, 10),
		"mem/buffers_bytes":      strconv.FormatInt(2552*1024, 10),
		"mem/cached_bytes":       strconv.FormatInt(47528*1024, 10),
		"mem/swap_total_bytes":   strconv.FormatInt(1048576*1024, 10),
		"mem/swap_free_bytes":    strconv.FormatInt(1048000*1024, 10),
		"load/1m":                "0.04",
		"load/5m":                "0.1",
		"load/15m":               "0.05",
		"load/running":           "1",
		"load/total_tasks":       "89",
		"proc/pid/100/cpu_ticks": "42",
		"proc/pid/100/rss_bytes": strconv.Itoa(10 * os.Getpagesize()),
		"proc/pid/100/comm":      "my (weird) proc",
		"proc/pid/200/cpu_ticks": "6",
		"proc/pid/200/rss_bytes": "0",
		"proc/pid/200/comm":      longComm[:maxCommLen],
	}
	compareFields(t, got, want)
	if len(gone) != 0 {
		t.Errorf("first Sample gone = %q, expected none", gone)
	}

	// Between the samples 150 ticks elapse, 100 of them busy.
	f.write("stat", "cpu  1050 10 550 8050 200 30 20 5 0 0\ncpu0 650 5 350 4050 100 15 10 2 0 0\n")
	if err := os.RemoveAll(filepath.Join(f.root, "200")); err != nil {
		t.Fatal(err)
	}
	got, gone = sample(t, s)
	if want := []string{"proc/pid/200"}; !slices.Equal(gone, want) {
		t.Errorf("second Sample gone = %q, expected %q", gone, want)
	}
	if got := got["cpu/total/busy_percent"]; got != "66.67" {
		t.Errorf("cpu/total/busy_percent = %q, expected %q", got, "66.67")
	}
	for path := range got {
		if strings.HasPrefix(path, "proc/pid/200/") || strings.HasPrefix(path, "cpu/1/") {
			t.Errorf("second Sample reported %s, which no longer exists", path)
		}
	}
	if got := got["proc/pid/100/comm"]; got != "my (weird) proc" {
		t.Errorf("proc/pid/100/comm = %q after the second Sample, expected %q", got, "my (weird) proc")
	}

	// No tick elapses before the third sample, so busy_percent repeats.
	got, gone = sample(t, s)
	if len(gone) != 0 {
		t.Errorf("third Sample gone = %q, expected none", gone)
	}
	if got := got["cpu/total/busy_percent"]; got != "66.67" {
		t.Errorf("cpu/total/busy_percent with no elapsed tick = %q, expected %q", got, "66.67")
	}
}

func TestSamplerFixtureCPUOffline(t *testing.T) {
	f := newFixture(t)
	s := NewSampler(f.root)
	sample(t, s)

	// The total decreases, so it becomes the baseline for the next sample.
	f.write("stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n")
	got, _ := sample(t, s)
	if value, ok := got["cpu/total/busy_percent"]; ok {
		t.Errorf("cpu/total/busy_percent = %q after the counters decreased, expected none", value)
	}

	f.write("stat", "cpu  200 0 100 900 0 0 0 0 0 0\ncpu0 200 0 100 900 0 0 0 0 0 0\n")
	got, _ = sample(t, s)
	if got := got["cpu/total/busy_percent"]; got != "50" {
		t.Errorf("cpu/total/busy_percent = %q, expected %q", got, "50")
	}
}

func TestSamplerFixtureErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fixture)
		wantErr string // with ROOT standing for the fixture directory
		wantIs  error
	}{
		{
			name:    "bad stat line",
			setup:   func(f *fixture) { f.write("stat", "cpu  1 2 3 4 5\ncpu0 1 2 3 x 5\n") },
			wantErr: `parse ROOT/stat line 2: "cpu0 1 2 3 x 5": idle: `,
		},
		{
			name:    "missing meminfo",
			setup:   func(f *fixture) { os.Remove(filepath.Join(f.root, "meminfo")) },
			wantErr: "read ROOT/meminfo: no such file or directory",
			wantIs:  fs.ErrNotExist,
		},
		{
			name:    "bad loadavg",
			setup:   func(f *fixture) { f.write("loadavg", "1 2\n") },
			wantErr: `parse ROOT/loadavg line 1: "1 2": 2 fields, expected at least 4`,
		},
		{
			name:    "bad pid stat",
			setup:   func(f *fixture) { f.write("7/stat", "7 (x) S 1 2\n") },
			wantErr: `parse ROOT/7/stat line 1: "7 (x) S 1 2\n": 3 fields after the command name`,
		},
		{
			name:    "pid stat of another process",
			setup:   func(f *fixture) { f.write("7/stat", pidStatLine(8, "x", 1, 1, 1)) },
			wantErr: "parse ROOT/7/stat line 1: pid 8, expected 7 from the directory name",
		},
		{
			name:    "missing root",
			setup:   func(f *fixture) { os.RemoveAll(f.root) },
			wantErr: "open ROOT: no such file or directory",
			wantIs:  fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			gone, err := NewSampler(f.root).Sample(make(map[string][]byte))
			if err == nil {
				t.Fatal("Sample succeeded, expected an error")
			}
			if gone != nil {
				t.Errorf("gone = %q with an error, expected nil", gone)
			}
			wantErr := strings.ReplaceAll(tt.wantErr, "ROOT", f.root)
			if !strings.Contains(err.Error(), wantErr) {
				t.Errorf("error %q does not contain %q", err, wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
		})
	}
}

func TestSampleNilMap(t *testing.T) {
	if _, err := NewSampler(newFixture(t).root).Sample(nil); err == nil {
		t.Error("Sample(nil) succeeded, expected an error")
	}
}

func TestSampleClearsDst(t *testing.T) {
	dst := map[string][]byte{"stale/field": []byte("1")}
	if _, err := NewSampler(newFixture(t).root).Sample(dst); err != nil {
		t.Fatalf("Sample: %v", err)
	}
	if _, ok := dst["stale/field"]; ok {
		t.Error("Sample kept a field that was in dst before the call")
	}
}

func TestSampleLargeStat(t *testing.T) {
	// A /proc/stat larger than the initial read buffer, as on hosts with
	// many CPUs, makes read grow the buffer.
	f := newFixture(t)
	var stat strings.Builder
	stat.WriteString("cpu  1 2 3 4 5 6 7 8 0 0\n")
	const cpus = 1000
	for i := range cpus {
		fmt.Fprintf(&stat, "cpu%d 1 2 3 4 5 6 7 8 0 0\n", i)
	}
	stat.WriteString("intr " + strings.Repeat("0 ", 50000) + "\n")
	f.write("stat", stat.String())

	got, _ := sample(t, NewSampler(f.root))
	for _, path := range []string{"cpu/0/user", "cpu/999/iowait"} {
		if got[path] == "" {
			t.Errorf("field %s missing", path)
		}
	}
}

func TestSampleManyProcesses(t *testing.T) {
	// More processes than one getdents64 call returns with the 16 KiB
	// buffer, so listPIDs needs several calls.
	f := newFixture(t)
	const processes = 2000
	for pid := 1; pid <= processes; pid++ {
		f.write(strconv.Itoa(pid)+"/stat", pidStatLine(pid, "p", 1, 1, 1))
	}
	got, _ := sample(t, NewSampler(f.root))
	count := 0
	for path := range got {
		if strings.HasSuffix(path, "/comm") {
			count++
		}
	}
	if count != processes {
		t.Errorf("Sample reported %d processes, expected %d", count, processes)
	}
}

func TestSampleNoAllocations(t *testing.T) {
	f := newFixture(t)
	f.write("100/stat", pidStatLine(100, "a", 1, 1, 1))
	f.write("200/stat", pidStatLine(200, "b", 1, 1, 1))
	s := NewSampler(f.root)
	dst := make(map[string][]byte)
	for range 2 {
		if _, err := s.Sample(dst); err != nil {
			t.Fatalf("Sample: %v", err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := s.Sample(dst); err != nil {
			t.Fatalf("Sample: %v", err)
		}
	})
	if allocs != 0 {
		t.Errorf("Sample made %v allocations per call once warm, expected 0", allocs)
	}
}

func TestSampleFieldPathsValid(t *testing.T) {
	f := newFixture(t)
	f.write("100/stat", pidStatLine(100, "my (weird) proc", 1, 1, 1))
	f.write("4194304/stat", pidStatLine(4194304, "max pid", 1, 1, 1))
	roots := []string{f.root}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		roots = append(roots, "/proc")
	}
	for _, root := range roots {
		s := NewSampler(root)
		dst := make(map[string][]byte)
		if _, err := s.Sample(dst); err != nil {
			t.Fatalf("Sample(%s): %v", root, err)
		}
		if len(dst) == 0 {
			t.Errorf("Sample(%s) reported no fields", root)
		}
		for path := range dst {
			if err := checkFieldPath(path); err != nil {
				t.Errorf("root %s: %v", root, err)
			}
		}
	}
}

func TestSamplerRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := NewSampler("/proc")
	got, _ := sample(t, s)

	paths := []string{
		"cpu/total/user", "cpu/total/system", "cpu/total/idle", "cpu/total/iowait",
		"cpu/0/user", "cpu/0/system", "cpu/0/idle", "cpu/0/iowait",
		"mem/total_bytes", "mem/free_bytes", "mem/available_bytes", "mem/buffers_bytes",
		"mem/cached_bytes", "mem/swap_total_bytes", "mem/swap_free_bytes",
		"load/1m", "load/5m", "load/15m", "load/running", "load/total_tasks",
	}
	for _, path := range paths {
		if _, ok := got[path]; !ok {
			t.Errorf("field %s missing", path)
		}
	}
	if value, ok := got["cpu/total/busy_percent"]; ok {
		t.Errorf("cpu/total/busy_percent = %q on the first Sample, expected none", value)
	}

	prefix := "proc/pid/" + strconv.Itoa(os.Getpid())
	comm, ok := got[prefix+"/comm"]
	if !ok {
		t.Fatalf("field %s/comm of this test process missing", prefix)
	}
	// The kernel sets comm to at most 15 bytes of the executable's name.
	wantComm := filepath.Base(os.Args[0])
	wantComm = wantComm[:min(len(wantComm), 15)]
	if comm != wantComm {
		t.Errorf("%s/comm = %q, expected %q", prefix, comm, wantComm)
	}
	if _, err := strconv.ParseUint(got[prefix+"/cpu_ticks"], 10, 64); err != nil {
		t.Errorf("%s/cpu_ticks: %v", prefix, err)
	}

	// rss_bytes must agree with the resident pages of /proc/self/statm up
	// to the memory that changed between the two reads.
	rss, err := strconv.ParseInt(got[prefix+"/rss_bytes"], 10, 64)
	if err != nil {
		t.Fatalf("%s/rss_bytes: %v", prefix, err)
	}
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	resident, err := strconv.ParseInt(strings.Fields(string(statm))[1], 10, 64)
	if err != nil {
		t.Fatalf("parse /proc/self/statm: %v", err)
	}
	residentBytes := resident * int64(os.Getpagesize())
	if rss <= 0 || rss < residentBytes/2 || rss > residentBytes*2 {
		t.Errorf("%s/rss_bytes = %d, expected about %d from /proc/self/statm", prefix, rss, residentBytes)
	}

	// At USER_HZ 100 each CPU adds one tick per 10 ms, so the counters
	// move by about 5 ticks per CPU in 50 ms.
	time.Sleep(50 * time.Millisecond)
	got, _ = sample(t, s)
	busy, err := strconv.ParseFloat(got["cpu/total/busy_percent"], 64)
	if err != nil {
		t.Fatalf("cpu/total/busy_percent on the second Sample: %v", err)
	}
	if busy < 0 || busy > 100 {
		t.Errorf("cpu/total/busy_percent = %v, expected 0 to 100", busy)
	}
}

func TestSamplerRealProcGone(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("no /proc: %v", err)
	}
	s := NewSampler("/proc")
	sample(t, s)

	// Start a child that the next Sample lists, then end and reap it.
	process, err := os.StartProcess("/bin/sleep", []string{"sleep", "10"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("start /bin/sleep: %v", err)
	}
	prefix := "proc/pid/" + strconv.Itoa(process.Pid)
	got, _ := sample(t, s)
	if _, ok := got[prefix+"/comm"]; !ok {
		t.Errorf("field %s/comm of the child missing", prefix)
	}
	if err := process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := process.Wait(); err != nil {
		t.Fatal(err)
	}

	_, gone := sample(t, s)
	if !slices.Contains(gone, prefix) {
		t.Errorf("gone = %q, expected it to contain %s", gone, prefix)
	}
}

func BenchmarkSample(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skipf("no /proc: %v", err)
	}
	s := NewSampler("/proc")
	dst := make(map[string][]byte)
	if _, err := s.Sample(dst); err != nil {
		b.Fatalf("Sample: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(dst); err != nil {
			b.Fatalf("Sample: %v", err)
		}
	}
	b.ReportMetric(float64(len(s.pids)), "processes")
	b.ReportMetric(float64(len(dst)), "fields")
}

func FuzzParsePidStat(f *testing.F) {
	f.Add([]byte(pidStatLine(1234, "bash", 15, 7, 250)))
	f.Add([]byte(pidStatLine(42, "my (weird) proc", 1, 2, 3)))
	f.Add([]byte(pidStatLine(7, ") S 1 (", 1, 2, -3)))
	f.Add([]byte("1 (x) S"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		stat, err := parsePidStat(b, "/proc/1/stat")
		if err != nil {
			return
		}
		if stat.pid <= 0 {
			t.Errorf("pid = %d, expected a positive pid", stat.pid)
		}
		if !bytes.Contains(b, stat.comm) {
			t.Errorf("comm %q is not part of the input", stat.comm)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statFixture))
	f.Add([]byte("cpu  1 2 3 4 5\ncpu3 1 2 3 4 5 6 7 8 9 10\n"))
	f.Add([]byte("cpu 1 2 3 4\n"))
	f.Add([]byte("cpu0 x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, cpus, err := parseStat(b, "/proc/stat", nil)
		if err != nil {
			return
		}
		if lines := bytes.Count(b, []byte("\n")) + 1; len(cpus) >= lines {
			t.Errorf("%d per-CPU entries from %d lines", len(cpus), lines)
		}
	})
}
