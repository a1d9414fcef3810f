package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// s390x: DWARF 0-15 are r0-r15 (arch.S390X); the PC is the PSW address.
// NT_PRSTATUS holds psw, gprs, acrs and orig_gpr2: the prefix of
// unix.PtraceRegs, whose floating-point and PER fields stay zero.

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range r.Gprs {
		a.Set(n, v)
	}
	a.PC = r.Psw.Addr
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (PSW mask, access registers) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n := range r.Gprs {
		if v, ok := a.Get(n); ok {
			r.Gprs[n] = v
		}
	}
	r.Psw.Addr = a.PC
}

// threadPointer returns the thread's TLS base: access registers 0 and 1
// hold its high and low halves.
func threadPointer(r *unix.PtraceRegs) uint64 {
	return uint64(r.Acrs[0])<<32 | uint64(r.Acrs[1])
}
