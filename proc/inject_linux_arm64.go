package proc

import (
	"encoding/binary"
	"runtime"
	"unsafe"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// arm64 system call injection. do_signal rewinds the PC onto the svc and
// forgets both the error and the call number before the ptrace stop, and
// decides between the original call and restart_syscall only after it, so
// the register file at the stop cannot say how the call restarts: taiji
// probes (Session.probeRestart). NT_ARM_SYSTEM_CALL, the thread's current
// system call number, is set to -1 whenever taiji sets registers, so that
// no restart logic of the kernel applies to them.

const ntARMSystemCall = 0x404

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	return *r, true
}

func prepareSyscall(r *unix.PtraceRegs) {}

// suppressRestart sets the thread's system call number to -1 (NO_SYSCALL).
func suppressRestart(tid int, r *unix.PtraceRegs) error {
	nr := int32(-1)
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(&nr))}
	iov.SetLen(4)
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(tid),
		ntARMSystemCall, uintptr(unsafe.Pointer(&iov)), 0, 0)
	runtime.KeepAlive(&nr)
	if e != 0 {
		return e
	}
	return nil
}

// cancelSyscall sets r on a thread stopped at a system call's entry and
// skips the call: with the number -1 the kernel goes straight to the exit,
// leaving x0 as set.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	if err := setRegs(tid, r); err != nil {
		return err
	}
	return suppressRestart(tid, r)
}

// The arm64 stub restores the thread with rt_sigreturn: arm64 has no
// indirect branch through memory, so no instruction sequence can reload
// all 31 registers, SP and PC from a block and jump back. Instead, after
// the injected svc (reached only if taiji died), it points SP at a signal
// frame taiji wrote after the code and calls rt_sigreturn, which reloads
// x0-x30, sp, pc, pstate, the FP/SIMD registers and the signal mask:
//
//	svc #0
//	adr x0, frame ; mov sp, x0 ; mov x8, #139 ; svc #0
//	frame: rt_sigframe { siginfo; ucontext { ..., uc_mcontext { regs,
//	       sp, pc, pstate, __reserved: fpsimd_context, end marker } } }
const (
	arm64Code      = 5 * 4
	arm64Frame     = 32 // 16-aligned, past the code
	arm64UC        = 128
	arm64MC        = arm64UC + 176
	arm64Reserved  = arm64MC + 288
	arm64FrameSize = arm64Reserved + 528 + 16
)

func stubSize(a *arch.Arch) int { return arm64Frame + arm64FrameSize }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	var fp [528]byte // user_fpsimd_state: vregs[32], fpsr, fpcr, reserved
	iov := unix.Iovec{Base: &fp[0]}
	iov.SetLen(len(fp))
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(tid),
		uintptr(unix.NT_PRFPREG), uintptr(unsafe.Pointer(&iov)), 0, 0); e != 0 {
		return nil, e
	}
	var mask uint64
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGMASK, uintptr(tid), 8,
		uintptr(unsafe.Pointer(&mask)), 0, 0); e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	b := make([]byte, stubSize(a))
	adr := uint32(arm64Frame - 4) // from the adr instruction at offset 4
	for i, insn := range []uint32{
		0xd4000001,                             // svc #0
		0x10000000 | (adr&3)<<29 | (adr>>2)<<5, // adr x0, frame
		0x9100001f,                             // mov sp, x0
		0xd2801168,                             // mov x8, #139 (rt_sigreturn)
		0xd4000001,                             // svc #0
	} {
		le.PutUint32(b[4*i:], insn)
	}
	f := b[arm64Frame:]
	// uc_stack.ss_flags invalid: sigreturn's restore_altstack then fails
	// with EINVAL and leaves the thread's alternate signal stack, which
	// taiji cannot read, as it was.
	le.PutUint32(f[arm64UC+16+8:], 0x7fff)
	le.PutUint64(f[arm64UC+40:], mask)
	for i, v := range r.Regs {
		le.PutUint64(f[arm64MC+8+8*i:], v)
	}
	le.PutUint64(f[arm64MC+256:], r.Sp)
	le.PutUint64(f[arm64MC+264:], r.Pc)
	le.PutUint64(f[arm64MC+272:], r.Pstate)
	le.PutUint32(f[arm64Reserved:], 0x46508001) // FPSIMD_MAGIC
	le.PutUint32(f[arm64Reserved+4:], 528)
	le.PutUint32(f[arm64Reserved+8:], le.Uint32(fp[512:]))  // fpsr
	le.PutUint32(f[arm64Reserved+12:], le.Uint32(fp[516:])) // fpcr
	copy(f[arm64Reserved+16:], fp[:512])
	// The terminating null record follows (zeros).
	return b, nil
}
