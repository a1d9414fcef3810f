//go:build linux && !ppc64le && !s390x && !loong64

package proc

import "golang.org/x/sys/unix"

// dyingRegs: on these arches either the stub restores registers without
// rt_sigreturn (amd64, mips64le), which leaves the restart block alone, or
// the probe found the registers (arm64, riscv64).
func dyingRegs(stop, fixed *unix.PtraceRegs) *unix.PtraceRegs { return nil }
