//go:build linux && (riscv64 || loong64 || ppc64le || s390x)

package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// System call injection on the arches taiji builds for but has not run on
// a live kernel (riscv64, loong64, ppc64le, s390x): the restart is probed
// (see Session.probeRestart) and the stub is the bare system call
// instruction followed by a trap. It lacks the self-restoring tail of the
// amd64, arm64 and mips64le stubs: if taiji dies during an injection, the
// thread reaches the trap and the process gets SIGTRAP.

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	return *r, true
}

func prepareSyscall(r *unix.PtraceRegs) {}

func suppressRestart(tid int, r *unix.PtraceRegs) error { return nil }

// cancelSyscall sets the call number to -1, which these kernels skip.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	a := regsToArch(r)
	a.Set(arch.Host().Syscall.Nr, ^uint64(0))
	archToRegs(a, r)
	return setRegs(tid, r)
}

func stubSize(a *arch.Arch) int { return len(a.Syscall.Insn) + len(a.Syscall.Trap) }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	return append(append([]byte(nil), a.Syscall.Insn...), a.Syscall.Trap...), nil
}
