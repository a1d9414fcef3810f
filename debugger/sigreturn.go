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
// (arch.SigFrame): the instructions before the system call, which load
// its number, leave SP alone.
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
		if d.s.ReadMemory(sp+uint64(a.SigFrame.Regs)+8*uint64(i), b) != nil {
			return 0, false
		}
		return a.ByteOrder.Uint64(b), true
	}
	return 0, false
}
