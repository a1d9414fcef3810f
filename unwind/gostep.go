package unwind

import (
	"fmt"
	"io"

	"github.com/taijidbg/taiji/pclntab"
)

// goStep unwinds a Go function using the pclntab's SP delta, exactly as the
// Go runtime's own traceback does: Go code has no CFI in stripped binaries,
// but the pcsp table tells how far SP is from the frame's top at every PC.
func (u *Unwinder) goStep(f *phys, fn *pclntab.Func, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	r := f.region
	if fn.TopFrame() {
		return phys{}, errTopFrame
	}
	if fn.Name == "runtime.asmcgocall" && !f.exact && a.GoCgoCall != nil {
		f.switched = true
		return u.cgoReturn(f, mem)
	}
	// A function that writes SP directly (mcall, systemstack, asmcgocall,
	// morestack, gogo) has switched stacks: below it lies either another
	// stack or stale memory, and its SP delta describes neither. Go's own
	// traceback stops here too, unless the frame is the innermost one,
	// where the delta is still exact.
	if fn.SPWrite() && !f.exact {
		return phys{}, errTopFrame
	}
	delta, ok := r.img.pcln.SPDelta(fn, f.lookupPC()-r.bias)
	if !ok {
		return phys{}, fmt.Errorf("%s: no SP delta for pc 0x%x in %s: walk ended", r.path, f.pc, fn.Name)
	}
	sp, _ := f.regs.Get(a.SP)
	ptr := uint64(a.PtrSize)
	regs := f.regs
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
			if ra, known = f.regs.Get(a.LR); !known {
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

// The Go runtime's g struct, as far as the unwinder reads it: g.sched, the
// goroutine's saved resume point, follows stack (2 words), stackguard0,
// stackguard1, _panic, _defer and m; gobuf starts with sp and pc. These
// offsets have not changed since Go 1.4 (later gobuf fields have).
const (
	gSchedSP = 7 // in pointer-size words
	gSchedPC = 8
)

// cgoReturn steps from runtime.asmcgocall's frame on the system stack, where
// the C code it called returns, back to the goroutine stack it left: the
// Go frames that made the cgo call. gdb stops here, or prints garbage.
// asmcgocall saved the goroutine's resume point in g.sched (its PC inside
// runtime.systemstack_switch, whose frame mirrors asmcgocall's), exactly so
// that Go's own traceback can do this.
func (u *Unwinder) cgoReturn(f *phys, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	sp, _ := f.regs.Get(a.SP)
	g, err := u.readPtr(mem, sp+uint64(a.GoCgoCall.G))
	if err != nil {
		return phys{}, err
	}
	if g == 0 { // called on the system stack already: nothing to return to
		return phys{}, errTopFrame
	}
	ptr := uint64(a.PtrSize)
	gsp, err := u.readPtr(mem, g+gSchedSP*ptr)
	if err != nil {
		return phys{}, fmt.Errorf("runtime.asmcgocall: cannot read the goroutine's saved state: %v", err)
	}
	gpc, err := u.readPtr(mem, g+gSchedPC*ptr)
	if err != nil {
		return phys{}, fmt.Errorf("runtime.asmcgocall: cannot read the goroutine's saved state: %v", err)
	}
	regs := f.regs
	regs.PC = gpc
	regs.Set(a.SP, gsp)
	// The resume PC is where the goroutine stands, not a return address.
	return phys{pc: gpc, regs: regs, exact: true}, nil
}
