package unwind

import (
	"fmt"
	"io"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/pclntab"
)

// goStep unwinds a Go function using the pclntab's SP delta, exactly as the
// Go runtime's own traceback does: Go code has no CFI in stripped binaries,
// but the pcsp table tells how far SP is from the frame's top at every PC.
// At the runtime's stack-switching functions it follows the switch as the
// rules of package goruntime say (see goSwitch).
func (u *Unwinder) goStep(f *phys, fn *pclntab.Func, mem io.ReaderAt, gw *gwalk) (phys, error) {
	if fn.TopFrame() {
		if c, ok := u.sigtrampReturn(f, fn, mem); ok {
			return c, nil
		}
		return phys{}, errTopFrame
	}
	if c, ok, err := u.goSwitch(f, fn, mem, gw); ok {
		return c, err
	}
	// A function that writes SP directly (mcall, gogo, and the switching
	// functions above when the runtime state to follow them is unknown)
	// has switched stacks: below it lies either another stack or stale
	// memory, and its SP delta describes neither. Go's own traceback
	// stops here too, unless the frame is the innermost one, where the
	// delta is still exact.
	if fn.SPWrite() && !f.exact {
		return phys{}, errTopFrame
	}
	return u.goFrame(f, fn, f.regs, mem)
}

// sigtrampReturn steps out of runtime.sigtramp, the signal handler the
// kernel calls. It is a TOPFRAME to Go's traceback, which reads the
// interrupted context from the handler's arguments instead; its return
// address is the sa_restorer, runtime.sigreturn__sigaction in the same
// binary, whose signal frame the walk then crosses, as gdb does. ok is
// false for any other top frame.
func (u *Unwinder) sigtrampReturn(f *phys, fn *pclntab.Func, mem io.ReaderAt) (phys, bool) {
	r := f.region
	c, err := u.goFrame(f, fn, f.regs, mem)
	if err != nil || c.pc < r.start || c.pc >= r.end {
		return phys{}, false
	}
	c.region = r
	return c, u.isSigtramp(&c)
}

// goFrame finds the caller of the Go frame f as if its SP were the one in
// regs: the usual step, and the second half of a stack switch whose frame
// continues on another stack.
func (u *Unwinder) goFrame(f *phys, fn *pclntab.Func, regs arch.Regs, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	r := f.region
	delta, ok := r.img.spDelta(fn, f.lookupPC()-r.bias)
	if !ok {
		return phys{}, fmt.Errorf("%s: no SP delta for pc 0x%x in %s: walk ended", r.path, f.pc, fn.Name)
	}
	sp, _ := regs.Get(a.SP)
	ptr := uint64(a.PtrSize)
	var ra, cfa uint64
	var err error
	if a.GoUsesLR {
		// The frame's top is SP+delta. A function that has not yet (or
		// never) built a frame still holds its return address in LR;
		// otherwise the prologue saved LR at 0(SP) and the caller's FP just
		// below the frame.
		cfa = sp + uint64(delta)
		if delta == 0 {
			var known bool
			if ra, known = regs.Get(a.LR); !known {
				return phys{}, fmt.Errorf("the return address of %s is lost (LR unknown): walk ended", fn.Name)
			}
		} else {
			if ra, err = u.readPtr(mem, sp); err != nil {
				return phys{}, err
			}
			if fp, err := u.readPtr(mem, sp-ptr); err == nil {
				regs.Set(a.FP, fp)
			}
		}
	} else {
		// CALL pushed the return address just above the frame; a function
		// with a frame saved the caller's frame pointer below it.
		cfa = sp + uint64(delta) + ptr
		if ra, err = u.readPtr(mem, cfa-ptr); err != nil {
			return phys{}, err
		}
		if delta > 0 {
			if fp, err := u.readPtr(mem, cfa-2*ptr); err == nil {
				regs.Set(a.FP, fp)
			}
		}
	}
	regs.PC = ra
	regs.Set(a.SP, cfa)
	return phys{pc: ra, regs: regs}, nil
}

// goSwitch follows a stack switch at f, a frame of one of the runtime's
// stack-switching functions (goruntime.SwitchAt), as Go's own traceback
// does and, for cgo, through the C frames between. ok is false when f is
// not such a frame or the runtime state needed is unknown: the caller then
// treats f as any SPWRITE function.
func (u *Unwinder) goSwitch(f *phys, fn *pclntab.Func, mem io.ReaderAt, gw *gwalk) (c phys, ok bool, err error) {
	sw, isSwitch := goruntime.SwitchAt(fn.Name)
	if !isSwitch || sw.Resume == goruntime.ResumeEnd {
		return phys{}, false, nil
	}
	a := u.Arch
	if sw.Resume == goruntime.ResumeVDSO {
		return u.vdsoReturn(f, mem, gw)
	}
	if sw.Resume == goruntime.ResumeSavedG {
		// The C code asmcgocall ran has returned to it: f is not the
		// innermost frame. Innermost, the thread is still in asmcgocall
		// and its pcsp delta holds.
		if f.exact || a.GoCgoCall == nil {
			return phys{}, false, nil
		}
		f.switched = true
		if n := len(gw.pending); n > 0 {
			// A callback was crossed on the way here: the goroutine's
			// g.sched has been reused since, but the callback's frame
			// kept where the goroutine left off.
			c = gw.pending[n-1]
			gw.pending = gw.pending[:n-1]
			gw.g = gw.curg
			return c, true, nil
		}
		c, err = u.cgoReturn(f, mem, gw)
		return c, true, err
	}
	if sw.Resume == goruntime.ResumeG0SP && gw.parked {
		// The frame cgocallback built on the goroutine's stack returns
		// to where the goroutine called C (curg.sched.pc then: a resume
		// point, not a return address).
		back, err := u.goFrame(f, fn, f.regs, mem)
		if err != nil {
			return phys{}, false, nil
		}
		back.exact = true
		return back, true, nil
	}
	rt := gw.state(u, f.region.img, mem)
	if rt == nil {
		return phys{}, false, nil
	}
	l := rt.layout
	switch sw.Resume {
	case goruntime.ResumeCurgSP: // systemstack
		if !rt.onG0() {
			return phys{}, false, nil
		}
		delta, _ := f.region.img.spDelta(fn, f.lookupPC()-f.region.bias)
		if !goruntime.SystemstackSwitched(a.GoUsesLR, delta) {
			return phys{}, false, nil
		}
		sp, err := u.readPtr(mem, rt.curg+uint64(l.SchedSP()))
		if err != nil || sp == 0 {
			return phys{}, false, nil
		}
		regs := f.regs
		regs.Set(a.SP, sp)
		f.switched = true
		gw.enter(rt.curg)
		c, err = u.goFrame(f, fn, regs, mem)
		return c, true, err
	case goruntime.ResumeCurgSched: // morestack
		if !rt.onG0() {
			return phys{}, false, nil
		}
		sched, err := u.readSched(mem, rt.curg, l)
		if err != nil {
			return phys{}, false, nil
		}
		f.switched = true
		gw.enter(rt.curg)
		return sched, true, nil
	case goruntime.ResumeG0SP: // cgocallback, on the goroutine's stack
		if rt.g == rt.g0 || rt.g == 0 {
			return phys{}, false, nil
		}
		// Where the goroutine continues once the callback returns: the
		// frame cgocallback built on its stack returns to the old
		// curg.sched.pc. Kept for asmcgocall, below the C frames.
		back, err := u.goFrame(f, fn, f.regs, mem)
		if err != nil {
			return phys{}, false, nil
		}
		// That return PC is curg.sched.pc, a resume point (go1.19 saves
		// systemstack_switch's entry there), not a return address.
		back.exact = true
		sp0, err := u.readPtr(mem, rt.g0+uint64(l.SchedSP()))
		if err != nil || sp0 == 0 {
			return phys{}, false, nil
		}
		regs := f.regs
		regs.Set(a.SP, sp0)
		c, err = u.goFrame(f, fn, regs, mem)
		if err != nil {
			return phys{}, false, nil
		}
		f.switched = true
		gw.pending = append(gw.pending, back)
		gw.curg = rt.g
		gw.enter(rt.g0)
		return c, true, nil
	}
	return phys{}, false, nil
}

// vdsoReturn steps from a runtime function that calls into the vDSO
// (goruntime.ResumeVDSO) to its caller at m.vdsoPC and m.vdsoSP, as Go's
// traceback does for a thread in the vDSO (runtime/proc.go sigprof,
// runtime/traceback.go traceback2). The function may have moved SP to
// m.g0's stack (and aligned it), where its pcsp delta describes nothing.
// The fields hold its caller only while m.vdsoSP lies on the walk's g's
// stack: before the function sets them (or after it restored them) they
// are 0, or a call interrupted by the signal handler the walk is in, on
// another stack; then ok is false, and the frame unwinds by its pcsp delta
// if innermost (SP is not switched then) or ends the walk (an SPWRITE
// frame) if not.
func (u *Unwinder) vdsoReturn(f *phys, mem io.ReaderAt, gw *gwalk) (c phys, ok bool, err error) {
	a := u.Arch
	if !gw.resolved {
		// The vDSO is C code: it may use the g register, callee-saved
		// in C, as scratch. The value its frame's CFI restored is the
		// one the Go code holds.
		gw.regs = f.regs
	}
	rt := gw.state(u, f.region.img, mem)
	if rt == nil {
		return phys{}, false, nil
	}
	sp, pc, ok := u.vdsoCaller(mem, rt)
	if !ok {
		return phys{}, false, nil
	}
	regs := f.regs
	regs.PC = pc
	regs.Set(a.SP, sp)
	if a.GoUsesLR {
		// The caller made a call: its return address is in its frame,
		// not in LR (which held vdsoPC on entry).
		regs.Forget(a.LR)
	}
	f.switched = true
	gw.enter(rt.g)
	return phys{pc: pc, regs: regs}, true, nil
}

// vdsoCaller returns m.vdsoSP and m.vdsoPC of the walk's m when they
// describe a frame on the walk's g's stack (see vdsoReturn).
func (u *Unwinder) vdsoCaller(mem io.ReaderAt, rt *gstate) (sp, pc uint64, ok bool) {
	l := rt.layout
	if !l.M.VdsoSP.Known() || !l.M.VdsoPC.Known() {
		return 0, 0, false
	}
	lo, hi, ok := u.stackBounds(mem, rt.g, l)
	if !ok {
		return 0, 0, false
	}
	sp, err1 := u.readPtr(mem, rt.m+uint64(l.M.VdsoSP))
	pc, err2 := u.readPtr(mem, rt.m+uint64(l.M.VdsoPC))
	if err1 != nil || err2 != nil || pc == 0 || sp <= lo || sp >= hi {
		return 0, 0, false
	}
	return sp, pc, true
}

// stackBounds reads g.stack: [lo, hi).
func (u *Unwinder) stackBounds(mem io.ReaderAt, g uint64, l *goruntime.Layout) (lo, hi uint64, ok bool) {
	if !l.G.StackLo.Known() || !l.G.StackHi.Known() {
		return 0, 0, false
	}
	lo, err1 := u.readPtr(mem, g+uint64(l.G.StackLo))
	hi, err2 := u.readPtr(mem, g+uint64(l.G.StackHi))
	if err1 != nil || err2 != nil || hi <= lo {
		return 0, 0, false
	}
	return lo, hi, true
}

// readSched reads g.sched of the goroutine g as the frame it resumes at.
func (u *Unwinder) readSched(mem io.ReaderAt, g uint64, l *goruntime.Layout) (phys, error) {
	a := u.Arch
	sp, err := u.readPtr(mem, g+uint64(l.SchedSP()))
	if err != nil {
		return phys{}, err
	}
	pc, err := u.readPtr(mem, g+uint64(l.SchedPC()))
	if err != nil {
		return phys{}, err
	}
	if sp == 0 || pc == 0 {
		return phys{}, fmt.Errorf("goroutine 0x%x has no saved state", g)
	}
	var regs arch.Regs
	regs.PC = pc
	regs.Set(a.SP, sp)
	if a.GoUsesLR && l.SchedLR().Known() {
		if lr, err := u.readPtr(mem, g+uint64(l.SchedLR())); err == nil {
			regs.Set(a.LR, lr)
		}
	}
	if l.SchedBP().Known() {
		if bp, err := u.readPtr(mem, g+uint64(l.SchedBP())); err == nil {
			regs.Set(a.FP, bp)
		}
	}
	return phys{pc: pc, regs: regs}, nil
}

// cgoReturn steps from runtime.asmcgocall's frame on the system stack, where
// the C code it called returns, back to the goroutine stack it left: the
// Go frames that made the cgo call. gdb stops here, or prints garbage.
// asmcgocall saved the goroutine's resume point in g.sched (its PC inside
// runtime.systemstack_switch, whose frame mirrors asmcgocall's), exactly so
// that Go's own traceback can do this.
func (u *Unwinder) cgoReturn(f *phys, mem io.ReaderAt, gw *gwalk) (phys, error) {
	a := u.Arch
	im := f.region.img
	l, err := im.goLayout(u.Arch)
	if err != nil {
		return phys{}, fmt.Errorf("runtime.asmcgocall: cannot return to the goroutine: %v", err)
	}
	sp, _ := f.regs.Get(a.SP)
	// The slot of the saved g moved between releases (amd64, go1.22).
	g, err := u.readPtr(mem, sp+uint64(a.GoCgoCall.GFor(im.goVer)))
	if err != nil {
		return phys{}, err
	}
	if g == 0 { // called on the system stack already: nothing to return to
		return phys{}, errTopFrame
	}
	c, err := u.readSched(mem, g, l)
	if err != nil {
		return phys{}, fmt.Errorf("runtime.asmcgocall: cannot read the goroutine's saved state: %v", err)
	}
	gw.enter(g)
	// The resume PC is where the goroutine stands, not a return address.
	c.exact = true
	return c, nil
}
