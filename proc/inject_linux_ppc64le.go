package proc

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// ppc64le system call injection. At a stop inside an interrupted call the
// trap word says "system call" and r3 holds the ERESTART* code: positive
// with CR0.SO set after sc (trap 0xc00), negative after scv (trap 0x3000,
// which glibc uses on POWER9). check_syscall_restart (arch/powerpc/kernel/
// signal.c) runs only after the stop and then reloads r3 from orig_gpr3
// (or r0 with restart_syscall) and moves the NIP back onto the sc or scv,
// both 4 bytes. taiji replays exactly that, as on amd64. Registers taiji
// sets carry a trap word of 0, which the kernel's restart logic leaves
// alone whatever r3 and CR0.SO hold.

const (
	ppcTrapSC  = 0xc00
	ppcTrapSCV = 0x3000
	ppcCR0SO   = 0x10000000
)

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	out := *r
	code := r.Gpr[3]
	switch {
	case r.Trap&1 != 0: // the kernel's "no restart" mark
		return out, false
	case r.Trap&^0xf == ppcTrapSC && r.Ccr&ppcCR0SO != 0:
	case r.Trap&^0xf == ppcTrapSCV:
		code = -code
	default:
		return out, false // not in a system call, or it did not fail
	}
	switch code {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND:
		out.Gpr[3] = r.Orig_gpr3
	case arch.ERESTART_RESTARTBLOCK:
		rs, _ := a.SyscallNumber("restart_syscall")
		out.Gpr[0] = uint64(rs)
	default:
		return out, false
	}
	out.Nip -= uint64(len(a.Syscall.Insn))
	out.Trap = 0
	return out, false
}

func prepareSyscall(r *unix.PtraceRegs) { r.Trap = 0 }

func suppressRestart(tid int, r *unix.PtraceRegs) error {
	if r.Trap == 0 {
		return nil
	}
	r.Trap = 0
	return setRegs(tid, r)
}

// cancelSyscall is only needed by the probe, which ppc64le does not use.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	return &Error{Msg: "cancelling a system call is not implemented on ppc64le", Err: ErrNotSupported}
}

// The ppc64le stub restores the thread with rt_sigreturn, as on arm64:
// no instruction sequence can reload r0-r31, CTR, LR and the PC from memory
// and jump back, since the jump needs CTR or LR. After the injected sc
// (reached only if taiji died) it points r1 at a ucontext taiji wrote after
// the code and calls rt_sigreturn, which reads the ucontext at r1 and
// reloads the GPRs, NIP, CTR, LR, XER, CR, the FP, VMX and VSX registers
// and the signal mask (arch/powerpc/kernel/signal_64.c):
//
//	sc
//	bcl 20,31,.+4 ; mflr r1 ; addi r1,r1,uc-8 ; li r0,172 ; sc
//	uc: ucontext { uc_flags, uc_link, uc_stack, uc_sigmask, __unused[15],
//	    uc_mcontext { _unused[4], signal, handler, oldmask, regs,
//	    gp_regs[48], fp_regs[33], v_regs, vmx_reserve[101] } }
//
// v_regs points at the 16-aligned start of vmx_reserve's used part: vr0-31,
// vscr, vrsave (NT_PPC_VMX), then the low doublewords of vsr0-31
// (NT_PPC_VSX). The saved MSR claims VEC and VSX so that sigreturn loads
// them; of the MSR itself it takes only the LE bit.
const (
	ppcUC     = 32  // 16-aligned, past the code
	ppcMC     = 168 // uc_mcontext in the ucontext
	ppcGP     = ppcMC + 64
	ppcFP     = ppcGP + 48*8
	ppcVRegs  = ppcFP + 33*8     // the v_regs pointer
	ppcVMX    = ppcVRegs + 8 + 8 // 16-aligned (the ucontext is)
	ppcVSX    = ppcVMX + 34*16
	ppcUCSize = ppcVRegs + 8 + 101*8
	ppcMSRVEC = 1 << 25
	ppcMSRVSX = 1 << 23
	ntPPCVMX  = 0x100
	ntPPCVSX  = 0x102
)

func stubSize(a *arch.Arch) int { return ppcUC + ppcUCSize }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	var fp [33 * 8]byte
	var vmx [34 * 16]byte
	var vsx [32 * 8]byte
	for _, rs := range []struct {
		note int
		b    []byte
	}{{unix.NT_PRFPREG, fp[:]}, {ntPPCVMX, vmx[:]}, {ntPPCVSX, vsx[:]}} {
		if _, err := getRegset(tid, rs.note, rs.b); err != nil {
			return nil, err
		}
	}
	b, mask, err := sigreturnStub(tid, stubSize(a),
		0x44000002,           // sc
		0x429f0005,           // bcl 20,31,.+4
		0x7c2802a6,           // mflr r1
		0x38210000|(ppcUC-8), // addi r1,r1,uc-8
		0x38000000|172,       // li r0,172 (rt_sigreturn)
		0x44000002,           // sc
	)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	uc := b[ppcUC:]
	// uc_stack.ss_flags invalid: restore_altstack then fails with EINVAL,
	// which sigreturn ignores, and leaves the thread's alternate signal
	// stack, which taiji cannot read, as it was.
	le.PutUint32(uc[16+8:], 0x7fff)
	le.PutUint64(uc[40:], mask)
	le.PutUint64(uc[ppcMC+48:], mask) // oldmask
	gp := r.Gpr[:]
	gp = append(gp, r.Nip, r.Msr|ppcMSRVEC|ppcMSRVSX, r.Orig_gpr3, r.Ctr, r.Link, r.Xer, r.Ccr,
		r.Softe, r.Trap, r.Dar, r.Dsisr, 0)
	for i, v := range gp {
		le.PutUint64(uc[ppcGP+8*i:], v)
	}
	copy(uc[ppcFP:], fp[:])
	le.PutUint64(uc[ppcVRegs:], addr+ppcUC+ppcVMX)
	copy(uc[ppcVMX:], vmx[:])
	copy(uc[ppcVSX:], vsx[:])
	return b, nil
}

// dyingRegs returns what the stub restores if taiji dies mid-injection,
// when that must differ from fixed: its rt_sigreturn clears the thread's
// restart block, so a replayed restart_syscall would fail with EINTR;
// the original call (r0 at the stop, r3 from orig_gpr3) is restarted from
// its beginning instead.
func dyingRegs(stop, fixed *unix.PtraceRegs) *unix.PtraceRegs {
	if fixed.Gpr[0] == stop.Gpr[0] {
		return nil
	}
	d := *fixed
	d.Gpr[0], d.Gpr[3] = stop.Gpr[0], stop.Orig_gpr3
	return &d
}
