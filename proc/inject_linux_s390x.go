package proc

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// s390x system call injection. At a stop inside an interrupted call, r2
// holds -ERESTART* and orig_gpr2 the first argument; after the stop
// arch_do_signal_or_restart (arch/s390/kernel/signal.c) reloads r2 and
// restarts the call inside the kernel, without returning to user space,
// but only if r2 still holds -ERESTART*. taiji replays the restart in user
// space instead: the PSW goes back onto the svc with r2 reloaded, and, for
// restart_syscall, r1 set to its number. That is exact for "svc 0", which
// takes the number from r1 (Go, and glibc for numbers above 255); a
// call made with "svc N" is restarted from its beginning instead.

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	out := *r
	code := -int64(r.Gprs[2])
	switch code {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND, arch.ERESTART_RESTARTBLOCK:
	default:
		return out, false
	}
	svc, ok := peekHalf(tid, r.Psw.Addr-2)
	if !ok || svc>>8 != 0x0a {
		return out, false // not stopped just after an svc
	}
	out.Gprs[2] = r.Orig_gpr2
	out.Psw.Addr -= 2
	if code == arch.ERESTART_RESTARTBLOCK && svc == 0x0a00 {
		rs, _ := a.SyscallNumber("restart_syscall")
		out.Gprs[1] = uint64(rs)
	}
	return out, false
}

// peekHalf reads the big-endian halfword at addr of thread tid.
func peekHalf(tid int, addr uint64) (uint16, bool) {
	var w [8]byte
	base := addr &^ 7
	if _, err := unix.PtracePeekData(tid, uintptr(base), w[:]); err != nil || addr-base > 6 {
		return 0, false
	}
	return binary.BigEndian.Uint16(w[addr-base:]), true
}

func prepareSyscall(r *unix.PtraceRegs) {}

// suppressRestart: the kernel restarts only while r2 holds -ERESTART*,
// which registers taiji sets never do.
func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall is only needed by the probe, which s390x does not use.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	return &Error{Msg: "cancelling a system call is not implemented on s390x", Err: ErrNotSupported}
}

// The s390x stub restores the thread with rt_sigreturn, as on arm64: lmg
// can reload all sixteen GPRs from memory, but the jump back needs a
// register, and only the kernel can load the PSW. After the injected svc
// (reached only if taiji died) it points r15 at a signal frame taiji wrote
// after the code and calls rt_sigreturn, which reloads the PSW, r0-r15,
// the access registers (the TLS base), the FP and vector registers and the
// signal mask:
//
//	svc 0
//	larl %r15, frame ; svc 173
//	frame: rt_sigframe { callee_used_stack[160], svc_insn, siginfo,
//	       ucontext_extended { uc_flags, uc_link, uc_stack, uc_mcontext
//	       { psw, gprs[16], acrs[16], fpc, fprs[16] }, uc_sigmask,
//	       __unused, uc_mcontext_ext { vxrs_low[16], vxrs_high[16] } } }
const (
	s390Frame      = 16            // 8-aligned, past the code
	s390UC         = 160 + 8 + 128 // after the save area, svc_insn and siginfo
	s390MC         = s390UC + 40   // _sigregs
	s390FP         = s390MC + 16 + 128 + 64
	s390Mask       = s390MC + 208 + 136
	s390Ext        = s390Mask + 128
	s390FrameSize  = s390Ext + 512
	ntS390VXRSLow  = 0x309
	ntS390VXRSHigh = 0x30a
)

func stubSize(a *arch.Arch) int { return s390Frame + s390FrameSize }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	b := make([]byte, stubSize(a))
	f := b[s390Frame:]
	if _, err := getRegset(tid, unix.NT_PRFPREG, f[s390FP:s390FP+136]); err != nil {
		return nil, err
	}
	// No vector facility: the kernel ignores uc_mcontext_ext.
	getRegset(tid, ntS390VXRSLow, f[s390Ext:s390Ext+128])
	getRegset(tid, ntS390VXRSHigh, f[s390Ext+128:s390Ext+384])
	mask, err := sigMask(tid)
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	copy(b, []byte{
		0x0a, 0x00, // svc 0
		0xc0, 0xf0, 0, 0, 0, (s390Frame - 2) / 2, // larl %r15, frame
		0x0a, 173, // svc 173 (rt_sigreturn)
	})
	// uc_stack.ss_flags invalid: restore_altstack then fails with EINVAL,
	// which sigreturn ignores, and leaves the thread's alternate signal
	// stack, which taiji cannot read, as it was.
	be.PutUint32(f[s390UC+16+8:], 0x7fff)
	be.PutUint64(f[s390MC:], r.Psw.Mask)
	be.PutUint64(f[s390MC+8:], r.Psw.Addr)
	for i, v := range r.Gprs {
		be.PutUint64(f[s390MC+16+8*i:], v)
	}
	for i, v := range r.Acrs {
		be.PutUint32(f[s390MC+16+128+4*i:], v)
	}
	be.PutUint64(f[s390Mask:], mask)
	return b, nil
}

// dyingRegs returns what the stub restores if taiji dies mid-injection,
// when that must differ from fixed: its rt_sigreturn clears the thread's
// restart block, so a replayed restart_syscall would fail with EINTR;
// the original call, whose number r1 still holds at the stop, is
// restarted from its beginning instead.
func dyingRegs(stop, fixed *unix.PtraceRegs) *unix.PtraceRegs {
	if fixed.Gprs[1] == stop.Gprs[1] {
		return nil
	}
	d := *fixed
	d.Gprs[1] = stop.Gprs[1]
	return &d
}
