package unwind

import (
	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/target"
)

// PhysFrame is one physical user frame with what the unwinder recovered
// for it: a debugger's frame commands evaluate expressions in it.
type PhysFrame struct {
	// Regs are the frame's registers as the walk recovered them: all of
	// them in the innermost frame, the callee-saved ones, SP and PC above
	// (Regs.PC is the return address there, as Frame.PC).
	Regs arch.Regs
	// CFA is the canonical frame address (DWARF): the one the frame's CFI
	// gave, else the caller's SP at the call, which the walk found as the
	// caller's SP (they differ where arch.Arch.CFABias does: s390x). 0 for
	// an outermost frame without CFI.
	CFA uint64
	// Signal is set on the frame of the signal trampoline.
	Signal bool
	// Module is the module the PC lies in (nil if none could be opened),
	// Bias its load bias: a link-time address plus Bias is the process's.
	Module *module.Module
	Bias   uint64
	// Frames are the source frames at the PC, inline frames first, the
	// physical one last (at least one).
	Frames []Frame
}

// Walk unwinds one thread of s from regs and returns its physical frames,
// innermost first, at most limit of them (0: walkLimit). The note says why
// the walk ended early, if it did. s.Memory reads the process (a live
// process's s.Live).
func (u *Unwinder) Walk(s *target.Snapshot, regs arch.Regs, limit int, noSource bool) ([]PhysFrame, string) {
	if limit <= 0 {
		limit = walkLimit
	}
	sp := u.spaceOf(s)
	ph, note := u.walk(sp, regs, s.Memory(), limit)
	out := make([]PhysFrame, len(ph))
	for i := range ph {
		f := &ph[i]
		pf := PhysFrame{Regs: f.regs, Signal: f.signal, Frames: u.name(f, noSource)}
		if r := f.region; r != nil && r.img != nil {
			pf.Module, pf.Bias = r.img.mod, r.bias
		}
		if pf.CFA = f.cfa; pf.CFA == 0 && i+1 < len(ph) {
			pf.CFA, _ = ph[i+1].regs.Get(u.Arch.SP)
		}
		out[i] = pf
	}
	return out, note
}

// ModuleAt returns the module holding pc in s, with its load bias; nil if
// no module could be opened there. It unwinds nothing: a breakpoint
// condition over frame 0's registers and variables needs no more.
func (u *Unwinder) ModuleAt(s *target.Snapshot, pc uint64) (*module.Module, uint64) {
	r := u.spaceOf(s).find(pc)
	if r == nil || r.img == nil {
		return nil, 0
	}
	return r.img.mod, r.bias
}

// Goid returns the goid of the goroutine the thread with registers regs
// runs, 0 if none is known (see ThreadGoroutine).
func (u *Unwinder) Goid(s *target.Snapshot, regs arch.Regs) uint64 {
	return u.threadGoid(s, regs, s.Memory())
}
