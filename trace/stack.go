package trace

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// Kallsyms is the kernel's text symbol table, from /proc/kallsyms.
type Kallsyms struct {
	syms []ksym // sorted by address
}

type ksym struct {
	addr   uint64
	name   string
	module string
}

// ParseKallsyms parses the text of /proc/kallsyms ("ADDR TYPE NAME
// [MODULE]" per line), keeping the text symbols. Addresses read as zero
// (kernel.kptr_restrict, not root) leave the table empty: it cannot name
// anything then, and says so by returning no names.
func ParseKallsyms(b []byte) (*Kallsyms, error) {
	k := &Kallsyms{}
	off := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		lineOff := off
		off += len(line) + 1
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 || len(f[1]) != 1 {
			return nil, &FormatError{Section: "/proc/kallsyms", Offset: int64(lineOff), Msg: fmt.Sprintf("malformed line %q", truncate(line))}
		}
		addr, err := strconv.ParseUint(string(f[0]), 16, 64)
		if err != nil {
			return nil, &FormatError{Section: "/proc/kallsyms", Offset: int64(lineOff), Msg: fmt.Sprintf("bad address %q", truncate(f[0]))}
		}
		switch f[1][0] {
		case 't', 'T', 'w', 'W':
		default:
			continue
		}
		if addr == 0 {
			continue
		}
		s := ksym{addr: addr, name: string(f[2])}
		if len(f) > 3 && len(f[3]) > 2 && f[3][0] == '[' && f[3][len(f[3])-1] == ']' {
			s.module = string(f[3][1 : len(f[3])-1])
		}
		k.syms = append(k.syms, s)
	}
	sort.SliceStable(k.syms, func(i, j int) bool { return k.syms[i].addr < k.syms[j].addr })
	return k, nil
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// Lookup names a kernel address: the symbol at or below it and the
// distance from it.
func (k *Kallsyms) Lookup(addr uint64) (name string, off uint64, module string, ok bool) {
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr })
	if i == 0 {
		return "", 0, "", false
	}
	s := k.syms[i-1]
	return s.name, addr - s.addr, s.module, true
}

// symbolizer names the PCs of --stack events: kernel PCs through
// /proc/kallsyms, user PCs through the unwind package, as taiji stack names
// them. It keeps each process's mappings, read again when a PC falls
// outside them (a library loaded since).
//
// A long system-wide trace sees processes come and go, and a process that
// loads libraries makes new snapshots, each of which the unwinder keeps an
// address space for: both are bounded (maxSymProcs, maxSymSnapshots).
type symbolizer struct {
	mu    sync.Mutex
	kOnce sync.Once
	ksyms *Kallsyms
	procs map[int]*symProc
	clock uint64 // counts process lookups, for least-recently-used eviction
}

type symProc struct {
	u       *unwind.Unwinder
	snap    *target.Snapshot // the mappings Symbolize reads
	reads   int              // snapshots given to u
	lastUse uint64           // symbolizer.clock at the last lookup
}

const (
	// maxSymProcs bounds the processes whose unwinders (and open modules)
	// are kept. When full, the least recently used goes.
	maxSymProcs = 64
	// maxSymSnapshots bounds the snapshots one unwinder has named stacks
	// with: unwind.Unwinder keeps an address space per snapshot, so after
	// that many re-reads of a process's mappings its unwinder starts over.
	maxSymSnapshots = 16
)

// prime reads pid's mappings now: a short-lived process may be gone by the
// time its events are printed, and its executable is mapped from the start.
func (s *symbolizer) prime(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.process(pid, nil)
}

// process returns pid's naming state, reading its mappings again if they do
// not cover pcs.
func (s *symbolizer) process(pid int, pcs []uint64) *symProc {
	if s.procs == nil {
		s.procs = map[int]*symProc{}
	}
	s.clock++
	sp := s.procs[pid]
	if sp == nil {
		s.makeRoom()
		sp = &symProc{u: newSymUnwinder(pid)}
		s.procs[pid] = sp
	}
	sp.lastUse = s.clock
	if sp.snap == nil || !unwind.Covers(sp.snap, pcs) {
		if ms, err := proc.Maps(pid); err == nil {
			if sp.reads >= maxSymSnapshots {
				sp.u.Close()
				sp.u, sp.reads = newSymUnwinder(pid), 0
			}
			sp.snap = &target.Snapshot{Pid: pid, Maps: ms, Files: proc.Files(pid)}
			sp.reads++
		} else if sp.snap == nil {
			sp.snap = &target.Snapshot{Pid: pid} // gone: frames stay unnamed
		}
	}
	return sp
}

func newSymUnwinder(pid int) *unwind.Unwinder {
	return unwind.New(arch.Host(), module.Options{Root: proc.Root(pid)})
}

// makeRoom evicts the least recently used process if s.procs is full (not
// the exited ones first: their events may still be in the ring buffer,
// waiting to be named). s.mu is held.
func (s *symbolizer) makeRoom() {
	for len(s.procs) >= maxSymProcs {
		lru := leastRecent(s.procs, func(sp *symProc) uint64 { return sp.lastUse })
		s.procs[lru].u.Close()
		delete(s.procs, lru)
	}
}

// kernel names kernel PCs, innermost first, without the frames of the
// stack-capturing helpers and of taiji's own BPF program: the stack starts
// at the code that ran the program.
func (s *symbolizer) kernel(pcs []uint64) []unwind.Frame {
	s.kOnce.Do(func() {
		if b, err := os.ReadFile("/proc/kallsyms"); err == nil {
			s.ksyms, _ = ParseKallsyms(b)
		}
	})
	out := make([]unwind.Frame, 0, len(pcs))
	for _, pc := range pcs {
		f := unwind.Frame{Kind: unwind.Kernel, PC: pc}
		if s.ksyms != nil {
			if name, off, mod, ok := s.ksyms.Lookup(pc); ok {
				f.Function, f.Offset, f.Module = name, off, mod
			}
		}
		if f.Function == "" {
			f.Function = fmt.Sprintf("%#x", pc)
		}
		out = append(out, f)
	}
	for i := range out {
		if strings.HasPrefix(out[i].Function, "bpf_prog_") {
			return out[i+1:]
		}
	}
	return out
}

// user names user PCs, innermost first: the first is the probe address
// itself, the others return addresses. Inline frames are expanded as taiji
// stack does.
func (s *symbolizer) user(pid int, pcs []uint64) []unwind.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.process(pid, pcs)
	return sp.u.Symbolize(sp.snap, pcs, false)
}

func (s *symbolizer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.procs {
		sp.u.Close()
	}
	s.procs = nil
}

// Frames names the stacks of a --stack call event: kernel frames (the
// path of the uprobe's trap, innermost first; the traced function itself
// runs in user mode) and user frames (found by frame pointers, innermost
// first, the first at the probe), as taiji stack prints them.
func (t *Tracer) Frames(ev *Event) (kernel, user []unwind.Frame) {
	return t.sym.kernel(ev.KStack), t.sym.user(ev.Pid, ev.Stack)
}
