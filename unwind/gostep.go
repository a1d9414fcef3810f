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
