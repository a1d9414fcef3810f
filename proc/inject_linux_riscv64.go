package proc

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// The riscv64 stub restores the thread with rt_sigreturn, as on arm64: no
// instruction sequence can reload all 31 registers and the PC from memory
// and jump back, since the jump needs a register. After the injected ecall
// (reached only if taiji died) it points sp at a signal frame taiji wrote
// after the code and calls rt_sigreturn, which reloads pc, x1-x31, the FP
// registers and the signal mask (arch/riscv/kernel/signal.c):
//
//	ecall
//	auipc sp, 0 ; addi sp, sp, frame-4 ; li a7, 139 ; ecall
//	frame: rt_sigframe { siginfo; ucontext { uc_flags, uc_link,
//	       uc_stack, uc_sigmask, __unused, uc_mcontext { sc_regs (pc,
//	       x1-x31), sc_fpregs.d { f[32], fcsr }, ..., reserved word 0,
//	       end header (0, 0) } } }
//
// The vector state, where a CPU has one, is not saved: qemu's virt CPU and
// Debian's userland do not use it.
const (
	rvFrame     = 32         // 16-aligned, past the code
	rvUC        = 128        // after siginfo
	rvMC        = rvUC + 176 // uc_mcontext, 16-aligned
	rvFP        = rvMC + 256 // sc_fpregs, after sc_regs
	rvFrameSize = rvFP + 528 // the fp/extension union
)

func stubSize(a *arch.Arch) int { return rvFrame + rvFrameSize }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	var fp [33 * 8]byte // __riscv_d_ext_state: f[32], fcsr (and padding)
	if _, err := getRegset(tid, unix.NT_PRFPREG, fp[:]); err != nil {
		return nil, err
	}
	b, mask, err := sigreturnStub(tid, stubSize(a),
		0x00000073,                 // ecall
		0x00000117,                 // auipc sp, 0
		0x00010113|(rvFrame-4)<<20, // addi sp, sp, frame-4
		0x00000893|139<<20,         // li a7, 139 (rt_sigreturn)
		0x00000073,                 // ecall
	)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	f := b[rvFrame:]
	// uc_stack.ss_flags invalid: restore_altstack then fails with EINVAL,
	// which sigreturn ignores, and leaves the thread's alternate signal
	// stack, which taiji cannot read, as it was.
	le.PutUint32(f[rvUC+16+8:], 0x7fff)
	le.PutUint64(f[rvUC+40:], mask)
	for i, v := range gprsWithPC(r) {
		le.PutUint64(f[rvMC+8*i:], v)
	}
	copy(f[rvFP:], fp[:32*8+4])
	// The reserved word and the end header that follow stay zero.
	return b, nil
}

// gprsWithPC returns the kernel's user_regs_struct as words: pc, x1-x31.
func gprsWithPC(r *unix.PtraceRegs) [32]uint64 {
	var w [32]uint64
	w[0] = r.Pc
	for i, p := range gprs(r) {
		w[i+1] = *p
	}
	return w
}
