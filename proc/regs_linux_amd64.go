package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// amd64: DWARF numbers per the System V psABI (arch.AMD64); the PC is Rip.

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range [16]uint64{r.Rax, r.Rdx, r.Rcx, r.Rbx, r.Rsi, r.Rdi, r.Rbp, r.Rsp,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15} {
		a.Set(n, v)
	}
	a.PC = r.Rip
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (flags, segments, orig_rax) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n, p := range [16]*uint64{&r.Rax, &r.Rdx, &r.Rcx, &r.Rbx, &r.Rsi, &r.Rdi, &r.Rbp, &r.Rsp,
		&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15} {
		if v, ok := a.Get(n); ok {
			*p = v
		}
	}
	r.Rip = a.PC
}

// threadPointer returns the thread's TLS base: FS on amd64.
func threadPointer(r *unix.PtraceRegs) uint64 { return r.Fs_base }
