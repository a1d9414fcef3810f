package debugger

import (
	"bytes"

	"github.com/taijidbg/taiji/arch"
)

// sigreturnTo returns, when the selected thread stands at pc on the system
// call instruction of an rt_sigreturn (the call number in its register),
// the PC the kernel restores from the signal frame: where the interrupted
// code resumes, as the handler left it in the ucontext.
//
// stepi runs there with a temporary breakpoint rather than a single step:
// arm64's sigreturn restores PSTATE.SS from the frame, so a hardware step
// of the svc runs one instruction more before it traps, and a software
// step (mips64le) plants its trap after the syscall instruction, which
// the thread never reaches.
//
// The frame is read at SP as the unwinder reads it at the trampoline
// (arch.SigFrame), less what the trampoline popped before its system call
// (SigFrame.Pop: ppc64's gap below the frame).
func (d *Debugger) sigreturnTo(pc uint64) (uint64, bool) {
	a := d.Arch
	nr, ok := a.SyscallNumber("rt_sigreturn")
	if !ok || len(a.Syscall.Insn) == 0 {
		return 0, false
	}
	insn := make([]byte, len(a.Syscall.Insn))
	if d.s.ReadMemory(pc, insn) != nil || !bytes.Equal(insn, a.Syscall.Insn) {
		return 0, false
	}
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return 0, false
	}
	if v, ok := regs.Get(a.Syscall.Nr); !ok || v != uint64(nr) {
		return 0, false
	}
	sp, _ := regs.Get(a.SP)
	for i, slot := range a.SigFrame.Slots {
		if slot != arch.SlotPC {
			continue
		}
		b := make([]byte, 8)
		if d.s.ReadMemory(sp+uint64(a.SigFrame.Regs-a.SigFrame.Pop)+8*uint64(i), b) != nil {
			return 0, false
		}
		return a.ByteOrder.Uint64(b), true
	}
	return 0, false
}

// atHandlerCall reports whether the selected thread stands where the
// kernel left it to enter a signal handler through a trampoline that calls
// it (arch.SigFrame.HandlerCall): one more step runs into the handler.
func (d *Debugger) atHandlerCall(pc uint64) bool {
	code := d.Arch.SigFrame.HandlerCall
	if len(code) == 0 {
		return false
	}
	b := make([]byte, len(code))
	return d.s.ReadMemory(pc, b) == nil && bytes.Equal(b, code)
}
