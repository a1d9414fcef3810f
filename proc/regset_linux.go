package proc

import (
	"debug/elf"
	"encoding/binary"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// getRegset reads register set note of a stopped thread (NT_PRFPREG,
// NT_PPC_VMX, ...) into b with PTRACE_GETREGSET and returns how many
// bytes the kernel filled.
func getRegset(tid int, note int, b []byte) (int, error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(tid),
		uintptr(note), uintptr(unsafe.Pointer(&iov)), 0, 0)
	runtime.KeepAlive(b)
	if e != 0 {
		return 0, e
	}
	return int(iov.Len), nil
}

// sigMask returns the blocked-signal mask of a stopped thread.
func sigMask(tid int) (uint64, error) {
	var mask uint64
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGMASK, uintptr(tid), 8,
		uintptr(unsafe.Pointer(&mask)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return mask, nil
}

// sigreturnStub starts a stub that restores its thread with rt_sigreturn
// (riscv64, ppc64le): size zero bytes beginning with the little-endian
// instructions code, and the thread's blocked-signal mask for the frame.
func sigreturnStub(tid, size int, code ...uint32) ([]byte, uint64, error) {
	mask, err := sigMask(tid)
	if err != nil {
		return nil, 0, err
	}
	b := make([]byte, size)
	for i, insn := range code {
		binary.LittleEndian.PutUint32(b[4*i:], insn)
	}
	return b, mask, nil
}

// Regset returns register set note (elf.NT_PRSTATUS: the general
// registers as elf_gregset_t; elf.NT_FPREGSET, ...) of thread tid, as
// PTRACE_GETREGSET gives it, which is how an ELF core keeps it. The thread
// must be in a ptrace stop of the calling tracer thread: call it from a
// FreezeOptions.Copy hook. The error is the kernel's (EINVAL, ENODEV: no
// such set on this CPU).
func Regset(tid int, note elf.NType) ([]byte, error) {
	b := make([]byte, 16<<10) // the largest set (x86 XSAVE with AMX) is under 12 KiB
	n, err := getRegset(tid, int(note), b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// RawSiginfo returns the siginfo_t (128 bytes, as NT_SIGINFO keeps it) of the
// signal that put thread tid in its ptrace stop, from PTRACE_GETSIGINFO;
// the caller is as for Regset. A thread stopped by PTRACE_INTERRUPT, as
// Freeze stops them, has none: the error is EINVAL then.
func RawSiginfo(tid int) ([]byte, error) {
	b := make([]byte, 128)
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETSIGINFO, uintptr(tid), 0,
		uintptr(unsafe.Pointer(&b[0])), 0, 0)
	runtime.KeepAlive(b)
	if e != 0 {
		return nil, e
	}
	return b, nil
}
