package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// mips64le: DWARF 0-31 are $0-$31 (arch.MIPS64LE); the PC is the CP0 EPC.
// On 64-bit kernels NT_PRSTATUS starts with regs[32], lo, hi, epc, ... as
// unix.PtraceRegs does (EF_R0 is 0; only o32 has six words of padding).

// regsToArch converts the kernel's register file to DWARF numbering.
func regsToArch(r *unix.PtraceRegs) arch.Regs {
	var a arch.Regs
	for n, v := range r.Regs {
		a.Set(n, v)
	}
	a.PC = r.Epc
	return a
}

// archToRegs stores the known registers of a, and its PC, into r, leaving
// the registers a does not know (hi, lo, CP0 status) untouched.
func archToRegs(a arch.Regs, r *unix.PtraceRegs) {
	for n := range r.Regs {
		if v, ok := a.Get(n); ok {
			r.Regs[n] = v
		}
	}
	r.Epc = a.PC
}

// threadPointer returns the thread's TLS base. On mips it is the UserLocal
// register, read with PTRACE_GET_THREAD_AREA, not in NT_PRSTATUS: 0 means
// unknown.
func threadPointer(r *unix.PtraceRegs) uint64 { return 0 }
