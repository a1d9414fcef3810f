package goruntime

import (
	"encoding/binary"
	"fmt"
	"go/version"
	"io"
	"unicode/utf8"
)

// Goroutine status values: runtime.g.atomicstatus, the _G constants of
// runtime/runtime2.go (gen_tables.go checks them against every generated
// release's source).
const (
	StatusIdle      = 0  // _Gidle: just allocated, not yet initialised
	StatusRunnable  = 1  // _Grunnable: on a run queue, not running user code
	StatusRunning   = 2  // _Grunning: running user code on an M and a P
	StatusSyscall   = 3  // _Gsyscall: in a system call, on an M, without a P
	StatusWaiting   = 4  // _Gwaiting: blocked; g.waitreason says on what
	StatusDead      = 6  // _Gdead: unused, on a free list or an extra M's g (5 was _Gmoribund_unused)
	StatusCopystack = 8  // _Gcopystack: its stack is being moved (7 was _Genqueue_unused)
	StatusPreempted = 9  // _Gpreempted: stopped by a suspendG preemption (go1.14+)
	StatusLeaked    = 10 // _Gleaked: a leaked goroutine the GC caught (go1.26+)
	StatusDeadExtra = 11 // _Gdeadextra: a dead g attached to an extra M, waiting for a cgo callback (go1.26+)
	// StatusScan is or-ed into the others while the GC scans the
	// goroutine's stack (_Gscan): _Gscanrunning = StatusScan|StatusRunning.
	StatusScan = 0x1000
)

// stringTable is one release's names, generated into zstrings.go.
type stringTable struct {
	Release     string
	GStatus     []string // runtime.gStatusStrings: by status value
	WaitReasons []string // runtime.waitReasonStrings: by waitReason value
}

// StatusString returns the name of goroutine status status (g.atomicstatus)
// as the runtime's goroutineheader prints it in release release ("go1.22.3"
// or "go1.22"): the scan bit dropped, gStatusStrings[status], "???" out of
// its range, "" for the values it no longer uses (5 and 7). It does not
// apply the wait-reason override (a waiting
// goroutine with a wait reason prints the reason instead). A release without
// a generated table takes the neighbours' names as WaitReasons does; one that
// names no release at all gets "???".
func StatusString(release string, status uint32) string {
	names := lookupStrings(release, func(t *stringTable) []string { return t.GStatus })
	status &^= StatusScan
	if status >= uint32(len(names)) {
		return "???"
	}
	return names[status]
}

// WaitReasons returns runtime.waitReasonStrings of release release
// ("go1.22.3" or "go1.22"), indexed by g.waitreason; nil when release names
// no Go release. A release without a generated table takes, from its two
// neighbours (or, outside the generated releases, from all of them), the
// names on which they agree; an index where they disagree is "" and the
// table ends with the shorter one. The slice is shared: do not modify it.
func WaitReasons(release string) []string {
	return lookupStrings(release, func(t *stringTable) []string { return t.WaitReasons })
}

func lookupStrings(release string, field func(*stringTable) []string) []string {
	rel := Release(release)
	if rel == "" {
		return nil
	}
	var below, above *stringTable
	for i := range stringTables {
		t := &stringTables[i]
		switch c := version.Compare(t.Release, rel); {
		case c == 0:
			return field(t)
		case c < 0 && (below == nil || version.Compare(t.Release, below.Release) > 0):
			below = t
		case c > 0 && (above == nil || version.Compare(t.Release, above.Release) < 0):
			above = t
		}
	}
	var from []*stringTable
	if below != nil && above != nil {
		from = []*stringTable{below, above}
	} else {
		for i := range stringTables {
			from = append(from, &stringTables[i])
		}
	}
	if len(from) == 0 {
		return nil
	}
	merged := append([]string(nil), field(from[0])...)
	for _, t := range from[1:] {
		other := field(t)
		merged = merged[:min(len(merged), len(other))]
		for i := range merged {
			if merged[i] != other[i] {
				merged[i] = ""
			}
		}
	}
	return merged
}

// Bounds WaitReasonsAt accepts, far above the runtime's: its wait reasons
// are under 40 bytes, its table under 100 entries in every release.
const (
	maxWaitReasonLen = 128
	maxWaitReasons   = 1024
)

// WaitReasonsAt reads a binary's own runtime.waitReasonStrings: n Go strings
// (pointer, length; ptrSize bytes each, in byte order order) at addr in mem,
// whose pointers are addresses in mem too. It checks that they look like
// the runtime's table (element 0, waitReasonZero, is empty; every other
// element is non-empty printable ASCII of at most 128 bytes) and returns an
// error saying what does not, rather than names from something else.
func WaitReasonsAt(mem io.ReaderAt, addr uint64, ptrSize int, order binary.ByteOrder, n int) ([]string, error) {
	if ptrSize != 4 && ptrSize != 8 {
		return nil, fmt.Errorf("goruntime: wait reasons: pointer size %d", ptrSize)
	}
	if n <= 0 || n > maxWaitReasons {
		return nil, fmt.Errorf("goruntime: wait reasons: %d entries, want 1 to %d", n, maxWaitReasons)
	}
	out, err := readStrings(mem, addr, ptrSize, order, n, maxWaitReasonLen)
	if err != nil {
		return nil, fmt.Errorf("goruntime: reading the wait reasons' table: %w", err)
	}
	for i, r := range out {
		switch {
		case i == 0 && r != "":
			return nil, fmt.Errorf("goruntime: %#x is not the wait reasons' table: entry 0 is %q, want \"\"", addr, r)
		case i > 0 && (r == "" || !printable(r)):
			return nil, fmt.Errorf("goruntime: %#x is not the wait reasons' table: entry %d is %q", addr, i, r)
		}
	}
	return out, nil
}

// readStrings reads n Go strings (pointer, length) at addr in mem, each at
// most maxLen bytes.
func readStrings(mem io.ReaderAt, addr uint64, ptrSize int, order binary.ByteOrder, n, maxLen int) ([]string, error) {
	hdr := make([]byte, 2*ptrSize*n)
	if _, err := mem.ReadAt(hdr, int64(addr)); err != nil {
		return nil, fmt.Errorf("%d string headers at %#x: %w", n, addr, err)
	}
	word := func(b []byte) uint64 {
		if ptrSize == 4 {
			return uint64(order.Uint32(b))
		}
		return order.Uint64(b)
	}
	out := make([]string, n)
	for i := range out {
		p, l := word(hdr[2*ptrSize*i:]), word(hdr[2*ptrSize*i+ptrSize:])
		if l == 0 {
			continue
		}
		if l > uint64(maxLen) {
			return nil, fmt.Errorf("string %d at %#x: %d bytes, more than %d", i, addr+uint64(2*ptrSize*i), l, maxLen)
		}
		b := make([]byte, l)
		if _, err := mem.ReadAt(b, int64(p)); err != nil {
			return nil, fmt.Errorf("string %d at %#x: %w", i, p, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

// printable reports whether b is printable ASCII, as every wait reason is.
func printable(s string) bool {
	for _, c := range []byte(s) {
		if c < ' ' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
