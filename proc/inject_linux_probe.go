//go:build linux && (riscv64 || loong64)

package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// riscv64 and loong64 system call injection. NT_PRSTATUS lacks orig_a0,
// which the kernel reloads a0 from when it restarts an interrupted call,
// so the register file at the stop cannot say how the call restarts: taiji
// probes (Session.probeRestart). A call number of -1 makes the kernel skip
// a call at its entry and leave a0 as set.

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	return *r, true
}

func prepareSyscall(r *unix.PtraceRegs) {}

func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall sets r on a thread stopped at a system call's entry with
// the call number -1, which the kernel skips.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	a := regsToArch(r)
	a.Set(arch.Host().Syscall.Nr, ^uint64(0))
	archToRegs(a, r)
	return setRegs(tid, r)
}
