package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// riscv64: DWARF 0-31 are x0-x31 (arch.RISCV64); the kernel's file starts
// with the PC where x0 (always zero) would be.

// gprs lists the kernel's fields for x1..x31, in DWARF order.
func gprs(r *unix.PtraceRegs) [31]*uint64 {
	return [31]*uint64{&r.Ra, &r.Sp, &r.Gp, &r.Tp, &r.T0, &r.T1, &r.T2, &r.S0, &r.S1,
		&r.A0, &r.A1, &r.A2, &r.A3, &r.A4, &r.A5, &r.A6, &r.A7,
		&r.S2, &r.S3, &r.S4, &r.S5, &r.S6, &r.S7, &r.S8, &r.S9, &r.S10, &r.S11,
		&r.T3, &r.T4, &r.T5, &r.T6}
}

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	a.Set(0, 0)
	for i, p := range gprs(r) {
		a.Set(i+1, *p)
	}
	a.PC = r.Pc
	return a
}

// archToRegs stores the known registers of a, and its PC, into r.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for i, p := range gprs(r) {
		if v, ok := a.Get(i + 1); ok {
			*p = v
		}
	}
	r.Pc = a.PC
}

// threadPointer returns the thread's TLS base: tp (x4).
func threadPointer(r *unix.PtraceRegs) uint64 { return r.Tp }
