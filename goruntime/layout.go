// Package goruntime is what taiji knows of the Go runtime's own structures,
// per Go release: the layout of runtime.g, runtime.m and runtime.gobuf, the
// symbols that list every goroutine, and the rules by which the runtime
// switches a thread between stacks (switch.go).
//
// A layout is found, in this order:
//
//  1. from the binary's DWARF, when it has some (FromDWARF): the compiler's
//     own description, right for any release and any GOARCH;
//  2. else from tables generated from every Go toolchain the project tests
//     (ztables.go, written by gen_tables.go from those toolchains' DWARF,
//     never by hand) for the binary's release and pointer size (ForRelease);
//     a release between two generated ones takes each field on which both
//     neighbours agree, marked unverified, and leaves the others unknown
//     (a release outside them, each field on which every table agrees);
//  3. else nothing: ErrUnknownLayout.
//
// Nothing here reads a process or calls the operating system: the package
// builds for any GOOS and analyses any GOARCH.
package goruntime

//go:generate go run gen_tables.go

import (
	"errors"
	"fmt"
	"go/version"
	"strings"
)

// ErrUnknownLayout is returned (wrapped) when taiji knows no layout of the
// runtime structures for a binary: no DWARF and a Go release outside the
// generated tables. Callers test it with errors.Is.
var ErrUnknownLayout = errors.New("goruntime: the Go runtime's structure layout is not known for this binary")

// Off is a byte offset inside a runtime structure; Unknown where the field
// does not exist in that release or its offset is not known.
type Off int64

// Unknown marks an offset taiji does not know.
const Unknown Off = -1

// Known reports whether the offset is known.
func (o Off) Known() bool { return o >= 0 }

// G holds offsets in runtime.g (runtime/runtime2.go). Nested fields are
// flattened: StackLo is offset(g.stack) + offset(stack.lo), Sched is where
// the g.sched gobuf starts (see Gobuf for its fields).
type G struct {
	StackLo, StackHi Off // uintptr: bounds of the goroutine's stack
	M                Off // *m: the M running it (0 if none)
	Sched            Off // gobuf: where the goroutine resumes
	Syscallsp        Off // uintptr: SP at entersyscall (0 when not in a system call)
	Syscallpc        Off // uintptr: PC at entersyscall
	Atomicstatus     Off // uint32: _Grunning, _Gwaiting, ...
	Goid             Off // int64 (go1.19, go1.20) or uint64
	Waitsince        Off // int64: nanotime when it blocked (approximate)
	Waitreason       Off // uint8: waitReason, valid when status is _Gwaiting
	Lockedm          Off // muintptr: the M it is locked to (LockOSThread)
	ParentGoid       Off // uint64: goid of the creator (go1.21+)
	Gopc             Off // uintptr: PC of the go statement that created it
	Startpc          Off // uintptr: PC of the goroutine's function (isSystemGoroutine)
}

// M holds offsets in runtime.m.
type M struct {
	G0      Off // *g: the scheduling stack's g
	Curg    Off // *g: the goroutine running on this M (0 if none)
	Gsignal Off // *g: the signal-handling stack's g
	Procid  Off // uint64: the thread id (TID on Linux)
	// VdsoSP and VdsoPC (uintptr): while a thread is in a vDSO call made
	// by one of the runtime's vDSO-calling functions (SwitchAt, ResumeVDSO),
	// the SP and PC of that function's caller, for tracebacks; VdsoSP is
	// 0 outside such a call.
	VdsoSP, VdsoPC Off
}

// Gobuf holds offsets in runtime.gobuf, relative to its start: a saved
// execution context (g.sched, m.morebuf).
type Gobuf struct {
	SP, PC, LR, BP, G Off
}

// Source says where a Layout came from.
type Source int

const (
	FromDWARFInfo  Source = iota + 1 // the binary's own DWARF
	FromTable                        // a table generated from this release's toolchain
	FromNeighbours                   // unverified: between two generated releases that agree on these fields
)

func (s Source) String() string {
	switch s {
	case FromDWARFInfo:
		return "DWARF"
	case FromTable:
		return "generated table"
	case FromNeighbours:
		return "nearest known releases (unverified)"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Layout is the layout of the runtime structures of one binary, in bytes.
type Layout struct {
	Release string // "go1.22", "" when read from DWARF without a known release
	PtrSize int    // 4 or 8
	Source  Source
	// From names what the layout came from, for messages: "DWARF",
	// "table for go1.22/8", "go1.21 and go1.23 (unverified)".
	From string

	G     G
	M     M
	Gobuf Gobuf
}

// SchedSP is the offset of g.sched.sp in runtime.g (Unknown if either part is).
func (l *Layout) SchedSP() Off { return nested(l.G.Sched, l.Gobuf.SP) }

// SchedPC is the offset of g.sched.pc.
func (l *Layout) SchedPC() Off { return nested(l.G.Sched, l.Gobuf.PC) }

// SchedLR is the offset of g.sched.lr.
func (l *Layout) SchedLR() Off { return nested(l.G.Sched, l.Gobuf.LR) }

// SchedBP is the offset of g.sched.bp.
func (l *Layout) SchedBP() Off { return nested(l.G.Sched, l.Gobuf.BP) }

func nested(outer, inner Off) Off {
	if !outer.Known() || !inner.Known() {
		return Unknown
	}
	return outer + inner
}

// Symbols that list every goroutine (runtime/proc.go): allgs is a []*g,
// allglen its length kept for readers that cannot take allglock. Both are in
// the ELF symbol table of unstripped binaries; every release taiji supports
// has them.
const (
	AllgsSymbol   = "runtime.allgs"
	AllglenSymbol = "runtime.allglen"
)

// Release returns the "go1.N" language release of a Go version string as
// buildinfo reports it ("go1.22.3", "go1.26.0 X:nocoverageredesign",
// "devel go1.27-abcdef ..."), or "" if it names none.
func Release(goVersion string) string {
	v := strings.TrimPrefix(goVersion, "devel ")
	if i := strings.IndexAny(v, " X-"); i > 0 {
		v = v[:i]
	}
	if !version.IsValid(v) {
		return ""
	}
	return version.Lang(v)
}
