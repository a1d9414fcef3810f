package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// ppc64le: DWARF 0-31 are r0-r31, 65 is the link register and 66 the count
// register (ELFv2 ABI, arch.PPC64LE); the PC is NIP.

const (
	ppcCR  = 64
	ppcLR  = 65
	ppcCTR = 66
)

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range r.Gpr {
		a.Set(n, v)
	}
	a.Set(ppcLR, r.Link)
	a.Set(ppcCTR, r.Ctr)
	// CR, where a failed system call sets CR0.SO (arch.PPC64LE.Syscall.ErrReg).
	a.Set(ppcCR, r.Ccr)
	a.PC = r.Nip
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (msr, xer, ccr, ...) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n := range r.Gpr {
		if v, ok := a.Get(n); ok {
			r.Gpr[n] = v
		}
	}
	if v, ok := a.Get(ppcLR); ok {
		r.Link = v
	}
	if v, ok := a.Get(ppcCTR); ok {
		r.Ctr = v
	}
	r.Nip = a.PC
}

// threadPointer returns the thread's TLS base: r13.
func threadPointer(r *unix.PtraceRegs) uint64 { return r.Gpr[13] }
