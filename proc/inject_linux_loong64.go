package proc

import (
	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// The loong64 stub, never run on a live kernel (docs/xarch.md): the bare
// system call instruction followed by a trap. It lacks the self-restoring
// tail of the other arches' stubs: if taiji dies during an injection, the
// thread reaches the trap and the process gets SIGTRAP.

func stubSize(a *arch.Arch) int { return len(a.Syscall.Insn) + len(a.Syscall.Trap) }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	return append(append([]byte(nil), a.Syscall.Insn...), a.Syscall.Trap...), nil
}
