package debugger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/proc"
)

// Event is a stop of the process as the debugger reports it.
type Event struct {
	// Reason: "entry" (a started program at its entry point),
	// "attached", "breakpoint", "step" (an instruction or line step, a stepout,
	// done), "signal", "exited", "killed" (by a signal), "interrupted".
	Reason    string `json:"reason"`
	TID       int    `json:"thread,omitempty"`
	Goroutine uint64 `json:"goroutine,omitempty"`
	Addr      uint64 `json:"-"`
	PC        string `json:"pc,omitempty"` // Addr, in hex
	Function  string `json:"function,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	// Breakpoint is the id of the user breakpoint hit.
	Breakpoint int `json:"breakpoint,omitempty"`
	// Signal names the signal about to be delivered ("signal") or that
	// killed the process ("killed"); SigCode and SigAddr are its si_code
	// and si_addr (faults).
	Signal  string `json:"signal,omitempty"`
	SigCode int    `json:"si_code,omitempty"`
	SigAddr string `json:"si_addr,omitempty"`
	Status  int    `json:"status,omitempty"` // "exited"
	// Printed are signals delivered without stopping whose policy says
	// print ("handle SIG nostop print"), in order.
	Printed []string `json:"printed,omitempty"`
	// Error says why a breakpoint's condition stopped the program though it
	// could not be evaluated.
	Error string `json:"error,omitempty"`
}

// String renders the event gdb-style, in one or two lines.
func (e *Event) String() string {
	var b strings.Builder
	for _, p := range e.Printed {
		fmt.Fprintf(&b, "Thread received signal %s (passed, not stopped)\n", p)
	}
	switch e.Reason {
	case "exited":
		fmt.Fprintf(&b, "Process exited with status %d", e.Status)
		return b.String()
	case "killed":
		fmt.Fprintf(&b, "Process killed by %s", e.Signal)
		return b.String()
	case "interrupted":
		b.WriteString("Interrupted: ")
	case "breakpoint":
		fmt.Fprintf(&b, "Breakpoint %d, ", e.Breakpoint)
	case "signal":
		fmt.Fprintf(&b, "Thread %d received signal %s", e.TID, e.Signal)
		if e.SigAddr != "" {
			fmt.Fprintf(&b, " (si_code %d, si_addr %s)", e.SigCode, e.SigAddr)
		}
		b.WriteString(", ")
	case "entry":
		b.WriteString("Stopped at the entry point, ")
	case "attached":
		b.WriteString("Attached, every thread stopped; ")
	}
	if e.Error != "" {
		fmt.Fprintf(&b, "(condition: %s) ", e.Error)
	}
	fmt.Fprintf(&b, "thread %d", e.TID)
	if e.Goroutine != 0 {
		fmt.Fprintf(&b, " goroutine %d", e.Goroutine)
	}
	fmt.Fprintf(&b, " at %s in %s", e.PC, orUnknown(e.Function))
	if e.File != "" {
		fmt.Fprintf(&b, " %s:%d", e.File, e.Line)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "??"
	}
	return s
}

// event describes the stop st, selecting its thread.
func (d *Debugger) event(reason string, st proc.Stop) *Event {
	e := &Event{Reason: reason, TID: st.TID}
	switch st.Reason {
	case proc.StopExited:
		d.exited = true
		if st.Signal != 0 {
			e.Reason, e.Signal = "killed", SignalName(st.Signal)
		} else {
			e.Reason, e.Status = "exited", st.Status
		}
		return e
	case proc.StopSignal:
		e.Signal = SignalName(st.Signal)
		if si := st.Siginfo; si != nil && si.Code > 0 {
			e.SigCode, e.SigAddr = si.Code, fmt.Sprintf("%#x", si.Addr)
		}
	}
	if st.TID != 0 && slices.Contains(d.s.Threads(), st.TID) {
		d.cur, d.frameSel, d.frames = st.TID, 0, nil
	}
	d.hidden = hiddenInline{}
	d.sigStop.tid, d.sigStop.pc = 0, 0
	if reason == "signal" && st.Signal != 0 && d.policy(st.Signal).Pass {
		d.sigStop.tid, d.sigStop.pc = d.cur, d.pc()
	}
	if reason != "breakpoint" {
		// At the first instruction of an inlined call, gdb shows the
		// call's line: the call is not entered yet (a breakpoint
		// placed in the inlined function shows that function).
		if pc := d.pc(); pc != 0 {
			if n := d.inlineEntries(pc); n > 0 {
				d.hidden = hiddenInline{tid: d.cur, pc: pc, n: n}
			}
		}
	}
	d.describe(e)
	return e
}

// describe fills in the selected thread's PC, function, line, goroutine.
func (d *Debugger) describe(e *Event) {
	e.TID = d.cur
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return
	}
	e.Addr, e.PC = regs.PC, fmt.Sprintf("%#x", regs.PC)
	loc := frameLocation(regs.PC, d.chainAt(regs.PC), d.hiddenFrames())
	e.Function, e.File, e.Line = loc.Function, loc.File, loc.Line
	if snap, err := d.snapshot(); err == nil {
		e.Goroutine = d.u.Goid(snap, regs)
	}
}

// Where describes the selected thread's stop as an Event of reason.
func (d *Debugger) Where(reason string) *Event {
	e := &Event{Reason: reason}
	d.describe(e)
	return e
}

// errExited is returned by run control once the process is gone.
var errExited = errors.New("the process has exited (kill or quit; or start it again)")

// Continue resumes every thread until a user breakpoint whose condition
// holds, a signal whose policy says stop, the process's exit, or ctx's
// cancellation (every thread is stopped again, nothing is killed).
func (d *Debugger) Continue(ctx context.Context) (*Event, error) {
	ev, _, err := d.run(ctx, nil)
	return ev, err
}

// run is Continue; mine, if set, says whether a hit of one of the step's
// temporary breakpoints by thread tid ends the step: run then returns
// (nil, true, nil) with that thread selected.
func (d *Debugger) run(ctx context.Context, mine func(tid int) bool) (ev *Event, isMine bool, err error) {
	// Each hit of a breakpoint whose condition is false makes several
	// session calls (resume, registers, memory): on the tracer thread
	// they need no hand-off, which was a third of such a hit's time.
	d.s.OnTracer(func() { ev, isMine, err = d.runLoop(ctx, mine) })
	return ev, isMine, err
}

func (d *Debugger) runLoop(ctx context.Context, mine func(tid int) bool) (*Event, bool, error) {
	if d.exited {
		return nil, false, errExited
	}
	var printed []string
	for {
		st, err := d.s.Continue(ctx)
		d.invalidate()
		if errors.Is(err, proc.ErrExited) && !d.exited {
			// A thread died under run control as the process exited
			// (stepped over a breakpoint while another called
			// exit_group): the next wait reports the exit itself.
			st, err = d.s.Continue(ctx)
		}
		if err != nil {
			return nil, false, err
		}
		if st.Reason != proc.StopSignal && st.TID != 0 {
			// The thread has moved on from the hit it was reported at
			// (or is back on it, as below).
			d.noteHit(st)
		}
		switch st.Reason {
		case proc.StopBreakpoint:
			if d.internal[st.Breakpoint] > 0 && mine != nil && mine(st.TID) {
				d.forgetReentry(st.TID)
				d.cur, d.frameSel = st.TID, 0
				return nil, true, nil
			}
			if d.reentered(st) {
				// The thread (or goroutine) ran a signal handler
				// instead of the instruction under the breakpoint it
				// was reported at, and came back to it: the same hit,
				// not a new one.
				continue
			}
			if ev := d.hitUser(st); ev != nil {
				ev.Printed = printed
				return ev, false, nil
			}
		case proc.StopSignal:
			p := d.policy(st.Signal)
			if !p.Pass {
				d.s.SetSignal(st.TID, 0)
			} else if addr := d.lastHit[st.TID]; addr != 0 && st.PC == addr {
				// Delivered before the thread steps off the breakpoint
				// it was reported at: its handler returns onto the trap.
				d.markReentry(st.TID, addr)
			}
			if p.Stop {
				ev := d.event("signal", st)
				ev.Printed = printed
				return ev, false, nil
			}
			if p.Print {
				printed = append(printed, fmt.Sprintf("%s in thread %d", SignalName(st.Signal), st.TID))
			}
		case proc.StopThreadCreated, proc.StopThreadExited:
			// Threads come and go silently, as in delve; the selected
			// one, gone, gives way to the first left.
			if st.Reason == proc.StopThreadExited && st.TID == d.cur {
				if ths := d.Threads(); len(ths) > 0 {
					d.cur = ths[0]
				}
			}
		case proc.StopExited:
			ev := d.event("exited", st)
			ev.Printed = printed
			return ev, false, nil
		case proc.StopInterrupted:
			ev := d.event("interrupted", st)
			ev.Printed = printed
			return ev, false, nil
		default:
			return d.event("step", st), false, nil
		}
	}
}

// markReentry marks thread tid, about to run a signal handler while
// stopped on the breakpoint at addr, so that its return onto the trap is
// no new hit (see reentry). A thread running a goroutine is marked by the
// goroutine: Go's handler may make it call asyncPreempt and reschedule it,
// so it can come back on another thread while this one runs another
// goroutine into the same breakpoint, a genuine hit.
func (d *Debugger) markReentry(tid int, addr uint64) {
	if g := d.frameID(tid).goid; g != 0 {
		d.reentryG[g] = addr
	} else {
		d.reentry[tid] = addr
	}
}

// reentered reports whether a breakpoint stop is a thread's (goroutine's)
// return onto the trap marked by markReentry, and forgets the mark.
func (d *Debugger) reentered(st proc.Stop) bool {
	if len(d.reentry) == 0 && len(d.reentryG) == 0 {
		return false
	}
	if g := d.frameID(st.TID).goid; g != 0 {
		if d.reentryG[g] != st.Breakpoint {
			return false
		}
		delete(d.reentryG, g)
		return true
	}
	if d.reentry[st.TID] != st.Breakpoint {
		return false
	}
	delete(d.reentry, st.TID)
	return true
}

// forgetReentry drops the mark of thread tid (or of its goroutine).
func (d *Debugger) forgetReentry(tid int) {
	if len(d.reentryG) > 0 {
		delete(d.reentryG, d.frameID(tid).goid)
	}
	delete(d.reentry, tid)
}

// noteHit records the breakpoint a thread stopped on (see reentry).
func (d *Debugger) noteHit(st proc.Stop) {
	if st.Reason == proc.StopBreakpoint {
		d.lastHit[st.TID] = st.Breakpoint
	} else {
		delete(d.lastHit, st.TID)
	}
}

// hitUser returns the event of the user breakpoints at the stop's address
// whose conditions hold (the first by id is reported, every one counts the
// hit), or nil. A condition that cannot be evaluated stops, and says why.
func (d *Debugger) hitUser(st proc.Stop) *Event {
	var hit *Breakpoint
	var condErr error
	for _, b := range d.breakpointsAt(st.Breakpoint) {
		if b.Cond != "" {
			ok, err := d.cond(st.TID, b.Cond)
			if err != nil {
				condErr = fmt.Errorf("breakpoint %d: %v", b.ID, err)
			} else if !ok {
				continue
			}
		}
		b.Hits++
		if hit == nil {
			hit = b
		}
		if b.Temp {
			d.ClearBreakpoint(b.ID)
		}
	}
	if hit == nil && condErr == nil {
		return nil
	}
	ev := d.event("breakpoint", st)
	if hit != nil {
		ev.Breakpoint = hit.ID
	}
	if condErr != nil {
		ev.Error = condErr.Error()
	}
	return ev
}

// cond evaluates a breakpoint condition in thread tid's innermost frame.
func (d *Debugger) cond(tid int, expr string) (bool, error) {
	// Frame 0 needs no walk: its registers are the thread's, and the
	// evaluator finds the CFA from the module's CFI if a variable asks
	// for it. A false condition's hit costs the trap and this.
	regs, err := d.s.Regs(tid)
	if err != nil {
		return false, err
	}
	snap, err := d.snapshotFor(regs)
	if err != nil {
		return false, err
	}
	f := &Frame{Arch: d.Arch, Regs: regs, PC: regs.PC, Exact: true, Mem: d}
	f.Module, f.Bias = d.u.ModuleAt(snap, regs.PC)
	return d.evaluator().Cond(f, expr)
}

// StepInstruction runs one instruction of the selected thread, the others
// stopped. A signal waiting for the thread (stopped at a faulting
// instruction) is delivered: the thread stops at the handler's first
// instruction. Stepping over a breakpoint runs the instruction it replaced.
func (d *Debugger) StepInstruction(ctx context.Context) (*Event, error) {
	if d.exited {
		return nil, errExited
	}
	if pc := d.pc(); pc != 0 {
		if ev, ok, err := d.stepAtomic(ctx, pc); ok {
			return ev, err
		}
		if ev, ok, err := d.stepBranch(ctx, pc); ok {
			return ev, err
		}
		if to, ok := d.sigreturnTo(pc); ok {
			id := d.frameID(d.cur)
			delete(d.lastHit, d.cur)
			ev, err := d.runToFunc(ctx, to, func(at frameID) bool { return at.sameOwner(id) })
			if ev == nil && err == nil {
				ev = d.event("step", proc.Stop{TID: d.cur})
			}
			return ev, err
		}
	}
	for range 64 {
		st, err := d.s.Step(ctx, d.cur)
		d.frames, d.frameSel = nil, 0
		delete(d.lastHit, d.cur) // it has left the breakpoint it was reported at
		if err != nil {
			return nil, err
		}
		switch st.Reason {
		case proc.StopStep, proc.StopThreadCreated:
			if st.Reason == proc.StopStep && d.atHandlerCall(d.pc()) {
				// The step delivered a signal whose handler the
				// kernel enters through a trampoline (ppc64): step
				// on into the handler, as on the other arches.
				continue
			}
			return d.event("step", proc.Stop{TID: d.cur}), nil
		case proc.StopSignal:
			// A signal came before the instruction ran: with stop it is
			// reported (stepping again delivers it: into the handler);
			// with nopass it is dropped; otherwise its handler runs on
			// its own, every thread running, until it returns here (as
			// gdb steps over a signal handler), then the step is tried
			// again. A Go thread preempted by SIGURG must not be
			// stepped into the runtime's handler.
			p := d.policy(st.Signal)
			if !p.Pass {
				d.s.SetSignal(st.TID, 0)
				continue
			}
			if p.Stop {
				return d.event("signal", st), nil
			}
			id := d.frameID(d.cur)
			if len(d.breakpointsAt(st.PC)) > 0 {
				d.markReentry(d.cur, st.PC) // the handler's return is no hit
			}
			ev, err := d.runToFunc(ctx, st.PC, func(at frameID) bool { return at.sameOwner(id) && at.depth == id.depth })
			if err != nil || ev != nil {
				return ev, err
			}
		case proc.StopThreadExited:
			if st.TID == d.cur {
				return d.event("exited", st), nil
			}
		case proc.StopExited:
			return d.event("exited", st), nil
		case proc.StopInterrupted:
			return d.event("interrupted", proc.Stop{TID: d.cur}), nil
		default:
			return d.event("step", st), nil
		}
	}
	return d.event("step", proc.Stop{TID: d.cur}), nil
}

// insnAt decodes the instruction at pc (the original bytes under any
// breakpoint).
func (d *Debugger) insnAt(pc uint64) (disasm.Inst, error) {
	code := make([]byte, 16)
	if err := d.s.ReadMemory(pc, code); err != nil {
		// Near the end of a mapping: the instruction is shorter.
		code = code[:4]
		if err := d.s.ReadMemory(pc, code); err != nil {
			return disasm.Inst{}, err
		}
	}
	insts, err := disasm.Decode(d.Arch, code, pc)
	if len(insts) == 0 {
		if err == nil {
			err = fmt.Errorf("no instruction at %#x", pc)
		}
		return disasm.Inst{}, err
	}
	return insts[0], nil
}

// NextInstruction runs one instruction of the selected thread, a call
// with everything it calls (a temporary breakpoint at the return address,
// every thread running, ended by the same goroutine or thread coming back
// to this frame). Another stop (a breakpoint, a signal) ends it first.
func (d *Debugger) NextInstruction(ctx context.Context) (*Event, error) {
	if d.exited {
		return nil, errExited
	}
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return nil, err
	}
	in, err := d.insnAt(regs.PC)
	if err != nil {
		// No decoder for this arch (mips64le): step, and if that
		// entered another function, run it to its return.
		id, from := d.frameID(d.cur), d.locationAt(regs.PC).Function
		ev, err := d.StepInstruction(ctx)
		if err != nil || ev.Reason != "step" {
			return ev, err
		}
		if d.calledInto(id, from) {
			if ev, err := d.finishFrame(ctx, id); err != nil || ev != nil {
				return ev, err
			}
			return d.event("step", proc.Stop{TID: d.cur}), nil
		}
		return ev, nil
	}
	if in.Kind != disasm.Call {
		return d.StepInstruction(ctx)
	}
	ev, err := d.runTo(ctx, in.Addr+uint64(in.Len), d.frameID(d.cur), false)
	if ev == nil && err == nil {
		ev = d.event("step", proc.Stop{TID: d.cur})
	}
	return ev, err
}

// frameID identifies the innermost frame of a thread across stops: for
// a goroutine its goid and depth below its stack's top (g.stack.hi), which
// a stack copy does not change; else the thread and its SP.
type frameID struct {
	goid  uint64
	tid   int
	depth uint64 // hi - SP for a goroutine, -SP for a thread
}

func (d *Debugger) frameID(tid int) frameID {
	regs, err := d.s.Regs(tid)
	if err != nil {
		return frameID{tid: tid}
	}
	sp, _ := regs.Get(d.Arch.SP)
	if snap, err := d.snapshot(); err == nil {
		if g := d.u.ThreadGoroutine(snap, regs); g != 0 {
			// runtime.g starts with stack{lo, hi}, in every release.
			b := make([]byte, 8)
			if d.s.ReadMemory(g+uint64(d.Arch.PtrSize), b[:d.Arch.PtrSize]) == nil {
				hi := d.Arch.ByteOrder.Uint64(b)
				if goid := d.u.Goid(snap, regs); goid != 0 && hi >= sp {
					return frameID{goid: goid, depth: hi - sp}
				}
			}
		}
	}
	return frameID{tid: tid, depth: -sp}
}

// sameOwner reports whether a and b are frames of the same goroutine (or
// thread, outside Go).
func (a frameID) sameOwner(b frameID) bool {
	if a.goid != 0 || b.goid != 0 {
		return a.goid == b.goid
	}
	return a.tid == b.tid
}

// runTo plants a temporary breakpoint at addr and runs every thread until
// the goroutine (or thread) of id reaches it in id's frame or an outer one
// (shallower: in a frame that id's frame returned to). It returns the
// event of another stop, or nil once there.
func (d *Debugger) runTo(ctx context.Context, addr uint64, id frameID, strictlyOuter bool) (*Event, error) {
	return d.runToFunc(ctx, addr, func(at frameID) bool {
		if !at.sameOwner(id) {
			return false
		}
		if strictlyOuter {
			return at.depth < id.depth
		}
		return at.depth <= id.depth
	})
}

// StepOut runs until the selected frame returns (gdb's finish, delve's
// stepout): to the return address, in the same goroutine or thread.
func (d *Debugger) StepOut(ctx context.Context) (*Event, error) {
	if d.exited {
		return nil, errExited
	}
	fs, err := d.Frames()
	if err != nil {
		return nil, err
	}
	if fs[d.frameSel].Inline {
		return d.stepOutInline(ctx, fs, d.frameSel)
	}
	// The caller of the selected frame's physical frame.
	i := d.frameSel
	for i < len(fs) && fs[i].Inline {
		i++
	}
	if i+1 >= len(fs) {
		return nil, errors.New("the selected frame is the outermost: there is no caller to return to")
	}
	ret := fs[i+1].PC
	id := d.frameID(d.cur)
	// The frame has returned once SP is back at the caller's SP at the
	// call, as the unwinder recovered it (not the CFA: s390x's C frames
	// put it 160 bytes above); without it, once SP rose at all. The
	// caller's SP can be SP itself where a call pushes nothing (arm64,
	// mips64le: the return address is in a register) in a function with
	// no frame yet (at its entry, or a frameless leaf): SP does not rise
	// on its return.
	strict := true
	sp, _ := fs[0].Regs.Get(d.Arch.SP)
	if csp, ok := fs[i+1].Regs.Get(d.Arch.SP); ok && csp != 0 && csp >= sp {
		id.depth -= csp - sp
		strict = false
	}
	ev, err := d.runTo(ctx, ret, id, strict)
	if ev == nil && err == nil {
		ev = d.event("step", proc.Stop{TID: d.cur})
	}
	return ev, err
}

// stepOutInline runs the selected thread out of the inlined call of frame
// sel of fs: an instruction at a time, calls run over, until its physical
// frame runs code outside that call, on the call's line or (in native
// code) a statement's start: an inlined body's instructions interleave
// with the caller's other lines. delve and gdb stop so, in the caller
// right after the inlined body, rather than at the physical frame's
// return. Another stop ends it first, and so does a user breakpoint the
// thread comes to whose condition holds, as in gdb and delve.
func (d *Debugger) stepOutInline(ctx context.Context, fs []Frame, sel int) (*Event, error) {
	// depth counts the inline frames from sel out to the physical one.
	depth := 0
	for i := sel; i < len(fs) && fs[i].Inline; i++ {
		depth++
	}
	if sel+depth >= len(fs) {
		return nil, errors.New("the inlined frame has no physical frame under it")
	}
	phys, call := fs[sel+depth].Function, fs[sel+1]
	for range maxLineSteps {
		ev, err := d.NextInstruction(ctx)
		if err != nil || ev.Reason != "step" {
			return ev, err
		}
		pc := d.pc()
		if ev := d.hitUser(proc.Stop{Reason: proc.StopBreakpoint, TID: d.cur, PC: pc, Breakpoint: pc}); ev != nil {
			return ev, nil // a breakpoint on the way (in a loop of the body)
		}
		chain := d.chainAt(pc)
		if frameLocation(pc, chain, len(chain)).Function != phys {
			return ev, nil // the physical frame returned
		}
		if loc := frameLocation(pc, chain, 0); len(chain)-1 < depth &&
			(loc.Line == call.Line && loc.File == call.File || d.stmtStart(pc)) {
			return ev, nil
		}
	}
	return d.event("step", proc.Stop{TID: d.cur}), nil
}
