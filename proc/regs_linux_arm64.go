package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// arm64: DWARF 0-30 are x0-x30, 31 is sp (arch.ARM64); the PC is Pc.

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range r.Regs {
		a.Set(n, v)
	}
	a.Set(31, r.Sp)
	a.PC = r.Pc
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (pstate) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n := range r.Regs {
		if v, ok := a.Get(n); ok {
			r.Regs[n] = v
		}
	}
	if v, ok := a.Get(31); ok {
		r.Sp = v
	}
	r.Pc = a.PC
}

// threadPointer returns the thread's TLS base. On arm64 TPIDR_EL0 is not in
// NT_PRSTATUS (it is the separate NT_ARM_TLS regset): 0 means unknown.
func threadPointer(r *unix.PtraceRegs) uint64 { return 0 }
