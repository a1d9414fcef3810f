package proc

import (
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
