//go:build linux && riscv64

package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// riscv64 system call injection. NT_PRSTATUS lacks orig_a0,
// which the kernel reloads a0 from when it restarts an interrupted call,
// so the register file at the stop cannot say how the call restarts: taiji
// probes (Session.probeRestart).

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	return *r, true
}

func prepareSyscall(r *unix.PtraceRegs) {}

func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall: a call number of -1 makes the kernel skip a call, but
// the -1 stays in the register the thread returns to user space with,
// where, if taiji died, the thread would run the system call instruction
// again and get ENOSYS. The probe interrupts the call instead.
func cancelSyscall(tid int, r *unix.PtraceRegs) error { return errCancelShows }
