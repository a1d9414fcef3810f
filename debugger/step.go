package debugger

import (
	"context"
	"fmt"
	"strings"

	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/proc"
)

// maxLineSteps bounds the instructions a step or next runs one by one
// (calls stepped over count as one).
const maxLineSteps = 1 << 16

// Next runs the selected thread to the next source line of the current
// function (or the caller it returns to), stepping over calls; in Go it
// stays on the current goroutine, whichever thread runs it, across stack
// copies (frames are told apart by their depth below g.stack.hi).
func (d *Debugger) Next(ctx context.Context) (*Event, error) { return d.stepLine(ctx, false) }

// Step is Next, but enters the functions called that have line
// information (Go's runtime only from the runtime), stopping after their
// prologue.
func (d *Debugger) Step(ctx context.Context) (*Event, error) { return d.stepLine(ctx, true) }

func (d *Debugger) stepLine(ctx context.Context, into bool) (*Event, error) {
	if d.exited {
		return nil, errExited
	}
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return nil, err
	}
	// The line the step starts on is that of the frame the stop shows
	// (an inlined call not entered yet is hidden); startDepth counts the
	// inline frames above the physical one there.
	chain, hide := d.chainAt(regs.PC), d.hiddenFrames()
	start := frameLocation(regs.PC, chain, hide)
	startDepth := len(chain) - 1 - hide
	phys := frameLocation(regs.PC, chain, len(chain)).Function
	if d.sigStop.tid == d.cur && d.sigStop.pc == regs.PC {
		// Stopped on a signal the step delivers: as gdb, into its
		// handler, after the handler's prologue.
		ev, err := d.StepInstruction(ctx)
		if err != nil || ev.Reason != "step" || d.pc() == regs.PC {
			return ev, err
		}
		if ev, entered, err := d.enterCallee(ctx, start.Function); err != nil || entered {
			return ev, err
		}
		return ev, nil
	}
	if into && hide > 0 {
		// Stopped on the line of an inlined call not entered yet:
		// step enters it where it stands, as gdb does.
		return d.stopHidden(hide - 1), nil
	}
	if start.Line == 0 {
		return nil, fmt.Errorf("no line information at %#x (%s): use stepi, nexti or stepout", regs.PC, orUnknown(start.Function))
	}
	id := d.frameID(d.cur)
	for range maxLineSteps {
		regs, err := d.s.Regs(d.cur)
		if err != nil {
			return nil, err
		}
		var ev *Event
		in, ierr := d.insnAt(regs.PC)
		switch {
		case ierr == nil && in.Kind == disasm.Call:
			ev, err = d.stepCall(ctx, in, id, into, start.Function)
		default:
			ev, err = d.StepInstruction(ctx)
			if err == nil && ev.Reason == "step" {
				ev = nil
				if ierr != nil && d.calledInto(id, start.Function) {
					// No decoder saw the call coming: into it, or
					// over it to its return.
					if into {
						if ev, entered, err := d.enterCallee(ctx, start.Function); err != nil || entered {
							return ev, err
						}
					}
					ev, err = d.finishFrame(ctx, id)
				}
			}
		}
		if err != nil || ev != nil {
			return ev, err
		}
		pc, at := d.pc(), d.frameID(d.cur)
		chain := d.chainAt(pc)
		loc, depth := frameLocation(pc, chain, 0), len(chain)-1
		samePhys := frameLocation(pc, chain, len(chain)).Function == phys
		switch {
		case at.depth < id.depth:
			// Returned to a caller: stop there, mid-line, as gdb does.
			return d.event("step", proc.Stop{TID: d.cur}), nil
		case !into && samePhys && depth > startDepth:
			// In a call inlined into the line's function: next runs
			// over it as over a call. At its first instruction the
			// call's line begins, a stop if it is another line (gdb).
			if depth-d.inlineEntries(pc) > startDepth {
				continue
			}
			call := frameLocation(pc, chain, depth-startDepth)
			if call.Line == 0 || call.Line == start.Line && call.File == start.File {
				continue
			}
			return d.stopHidden(depth - startDepth), nil
		case at.depth > id.depth && !samePhys:
			// Jumped into another function (a tail call): run it to
			// its return.
			if ev, err := d.finishFrame(ctx, id); err != nil || ev != nil {
				return ev, err
			}
			continue
		}
		if loc.Line != 0 && (loc.Line != start.Line || loc.File != start.File) && d.stmtStart(pc) {
			return d.event("step", proc.Stop{TID: d.cur}), nil
		}
	}
	return d.event("step", proc.Stop{TID: d.cur}), nil
}

// stopHidden is a step's stop at the selected thread's PC showing the
// frame n inline frames out from the innermost (Debugger.hidden).
func (d *Debugger) stopHidden(n int) *Event {
	pc := d.pc()
	ev := d.event("step", proc.Stop{TID: d.cur})
	d.hidden = hiddenInline{tid: d.cur, pc: pc, n: n}
	d.describe(ev)
	return ev
}

// stepCall runs the call instruction in: over it (next, or a callee not
// worth entering), or into it to the end of the callee's prologue. It
// returns an event only for a stop that ends the step.
func (d *Debugger) stepCall(ctx context.Context, in disasm.Inst, id frameID, into bool, from string) (*Event, error) {
	ret := in.Addr + uint64(in.Len)
	if into {
		ev, err := d.StepInstruction(ctx)
		if err != nil || ev.Reason != "step" {
			return ev, err
		}
		if ev, entered, err := d.enterCallee(ctx, from); err != nil || entered {
			return ev, err
		}
	}
	return d.runTo(ctx, ret, id, false)
}

// enterCallee, with the selected thread at a callee's first instruction,
// runs it to the end of the callee's prologue and returns the step's stop,
// entered true, unless the callee is not worth entering (no line
// information; the runtime, from outside it).
func (d *Debugger) enterCallee(ctx context.Context, from string) (*Event, bool, error) {
	pc := d.pc()
	loc := d.locationAt(pc)
	enter := loc.File != "" && loc.Line != 0 &&
		(!strings.HasPrefix(loc.Function, "runtime.") || strings.HasPrefix(from, "runtime."))
	if !enter {
		return nil, false, nil
	}
	if body := d.bodyStart(pc); body != pc {
		callee := d.frameID(d.cur)
		ev, err := d.runToFunc(ctx, body, func(at frameID) bool { return at.sameOwner(callee) })
		if err != nil || ev != nil {
			return ev, true, err
		}
	}
	return d.event("step", proc.Stop{TID: d.cur}), true, nil
}

// calledInto reports whether the thread, one instruction on from the
// frame of id in function from, entered another function: its frame is
// deeper, or, where a call pushes nothing (mips64le, whose calls no
// decoder here tells apart), it stands on a function's first instruction.
func (d *Debugger) calledInto(id frameID, from string) bool {
	pc, at := d.pc(), d.frameID(d.cur)
	if !at.sameOwner(id) || d.locationAt(pc).Function == from {
		return false
	}
	_, off, ok := d.symbolAt(pc)
	return at.depth > id.depth || ok && off == 0
}

// finishFrame runs the selected thread's innermost frame to its return
// address, then on to where the frame of id is again.
func (d *Debugger) finishFrame(ctx context.Context, id frameID) (*Event, error) {
	fs, _, err := d.Stack(d.cur, 2)
	if err != nil {
		return nil, err
	}
	i := 0
	for i < len(fs) && fs[i].Inline {
		i++
	}
	if i+1 >= len(fs) {
		return nil, fmt.Errorf("cannot find the caller of %s to return to", orUnknown(fs[0].Function))
	}
	return d.runTo(ctx, fs[i+1].PC, id, false)
}

// runToFunc is runTo with the test of the frame given.
func (d *Debugger) runToFunc(ctx context.Context, addr uint64, ok func(at frameID) bool) (*Event, error) {
	if err := d.setInternal(addr); err != nil {
		return nil, err
	}
	defer d.clearInternal()
	for {
		ev, mine, err := d.run(ctx, func(tid int) bool { return ok(d.frameID(tid)) })
		if err != nil || ev != nil {
			return ev, err
		}
		if mine {
			return nil, nil
		}
	}
}

// pc returns the selected thread's PC (0 if it cannot be read).
func (d *Debugger) pc() uint64 {
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return 0
	}
	return regs.PC
}
