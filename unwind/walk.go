package unwind

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/cfi"
	"github.com/taijidbg/taiji/disasm"
)

// phys is one physical user frame found by the walk.
type phys struct {
	pc     uint64
	regs   arch.Regs
	region *region
	// exact is true when pc itself, not pc-1, is the address to look up:
	// the innermost frame, and the frame a signal interrupted (its PC is
	// where it stopped, not a return address after a call).
	exact  bool
	signal bool
	// switched is true when the caller lives on another stack (a signal
	// on sigaltstack, a cgo call returning to its goroutine's stack), so
	// SP need not grow between the two.
	switched bool
	method   string
	// note, if set, says the walk guessed this frame (see noCFIStep).
	note string
	// cfa is the CFA the frame's CFI step computed, 0 where no CFI
	// described it (then the caller's SP stands for it).
	cfa uint64
}

// lookupPC is the address inside the instruction that made the call.
func (f *phys) lookupPC() uint64 {
	if f.exact || f.pc == 0 {
		return f.pc
	}
	return f.pc - 1
}

// walkLimit bounds a walk even when --max-frames is 0: every step must
// raise SP, so the stack's size bounds it too, but corrupt memory can mimic
// a very deep stack.
const walkLimit = 1 << 20

// errLoop ends a walk whose frames stop making progress.
var errLoop = errors.New("the stack pointer stopped advancing (a loop in the frame chain): walk ended")

// walk finds the physical frames of one thread, innermost first. The note
// says why the walk ended if it did not reach a true outermost frame.
func (u *Unwinder) walk(sp *space, regs arch.Regs, mem io.ReaderAt, limit int) (frames []phys, note string) {
	return u.walkFrom(sp, phys{pc: regs.PC, regs: regs, exact: true}, &gwalk{regs: regs}, mem, limit, nil)
}

// walkFrom is walk from the frame cur, with the Go runtime state gw,
// appending the frames to frames.
func (u *Unwinder) walkFrom(sp *space, cur phys, gw *gwalk, mem io.ReaderAt, limit int, frames []phys) (_ []phys, note string) {
	a := u.Arch
	sameSP := 0
	for len(frames) < limit {
		cur.region = sp.find(cur.pc)
		if cur.region == nil && len(frames) > 0 {
			// No code lives there: the return address is garbage (a
			// stale stack slot, a corrupt frame). Printing it as a frame
			// is what gdb and eu-stack do; saying so is more useful.
			return frames, u.endNote(&frames[len(frames)-1], fmt.Sprintf("return address 0x%x is not in any executable mapping: walk ended", cur.pc))
		}
		caller, method, err := u.step(&cur, mem, gw)
		cur.method = method
		frames = append(frames, cur)
		if err != nil {
			if !errors.Is(err, cfi.ErrEndOfStack) && !errors.Is(err, errTopFrame) {
				note = u.endNote(&cur, err.Error())
			}
			return frames, note
		}
		if caller.pc == 0 {
			return frames, ""
		}
		if u.onStack(sp, &cur, caller.pc) {
			// Code does not run from the stack it calls on: a return
			// address there is a stale slot (some arches map stacks
			// executable, so the mapping alone does not tell).
			return frames, u.endNote(&cur, fmt.Sprintf("return address 0x%x points into the stack: walk ended", caller.pc))
		}
		// A caller's SP is above its callee's: stacks grow down. Frames
		// that switch stacks are exempt; a frame without its own stack
		// space (a leaf on an LR arch) keeps SP once, never twice in a row.
		oldSP, _ := cur.regs.Get(a.SP)
		newSP, _ := caller.regs.Get(a.SP)
		if !cur.signal && !cur.switched {
			switch {
			case newSP < oldSP:
				return frames, fmt.Sprintf("the stack pointer went backwards at 0x%x (corrupt stack?): walk ended", caller.pc)
			case newSP == oldSP:
				if sameSP++; sameSP > 1 {
					return frames, errLoop.Error()
				}
			default:
				sameSP = 0
			}
		}
		cur = caller
	}
	return frames, ""
}

var errTopFrame = errors.New("outermost Go frame")

// step computes the caller of f.
func (u *Unwinder) step(f *phys, mem io.ReaderAt, gw *gwalk) (caller phys, method string, err error) {
	r := f.region
	if r == nil {
		return caller, "", fmt.Errorf("pc 0x%x is not in any executable mapping: walk ended", f.pc)
	}
	if u.isSigtramp(f) {
		f.signal = true
		c, err := u.sigreturn(f, mem)
		// The interrupted code ran with its own g register.
		*gw = gwalk{regs: c.regs}
		return c, "signal", err
	}
	if r.img != nil && r.img.mod != nil {
		r.img.tables()
		pc := f.lookupPC() - r.bias
		if r.img.pcln != nil {
			if fn, ok := r.img.goFunc(pc); ok {
				c, err := u.goStep(f, fn, mem, gw)
				return c, "go", err
			}
		}
		for _, table := range []func() *cfi.Table{func() *cfi.Table { return r.img.eh }, r.img.debugFrame} {
			t := table()
			if t == nil {
				continue
			}
			row, err := t.Lookup(pc)
			if errors.Is(err, cfi.ErrNoFDE) {
				continue
			}
			if err != nil {
				return caller, "", fmt.Errorf("%s: %v", r.path, err)
			}
			regs, cfa, err := row.Step(&f.regs, mem, u.Arch)
			if err != nil {
				return caller, "cfi", err
			}
			f.cfa = cfa
			// An FDE with the "S" augmentation is a signal trampoline the
			// byte patterns did not know: its caller was interrupted, not
			// calling, so its PC is looked up as is.
			if row.SignalFrame {
				f.signal = true
			}
			return phys{pc: regs.PC, regs: regs, exact: row.SignalFrame}, "cfi", nil
		}
	}
	return u.noCFIStep(f, mem)
}

// maxAnalysed bounds the code read from a function's entry to its PC.
const maxAnalysed = 64 << 10

// noCFIStep finds the caller of a frame that neither CFI nor pclntab
// describes. Where the function's symbol gives its entry, its instructions
// from there to the PC say where the return address is (disasm.FrameAt):
// after `push %rbp; mov %rsp,%rbp` the frame pointer, else the stack
// pointer and what was pushed since the entry; at the entry itself, [SP].
// Only where the code cannot be followed (no symbol, no decoder, the stack
// pointer realigned) is the frame-pointer chain trusted, and the caller
// carries a note saying so: a function that did not save the frame pointer
// makes that chain skip its caller.
func (u *Unwinder) noCFIStep(f *phys, mem io.ReaderAt) (phys, string, error) {
	why := "no symbol"
	if r := f.region; r != nil && r.img != nil && r.img.mod != nil {
		pc := f.pc - r.bias
		if name, start, ok := r.img.mod.Symbol(f.lookupPC() - r.bias); ok {
			why = name + "'s code could not be followed"
			if pc-start <= maxAnalysed {
				code, err := r.img.mod.Code(start, int(pc-start))
				if err == nil {
					var fr disasm.Frame
					if fr, err = disasm.FrameAt(u.Arch, code, start, pc); err == nil {
						c, err := u.frameStep(f, fr, mem)
						return c, "code", err
					}
				}
				why = fmt.Sprintf("%s (%v)", why, strings.TrimPrefix(err.Error(), "disasm: "))
			}
		}
	}
	c, err := u.fpStep(f, mem)
	c.note = "guessed from the frame-pointer chain, a frame may be missing above: the callee has no CFI and " + why
	return c, "fp", err
}

// frameStep applies what disasm.FrameAt found: the CFA from SP or FP, the
// return address and the saved registers at their slots.
func (u *Unwinder) frameStep(f *phys, fr disasm.Frame, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	base, ok := f.regs.Get(fr.Base)
	if !ok {
		return phys{}, fmt.Errorf("no CFI for pc 0x%x and %s is unknown: walk ended", f.pc, a.RegName(fr.Base))
	}
	cfa := base + uint64(fr.Offset)
	ra, err := u.readPtr(mem, cfa+uint64(fr.RA))
	if err != nil {
		return phys{}, err
	}
	regs := f.regs
	for n, off := range fr.Saved {
		v, err := u.readPtr(mem, cfa+uint64(off))
		if err != nil {
			return phys{}, err
		}
		regs.Set(n, v)
	}
	for _, n := range fr.Clobbered {
		regs.Forget(n)
	}
	regs.Set(a.SP, cfa)
	regs.PC = ra
	return phys{pc: ra, regs: regs}, nil
}

// isSigtramp recognises the sigreturn trampoline by its instruction bytes,
// as gdb does: it works for glibc's __restore_rt, the vDSO's trampoline and
// Go's runtime.sigreturn, with or without symbols or CFI.
func (u *Unwinder) isSigtramp(f *phys) bool {
	code := u.Arch.SigFrame.Trampoline
	r := f.region
	if len(code) == 0 || r == nil || r.img == nil || r.img.mod == nil {
		return false
	}
	// Frames repeat their PCs (recursion, many threads in the same
	// calls): read each PC's bytes from the file once.
	pc := f.pc - r.bias
	if v, ok := r.img.tramp.Load(pc); ok {
		return v.(bool)
	}
	b, err := r.img.mod.Code(pc, len(code))
	is := err == nil && bytes.Equal(b, code)
	r.img.tramp.Store(pc, is)
	return is
}

// sigreturn restores the interrupted context the kernel saved for the
// handler, from the layout arch.SigFrame describes.
func (u *Unwinder) sigreturn(f *phys, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	sf := a.SigFrame
	sp, _ := f.regs.Get(a.SP)
	buf := make([]byte, len(sf.Slots)*8)
	if _, err := mem.ReadAt(buf, int64(sp)+sf.Regs); err != nil {
		return phys{}, fmt.Errorf("cannot read the signal frame at 0x%x: %v", sp+uint64(sf.Regs), err)
	}
	var regs arch.Regs
	for i, slot := range sf.Slots {
		v := a.ByteOrder.Uint64(buf[i*8:])
		switch slot {
		case arch.SlotPC:
			regs.PC = v
		case arch.SlotSkip:
		default:
			regs.Set(slot, v)
		}
	}
	return phys{pc: regs.PC, regs: regs, exact: true}, nil
}

// readPtr reads one pointer-sized word.
func (u *Unwinder) readPtr(mem io.ReaderAt, addr uint64) (uint64, error) {
	a := u.Arch
	var b [8]byte
	if _, err := mem.ReadAt(b[:a.PtrSize], int64(addr)); err != nil {
		return 0, fmt.Errorf("cannot read memory at 0x%x: %v", addr, err)
	}
	if a.PtrSize == 4 {
		return uint64(a.ByteOrder.Uint32(b[:])), nil
	}
	return a.ByteOrder.Uint64(b[:]), nil
}

// fpStep follows the frame-pointer chain: the last resort for code with
// neither CFI nor pclntab (JIT code, hand-written assembly). The frame
// record is {saved FP, return address} at FP on every arch Go supports
// with frame pointers.
func (u *Unwinder) fpStep(f *phys, mem io.ReaderAt) (phys, error) {
	a := u.Arch
	fp, ok := f.regs.Get(a.FP)
	sp, _ := f.regs.Get(a.SP)
	if !ok || fp == 0 || fp < sp {
		return phys{}, fmt.Errorf("no unwind information for pc 0x%x and no frame pointer: walk ended", f.pc)
	}
	savedFP, err := u.readPtr(mem, fp)
	if err != nil {
		return phys{}, err
	}
	ra, err := u.readPtr(mem, fp+uint64(a.PtrSize))
	if err != nil {
		return phys{}, err
	}
	regs := f.regs
	regs.PC = ra
	regs.Set(a.FP, savedFP)
	regs.Set(a.SP, fp+2*uint64(a.PtrSize))
	return phys{pc: ra, regs: regs}, nil
}

// onStack reports whether pc lies in the mapping that holds f's stack.
func (u *Unwinder) onStack(sp *space, f *phys, pc uint64) bool {
	s, _ := f.regs.Get(u.Arch.SP)
	for _, m := range sp.stacks {
		if m.start <= s && s < m.end {
			return m.start <= pc && pc < m.end
		}
	}
	return false
}

// outermostC names the C runtime's outermost functions: process and thread
// entry points that never return. Where their CFI marks the return address
// undefined (x86-64, arm64) the walk ends there by itself; where it does not
// (mips glibc) unwinding past them reads stale registers, so failing to do
// so is the end of the stack, not a broken one. gdb's "inside entry
// function" rule serves the same end.
var outermostC = map[string]bool{
	"_start": true, "__start": true, "start_thread": true, "thread_start": true,
	"__thread_start": true, "clone": true, "__clone": true, "clone3": true, "__clone3": true,
}

// endNote returns note, or "" when f is an outermost C runtime function and
// the walk simply could not go past it.
func (u *Unwinder) endNote(f *phys, note string) string {
	r := f.region
	if r == nil || r.img == nil || r.img.mod == nil {
		return note
	}
	if name, _, ok := r.img.mod.Symbol(f.lookupPC() - r.bias); ok && outermostC[name] {
		return ""
	}
	return note
}
