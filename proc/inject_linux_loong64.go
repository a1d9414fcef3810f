package proc

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// loong64 system call injection, as on amd64 and mips64le: the kernel
// rewinds an interrupted call only after the stop
// (arch_do_signal_or_restart, arch/loongarch/kernel/signal.c), and the
// register file shows everything needed to replay that: a0 holds
// -ERESTART*, orig_a0 the first argument, a7 still the call number, and
// regs[0] (r0's slot, which user code cannot use) is the kernel's "in a
// system call" mark (do_syscall sets it to the number + 1). NT_PRSTATUS
// reads and writes all of them.

// replayRestart returns r as the thread will continue: if it stopped in an
// interrupted system call, a0 is reloaded and era moved back onto the
// syscall instruction (with a7 set to restart_syscall, whose restart block
// remembers what is left of a sleep, for -ERESTART_RESTARTBLOCK), exactly
// as the kernel does when no signal handler runs; regs[0] is cleared, so
// the kernel does not do it a second time.
func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	out := *r
	if r.Regs[0] == 0 {
		return out, false // not in a system call
	}
	switch -int64(r.Regs[4]) {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND:
		out.Regs[4] = r.Orig_a0
		out.Era -= uint64(len(a.Syscall.Insn))
	case arch.ERESTART_RESTARTBLOCK:
		nr, _ := a.SyscallNumber("restart_syscall")
		out.Regs[4] = r.Orig_a0
		out.Regs[11] = uint64(nr)
		out.Era -= uint64(len(a.Syscall.Insn))
	}
	out.Regs[0] = 0
	return out, false
}

// prepareSyscall marks registers set for an injected call as not being in
// a system call, so the kernel's restart logic, run when the thread leaves
// its current stop, cannot rewind the injected PC.
func prepareSyscall(r *unix.PtraceRegs) { r.Regs[0] = 0 }

// suppressRestart: regs[0], part of the register file, did it.
func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall is only needed by the probe, which loong64 does not use.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	return &Error{Msg: "cancelling a system call is not implemented on loong64", Err: ErrNotSupported}
}

// dyingRegs returns what the stub restores if taiji dies mid-injection,
// when that must differ from fixed: its rt_sigreturn clears the thread's
// restart block, so a replayed restart_syscall would fail with EINTR;
// the original call, whose number a7 still holds at the stop, is
// restarted from its beginning instead.
func dyingRegs(stop, fixed *unix.PtraceRegs) *unix.PtraceRegs {
	if fixed.Regs[11] == stop.Regs[11] {
		return nil
	}
	d := *fixed
	d.Regs[11] = stop.Regs[11]
	return &d
}

// The loong64 stub restores the thread with rt_sigreturn, as on arm64 and
// riscv64: no instruction sequence can reload all 31 registers and the PC
// from memory and jump back, since the jump needs a register. After the
// injected syscall (reached only if taiji died) it points sp at a signal
// frame taiji wrote after the code and calls rt_sigreturn, which reloads
// era (the PC), r1-r31 and the signal mask (arch/loongarch/kernel/signal.c):
//
//	syscall 0
//	pcaddi $sp, (frame-4)/4 ; li.w $a7, 139 ; syscall 0
//	frame: rt_sigframe { siginfo; ucontext { uc_flags, uc_link,
//	       uc_stack, uc_sigmask, __unused, uc_mcontext { sc_pc,
//	       sc_regs[32], sc_flags, sc_extcontext: end header (0, 0) } } }
//
// The frame has no FPU context: the kernel then leaves the floating-point
// registers as they are, which the injected call did not change.
const (
	laFrame     = 32         // 16-aligned, past the code
	laUC        = 128        // after siginfo
	laMC        = laUC + 176 // uc_mcontext, 16-aligned
	laFrameSize = laMC + 288 // sc_pc, sc_regs, sc_flags, the 16-aligned end header
)

func stubSize(a *arch.Arch) int { return laFrame + laFrameSize }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	b, mask, err := sigreturnStub(tid, stubSize(a),
		0x002b0000,                    // syscall 0
		0x18000000|(laFrame-4)/4<<5|3, // pcaddi $sp, (frame-4)/4
		0x03800000|139<<10|11,         // ori $a7, $zero, 139 (rt_sigreturn)
		0x002b0000,                    // syscall 0
	)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	f := b[laFrame:]
	// uc_stack.ss_flags invalid: restore_altstack then fails with EINVAL,
	// which sigreturn ignores, and leaves the thread's alternate signal
	// stack, which taiji cannot read, as it was.
	le.PutUint32(f[laUC+16+8:], 0x7fff)
	le.PutUint64(f[laUC+40:], mask)
	le.PutUint64(f[laMC:], r.Era)
	for i, v := range r.Regs {
		le.PutUint64(f[laMC+8+8*i:], v)
	}
	// sc_flags and the end header (magic 0, size 0) stay zero.
	return b, nil
}
