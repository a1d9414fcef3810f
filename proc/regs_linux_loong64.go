package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// loong64: DWARF 0-31 are r0-r31 (arch.LOONG64); the PC is the CSR ERA.

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range r.Regs {
		a.Set(n, v)
	}
	a.PC = r.Era
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (orig_a0, badv) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n := range r.Regs {
		if v, ok := a.Get(n); ok {
			r.Regs[n] = v
		}
	}
	r.Era = a.PC
}

// threadPointer returns the thread's TLS base: tp (r2).
func threadPointer(r *unix.PtraceRegs) uint64 { return r.Regs[2] }
