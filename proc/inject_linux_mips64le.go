package proc

import (
	"encoding/binary"
	"unsafe"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// mips64le (n64) system call injection. At a stop inside an interrupted
// call, v0 holds the positive ERESTART* code, regs[0] the call number and
// regs[26] (k0's slot, which the kernel borrows) the original a3; after the
// stop arch_do_signal_or_restart reloads v0 and a3 from them and rewinds
// EPC by 4 (arch/mips/kernel/signal.c). taiji replays exactly that, and
// clears regs[0] so the kernel does not do it a second time.
//
// NT_PRSTATUS shows regs[0], k0 and k1 as zero and ignores them on write
// (mips_dump_regs64, gpr64_set); PTRACE_PEEKUSR and POKEUSR at offsets
// 0-31 reach the real slots.

func peekUser(tid int, addr uintptr) (uint64, error) {
	var v uint64
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_PEEKUSR, uintptr(tid), addr,
		uintptr(unsafe.Pointer(&v)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return v, nil
}

func replayRestart(a *arch.Arch, tid int, r *unix.PtraceRegs) (unix.PtraceRegs, bool) {
	out := *r
	nr, err0 := peekUser(tid, 0)
	a3, err26 := peekUser(tid, 26)
	if err0 != nil || err26 != nil || nr == 0 {
		return out, false // not in a system call
	}
	switch r.Regs[2] {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND:
		out.Regs[2] = nr
		out.Regs[7] = a3
		out.Epc -= uint64(len(a.Syscall.Insn))
	case arch.ERESTART_RESTARTBLOCK:
		rs, _ := a.SyscallNumber("restart_syscall")
		out.Regs[2] = uint64(rs)
		out.Regs[7] = a3
		out.Epc -= uint64(len(a.Syscall.Insn))
	}
	return out, false
}

func prepareSyscall(r *unix.PtraceRegs) {}

// suppressRestart clears regs[0], the kernel's "in a system call" mark, so
// its restart logic leaves the registers taiji set alone.
func suppressRestart(tid int, r *unix.PtraceRegs) error {
	return ptrace(unix.PTRACE_POKEUSR, tid, 0, 0)
}

// cancelSyscall is only needed by the probe, which mips does not use.
func cancelSyscall(tid int, r *unix.PtraceRegs) error {
	return &Error{Msg: "cancelling a system call is not implemented on mips64le", Err: ErrNotSupported}
}

// The mips stub: after the injected syscall (reached only if taiji died),
// k0 — which the kernel clobbers on every exception, so user code never
// keeps anything in it — is loaded with the block's address, hi and lo and
// every other register are reloaded from the block, then k0 with the PC,
// and jr k0 returns to the thread's code.
//
//	syscall
//	lui/ori/dsll k0, block ; ld at,HI(k0); mthi at; ld at,LO(k0); mtlo at
//	ld $1..$25,$28..$31, 8*n(k0) ; ld k0, PC(k0) ; jr k0 ; nop
//	block: regs[32], hi, lo, epc
const mipsCode = 4 * (1 + 6 + 4 + 29 + 3)

func stubSize(a *arch.Arch) int { return (mipsCode+7)&^7 + 35*8 }

func buildStub(a *arch.Arch, tid int, addr uint64, r *unix.PtraceRegs) ([]byte, error) {
	const k0, at = 26, 1
	block := uint64((mipsCode + 7) &^ 7)
	ba := addr + block
	var code []uint32
	ld := func(rt, off uint32) uint32 { return 0xdc000000 | k0<<21 | rt<<16 | off }
	code = append(code,
		0x0000000c, // syscall
		0x3c000000|k0<<16|uint32(ba>>48&0xffff),        // lui k0, bits 63-48
		0x34000000|k0<<21|k0<<16|uint32(ba>>32&0xffff), // ori
		k0<<16|k0<<11|16<<6|0x38,                       // dsll k0, k0, 16
		0x34000000|k0<<21|k0<<16|uint32(ba>>16&0xffff), // ori
		k0<<16|k0<<11|16<<6|0x38,                       // dsll k0, k0, 16
		0x34000000|k0<<21|k0<<16|uint32(ba&0xffff),     // ori
		ld(at, 32*8), at<<21|0x11, // ld at, hi; mthi at
		ld(at, 33*8), at<<21|0x13, // ld at, lo; mtlo at
	)
	for n := uint32(1); n < 32; n++ {
		if n == 26 || n == 27 {
			continue
		}
		code = append(code, ld(n, 8*n))
	}
	code = append(code, ld(k0, 34*8), k0<<21|0x08, 0) // ld k0, pc; jr k0; nop
	b := make([]byte, stubSize(a))
	for i, c := range code {
		binary.LittleEndian.PutUint32(b[4*i:], c)
	}
	for i, v := range r.Regs {
		binary.LittleEndian.PutUint64(b[block+8*uint64(i):], v)
	}
	binary.LittleEndian.PutUint64(b[block+32*8:], r.Hi)
	binary.LittleEndian.PutUint64(b[block+33*8:], r.Lo)
	binary.LittleEndian.PutUint64(b[block+34*8:], r.Epc)
	return b, nil
}
