// Package goroutines lists the goroutines of a Go program from outside it,
// with no help from the program: no pprof endpoint, no agent, no DWARF.
//
// While the process is frozen (proc.Freeze), Reader.Copy reads
// runtime.allgs and the fields of every g the listing needs, then copies
// the goroutines' stacks a batch at a time, in as few system calls as the
// kernel allows (target.BatchReader), and walks each from where the
// goroutine will resume (g.sched, or g.syscallsp/syscallpc while in a
// system call or cgo), exactly as the runtime's own traceback does
// (runtime/traceback.go traceback1, unwinder.initAt), keeping only the PCs.
// After the process runs again, Reader.Read names the frames, once per
// distinct stack. A goroutine running on a thread takes that thread's
// backtrace.
//
// Where the runtime's structures are comes from package goruntime: the
// layout of runtime.g from DWARF or the generated per-release tables, the
// address of runtime.allgs from the symbol table or, on binaries built with
// -s -w, from the runtime's code, and the names of statuses and wait
// reasons from the release's own tables. What is read is checked (stack
// bounds, status values, distinct goids) before anything is printed: a
// layout that does not fit the process is refused, not guessed through.
package goroutines

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// Goroutine is one goroutine as the runtime records it.
type Goroutine struct {
	ID     uint64 // goid
	G      uint64 // address of its runtime.g
	Status uint32 // g.atomicstatus, the _Gscan bit cleared
	Scan   bool   // the _Gscan bit was set (the GC is scanning its stack)
	// State is what Go's traceback prints between the brackets: the wait
	// reason of a waiting goroutine, else the status's name.
	State      string
	WaitReason string // "" unless waiting with a reason
	// Wait is how long it has been blocked, when the runtime knows
	// (g.waitsince, which the runtime sets when a GC finds the goroutine
	// blocked), measured against the monotonic clock at the snapshot;
	// -1 when unknown.
	Wait   time.Duration
	Thread int  // TID of the thread running it (status running or syscall), 0 if none
	Locked bool // locked to its thread (runtime.LockOSThread)
	// System is true for the runtime's own goroutines, which Go's
	// traceback hides unless GOTRACEBACK=system (runtime.isSystemGoroutine).
	System bool
	Parent uint64 // goid of the goroutine that created it (go1.21+), 0 if unknown
	GoPC   uint64 // PC of the go statement that created it
	// StartPC is the PC of the goroutine's function.
	StartPC uint64

	// Stack is the goroutine's stack, shared by every goroutine whose
	// stack has the same frames.
	Stack *Stack
	// CreatedBy is the frame of the go statement (GoPC), nil for the main
	// goroutine or when GoPC names no function.
	CreatedBy *unwind.Frame
}

// Stack is a backtrace shared by goroutines with the same frames.
type Stack struct {
	Frames  []unwind.Frame
	Omitted int    // frames left out in the middle (Options.MaxFrames)
	Note    string // why the walk ended early, "" if it reached the goroutine's first function

	wrapper []bool // per frame: the compiler's wrapper function (pclntab funcID)
}

// Options select what Read produces.
type Options struct {
	unwind.Options
	// StackBytes bounds how much of each goroutine's stack is copied while
	// the process is frozen (0: DefaultStackBytes); a deeper stack is read
	// from the process afterwards, and may have changed by then.
	StackBytes int
	// StackBudget bounds the stack copies kept to walk after the process
	// runs again (0: StackBudgetPerG bytes per goroutine, at most
	// DefaultStackBudget). Stacks past it are walked while it is still
	// stopped: a longer stop, but taiji's memory stays bounded however many
	// goroutines there are. Negative: walk all while stopped.
	StackBudget int
	// Context, when cancelled, ends the walk of the stacks that Copy does
	// while the process is stopped (past StackBudget: seconds for a
	// million goroutines), so that a Ctrl-C resumes the process at once:
	// proc.Freeze, given the same context, then returns ErrInterrupted.
	// nil: never.
	Context context.Context
	// Offline says the snapshot is not of a process running now (a core
	// file): the wait times, measured against the clock now, are unknown.
	Offline bool
}

// DefaultStackBudget keeps the stacks of about a hundred thousand parked
// goroutines to walk after the process resumes.
const DefaultStackBudget = 64 << 20

// StackBudgetPerG is the default budget per goroutine: the walk of a
// parked goroutine's plain Go frames costs about a microsecond while the
// process is stopped, so keeping stacks to walk later buys little stop
// time, and a budget that does not scale with the goroutines would put
// taiji's memory above a kilobyte per goroutine at 100k of them.
const StackBudgetPerG = 256

// DefaultStackBytes is how much of each goroutine's stack Copy keeps: the
// stacks of parked goroutines are mostly a few hundred bytes deep, and the
// copy costs time while the process is frozen and memory for every
// goroutine.
const DefaultStackBytes = 16 << 10

// Errors Read returns (wrapped), for callers that say what to do.
var (
	// ErrNotGo: the process is not a Go program.
	ErrNotGo = unwind.ErrNotGo
	// ErrNoAllgs: runtime.allgs was not found in the binary.
	ErrNoAllgs = errors.New("runtime.allgs not found")
	// ErrBadLayout: what was read does not fit the runtime layout taiji
	// used: it would print nonsense.
	ErrBadLayout = errors.New("the goroutines read do not fit the runtime layout")
)

// Reader reads the goroutines of one snapshot: Prepare before the process
// is frozen, Copy while it is, Read after.
type Reader struct {
	u    *unwind.Unwinder
	opts Options

	prog    *unwind.GoProgram
	release string
	vars    goruntime.Vars
	err     error

	raw       []rawG
	rounds    []stackRound // stacks copied, walked by Read (walkStacks)
	walks     []walk       // distinct results of walking the stacks
	walkIndex map[string]int32
	pcs       []uint64 // a walk's buffer
	key       []byte   // its key in walkIndex
	copyErr   error
	nanotime  int64 // CLOCK_MONOTONIC when the process was frozen, 0 if unknown
}

// NewReader returns a Reader that opens modules and unwinds with u.
func NewReader(u *unwind.Unwinder, opts Options) *Reader {
	if opts.StackBytes <= 0 {
		opts.StackBytes = DefaultStackBytes
	}
	return &Reader{u: u, opts: opts}
}

// Prepare is a proc.FreezeOptions.Prepare: before the process stops, it
// opens the executable and finds the runtime's layout and the address of
// runtime.allgs. Its error (wrapping ErrNotGo, goruntime.ErrUnknownLayout
// or ErrNoAllgs) ends the freeze before any thread stops.
func (r *Reader) Prepare(s *target.Snapshot) error {
	if err := r.u.PrepareGo(s); err != nil {
		return err
	}
	r.err = r.prepare(s)
	return r.err
}

func (r *Reader) prepare(s *target.Snapshot) error {
	p, err := r.u.GoProgram(s)
	if err != nil {
		return err
	}
	r.prog = p
	r.release = goruntime.Release(p.Version)
	if p.Layout == nil {
		return p.LayoutErr
	}
	l := p.Layout
	var unknown []string
	for _, f := range []struct {
		name string
		off  goruntime.Off
	}{{"g.goid", l.G.Goid}, {"g.atomicstatus", l.G.Atomicstatus}, {"g.stack.lo", l.G.StackLo}, {"g.stack.hi", l.G.StackHi},
		{"g.sched.sp", l.SchedSP()}, {"g.sched.pc", l.SchedPC()}} {
		if !f.off.Known() {
			unknown = append(unknown, f.name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%w: the binary has no DWARF, and for %s taiji knows no offset of %s (its layout comes from %s)",
			goruntime.ErrUnknownLayout, p.Version, strings.Join(unknown, ", "), l.From)
	}
	if p.Pclntab == nil {
		return fmt.Errorf("%s: %w: no pclntab", s.Exe, ErrNotGo)
	}
	r.vars, err = goruntime.FindVars(p.Module.File, p.Pclntab)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoAllgs, err)
	}
	if r.vars.Allgs == 0 {
		return fmt.Errorf("%w (looked in the %s)", ErrNoAllgs, r.vars.From)
	}
	return nil
}

// Copy is a proc.FreezeOptions.Copy: while every thread is stopped it reads
// allgs and the g of every goroutine, and walks each goroutine's stack from
// a copy (at most Options.StackBytes), keeping the PCs found for Read. It
// returns no segments.
func (r *Reader) Copy(s *target.Snapshot) []target.Segment {
	if r.err != nil {
		return nil
	}
	if !r.opts.Offline {
		r.nanotime = nanotime()
	}
	r.raw, r.copyErr = r.copyGs(s)
	// The stacks were walked while the process stood still (walkStacks):
	// nothing more needs keeping in the snapshot.
	return nil
}

// Result is what Read found.
type Result struct {
	Pid       int
	GoVersion string // from the build info
	// Layout says where the runtime layout came from ("DWARF", "table for
	// go1.22/8"), Vars where runtime.allgs was found.
	Layout, Vars string
	Frozen       time.Duration // how long the process was stopped (the longest thread)
	Goroutines   []*Goroutine  // in runtime.allgs order, dead ones left out
	Notes        []string
}

// Read builds the goroutine list of s, which Freeze produced with Prepare
// and Copy. threads are the unwound threads of s (unwind.Process), whose
// backtraces serve the goroutines they run.
func (r *Reader) Read(s *target.Snapshot, threads []*unwind.Thread) (*Result, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.copyErr != nil {
		return nil, r.copyErr
	}
	res := &Result{Pid: s.Pid, GoVersion: r.prog.Version, Layout: r.prog.Layout.From, Vars: r.vars.From}
	for _, t := range s.Threads {
		res.Frozen = max(res.Frozen, t.Frozen)
	}
	byTID := map[int]*unwind.Thread{}
	for _, t := range threads {
		byTID[t.TID] = t
	}
	names := r.names(s)
	// The stacks kept to walk now the process runs again.
	for _, round := range r.rounds {
		r.walkRound(s, s.Memory(), r.raw, round)
	}
	r.rounds = nil
	creators := map[uint64]*unwind.Frame{}
	states := map[uint32]string{} // a status's name, looked up once
	stacks := make([]*Stack, len(r.walks))
	for i := range r.raw {
		rg := &r.raw[i]
		if rg.status == goruntime.StatusDead || rg.status == goruntime.StatusDeadExtra || rg.status == goruntime.StatusIdle {
			continue
		}
		g := &Goroutine{ID: rg.goid, G: rg.g, Status: rg.status, Scan: rg.scan, Locked: rg.lockedm != 0,
			Parent: rg.parent, GoPC: rg.gopc, StartPC: rg.startpc, Wait: -1}
		state, ok := states[rg.status]
		if !ok {
			state = goruntime.StatusString(r.release, rg.status)
			states[rg.status] = state
		}
		g.State = state
		if (rg.status == goruntime.StatusWaiting || rg.status == goruntime.StatusLeaked) && rg.waitreason != 0 {
			if int(rg.waitreason) < len(names) && names[rg.waitreason] != "" {
				g.WaitReason = names[rg.waitreason]
			} else {
				g.WaitReason = fmt.Sprintf("wait reason %d", rg.waitreason)
			}
			g.State = g.WaitReason
		}
		if (rg.status == goruntime.StatusWaiting || rg.status == goruntime.StatusSyscall) && rg.waitsince != 0 && r.nanotime != 0 {
			g.Wait = time.Duration(max(0, r.nanotime-rg.waitsince))
		}
		g.System = r.isSystem(rg)
		if rg.m != 0 && (rg.status == goruntime.StatusRunning || rg.status == goruntime.StatusSyscall) {
			g.Thread = int(rg.procid)
		}
		if th := byTID[g.Thread]; th != nil && rg.status == goruntime.StatusRunning && th.Err == "" {
			// Running: the thread's own backtrace, user frames only (a
			// goroutine has no kernel half of its own).
			st := &Stack{Omitted: th.Omitted}
			for _, f := range th.Frames {
				if f.Kind != unwind.Kernel {
					st.Frames = append(st.Frames, f)
				}
			}
			if len(th.Notes) > 0 {
				st.Note = th.Notes[0]
			}
			r.markWrappers(st)
			g.Stack = st
		} else {
			g.Stack = r.stack(s, rg, stacks)
		}
		if rg.gopc != 0 && g.ID != 1 {
			g.CreatedBy = r.creator(s, rg.gopc, creators)
		}
		res.Goroutines = append(res.Goroutines, g)
	}
	r.raw = nil // decoded: let it go before the listing is printed
	if len(res.Goroutines) == 0 {
		return nil, fmt.Errorf("%w: runtime.allgs lists no live goroutine", ErrBadLayout)
	}
	return res, nil
}

// stack names the walk Copy made of rg's stack, once per distinct walk.
func (r *Reader) stack(s *target.Snapshot, rg *rawG, stacks []*Stack) *Stack {
	if rg.walk < 0 {
		note := "the goroutine has no saved state (g.sched.pc is 0)"
		if rg.status == goruntime.StatusRunning {
			// Its thread was not captured (it exited, or never stopped).
			note = "running on a thread that was not captured: its stack is not known"
		} else if rg.pc != 0 {
			note = fmt.Sprintf("its saved SP %#x is outside its stack [%#x, %#x)", rg.sp, rg.lo, rg.hi)
		}
		return &Stack{Note: note}
	}
	if st := stacks[rg.walk]; st != nil {
		return st
	}
	w := r.walks[rg.walk]
	st := &Stack{Note: w.note}
	st.Frames, st.Omitted = r.u.SymbolizeReturns(s, w.pcs, r.opts.Options)
	r.markWrappers(st)
	stacks[rg.walk] = st
	return st
}

// creator names the go statement at gopc as Go's printcreatedby does: the
// function containing it, its file:line at gopc-1 (inside the call), its
// offset from the function's entry.
func (r *Reader) creator(s *target.Snapshot, gopc uint64, cache map[uint64]*unwind.Frame) *unwind.Frame {
	if f, ok := cache[gopc]; ok {
		return f
	}
	var out *unwind.Frame
	if fs, _ := r.u.SymbolizeReturns(s, []uint64{gopc}, unwind.Options{NoSource: r.opts.NoSource}); len(fs) > 0 {
		// The physical function, with the line of the innermost inline
		// frame: runtime.funcname(f) and funcline(f, pc).
		f := fs[len(fs)-1]
		f.File, f.Line = fs[0].File, fs[0].Line
		if f.Function != "" {
			out = &f
		}
	}
	cache[gopc] = out
	return out
}

// isSystem is runtime.isSystemGoroutine(gp, false): goroutines whose
// function is in package runtime, except runtime.main, and the finalizer
// and cleanup goroutines while they run user code (which the runtime tells
// by state we do not read: they count as system when parked, as they
// usually are).
func (r *Reader) isSystem(rg *rawG) bool {
	t := r.prog.Pclntab
	if t == nil || rg.startpc == 0 {
		return false
	}
	f, ok := t.Lookup(rg.startpc - r.prog.Bias)
	if !ok {
		return false
	}
	switch f.Name {
	case "runtime.main", "runtime.corostart", "runtime.handleAsyncEvent":
		return false
	}
	return len(f.Name) > len("runtime.") && f.Name[:len("runtime.")] == "runtime."
}

// names returns the wait reasons by value: the binary's own
// runtime.waitReasonStrings where it was found, else the release's table.
func (r *Reader) names(s *target.Snapshot) []string {
	table := goruntime.WaitReasons(r.release)
	if r.vars.WaitReasonStrings != 0 {
		n := r.vars.NumWaitReasons
		if n == 0 {
			n = len(table)
		}
		if got, err := goruntime.WaitReasonsAt(s.Memory(), r.vars.WaitReasonStrings+r.prog.Bias, s.Arch.PtrSize, s.Arch.ByteOrder, n); err == nil {
			return got
		}
	}
	return table
}

// markWrappers marks the physical frames of st in the executable whose
// function the compiler generated as a wrapper, which Go's traceback hides.
func (r *Reader) markWrappers(st *Stack) {
	t := r.prog.Pclntab
	st.wrapper = make([]bool, len(st.Frames))
	for i, f := range st.Frames {
		if f.Kind != unwind.User || f.PC == 0 {
			continue
		}
		pc := f.PC - r.prog.Bias
		if i > 0 || f.Offset > 0 {
			pc-- // a return address: the call is before it
		}
		if fn, ok := t.Lookup(pc); ok && fn.Name == f.Function && t.IsWrapper(fn) {
			st.wrapper[i] = true
		}
	}
}
