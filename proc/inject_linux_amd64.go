package proc

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// amd64 system call injection: the kernel shows -ERESTART* in rax and the
// call number in orig_rax at a stop inside an interrupted call, and rewinds
// rip by 2 only after the stop (arch_do_signal_or_restart), so taiji can
// replay the restart itself.

// replayRestart returns r as the thread will continue: if it stopped in an
// interrupted system call, rax is reloaded and rip moved back onto the
// syscall instruction (or rax set to restart_syscall, whose restart block
// remembers what is left of a sleep), exactly as the kernel does when no
// signal handler runs.
func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	out := *r
	if int64(r.Orig_rax) < 0 {
		return out, false
	}
	switch -int64(r.Rax) {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND:
		out.Rax = r.Orig_rax
		out.Rip -= uint64(len(a.Syscall.Insn))
	case arch.ERESTART_RESTARTBLOCK:
		nr, _ := a.SyscallNumber("restart_syscall")
		out.Rax = uint64(nr)
		out.Rip -= uint64(len(a.Syscall.Insn))
	}
	out.Orig_rax = ^uint64(0)
	return out, false
}

// prepareSyscall marks registers set for an injected call as not being in
// a system call, so the kernel's restart logic, run when the thread leaves
// its current stop, cannot rewind the injected PC.
func prepareSyscall(r *unix.PtraceRegs) { r.Orig_rax = ^uint64(0) }

// suppressRestart: on amd64 orig_rax, part of the register file, did it.
func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall sets r on a thread stopped at the entry of a system call
// and makes the kernel skip the call.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	r.Orig_rax = ^uint64(0)
	return setRegs(tid, r)
}

// amd64 stub: syscall, then (only if taiji died) reload every register
// from the block that follows and jump back, without touching the stack:
// rsp points into the block only for popfq.
//
//	syscall
//	lea rsp, [rip+flags] ; popfq
//	mov rax, [rip+rax] ... mov r15, [rip+r15]   (all but rsp)
//	mov rsp, [rip+rsp]
//	jmp [rip+rip]
//	block: 16 GPRs (encoding order, rsp's slot unused), rip, rflags
const amd64StubCode = 2 + 7 + 1 + 15*7 + 7 + 6

func stubSize(a *arch.Arch) int { return (amd64StubCode+7)&^7 + 18*8 }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	block := (amd64StubCode + 7) &^ 7
	slot := func(i int) int { return block + 8*i } // 0-15 GPRs, 16 rip, 17 rflags
	code := make([]byte, 0, stubSize(a))
	ripRel := func(op []byte, target int) {
		code = append(code, op...)
		disp := int32(target - (len(code) + 4))
		code = binary.LittleEndian.AppendUint32(code, uint32(disp))
	}
	code = append(code, 0x0f, 0x05)            // syscall
	ripRel([]byte{0x48, 0x8d, 0x25}, slot(17)) // lea rsp, [rip+flags]
	code = append(code, 0x9d)                  // popfq
	for reg := 0; reg < 16; reg++ {
		if reg == 4 {
			continue // rsp last
		}
		rex := byte(0x48)
		if reg >= 8 {
			rex |= 4
		}
		ripRel([]byte{rex, 0x8b, 0x05 | byte(reg&7)<<3}, slot(reg))
	}
	ripRel([]byte{0x48, 0x8b, 0x25}, slot(4)) // mov rsp, [rip+rsp]
	ripRel([]byte{0xff, 0x25}, slot(16))      // jmp [rip+rip]
	for len(code) < block {
		code = append(code, 0xcc)
	}
	// Encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15.
	for _, v := range []uint64{r.Rax, r.Rcx, r.Rdx, r.Rbx, r.Rsp, r.Rbp, r.Rsi, r.Rdi,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15, r.Rip, r.Eflags} {
		code = binary.LittleEndian.AppendUint64(code, v)
	}
	return code, nil
}
