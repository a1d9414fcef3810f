package arch

import (
	"debug/elf"
	"encoding/binary"
)

// S390X: DWARF 0-15 are r0-r15 (sp=r15, return address r14), big-endian.
var S390X = register(&Arch{
	Name:      "s390x",
	PtrSize:   8,
	ByteOrder: binary.BigEndian,
	Machine:   elf.EM_S390,
	SP:        15,
	FP:        11,
	LR:        14,
	// s390x ELF ABI supplement: the caller allocates a 160-byte register
	// save area below its SP for the callee, and the CFA is SP+160 at the
	// call. gdb keeps r15 the same at a frame without a rule for it; a
	// leaf that moved SP always has one, which may name a floating-point
	// register (gcc: ldgr %f0,%r15).
	CFABias:   160,
	RegNames:  seqNames(map[int]string{}, 0, 16, "r"),
	GoUsesLR:  true,
	GoG:       13,                 // R13
	GoCgoCall: &GoCgoCall{G: 168}, // asm_s390x.s: MOVD R5, 168(R15) // save old g on stack
	// s390_regs: psw mask, psw addr (the PC), gprs 0-15, acrs 0-15 (four
	// bytes each: acr0 and acr1, big-endian in one slot, are the thread
	// pointer), orig_gpr2.
	CoreRegs:    append(append(append([]int{SlotSkip, SlotPC}, seqSlots(16)...), SlotTLS), skips(8)...),
	CoreRegsets: []elf.NType{0x309, 0x30a}, // NT_S390_VXRS_LOW, NT_S390_VXRS_HIGH
	SigFrame: SigFrame{
		// svc 173 (rt_sigreturn)
		Trampoline: []byte{0x0a, 0xad},
		// rt_sigframe (arch/s390/kernel/signal.c): callee save area
		// (160), svc_insn (2, padded to 8), siginfo (128), then
		// ucontext_extended: uc_flags, uc_link, uc_stack (24); its
		// uc_mcontext starts with the PSW (mask, addr) then gprs[16].
		// TestStackInVM (scripts/xarch-test s390x) checks it.
		Regs:  160 + 8 + 128 + 40,
		Slots: append([]int{SlotSkip, SlotPC}, seqSlots(16)...),
	},

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----
	// cmd/compile/abi-internal.md ("s390x architecture") and
	// cmd/compile/internal/ssa/opGen.go's paramIntRegS390X: R2-R9;
	// F0-F15. Register ABI since go1.26: internal/buildcfg/exp.go of
	// go1.23 lists no s390x, go1.26's has it, and the CLs that brought it
	// (go.dev/cl/719460, 719465) landed in November 2025, the go1.26
	// cycle. Stack arguments start past the return PC slot, 8(R15).
	GoIntArgs: seqInts(2, 8),
	// F0-F15 in the s390x ELF ABI's DWARF numbering: f0 f2 f4 f6 f1 f3
	// f5 f7 f8 f10 f12 f14 f9 f11 f13 f15 are 16-31.
	GoFloatArgs: []int{16, 20, 17, 21, 18, 22, 19, 23, 24, 28, 25, 29, 26, 30, 27, 31},
	GoRegABI:    "go1.26",
	GoStackArgs: 8,
	// s390x ELF ABI: r2-r6, result in r2 (r3 for the second half of a
	// 128-bit value).
	CIntArgs:    seqInts(2, 5),
	CIntResults: []int{2, 3},
	// A uprobe's program gets user_pt_regs
	// (arch/s390/include/uapi/asm/ptrace.h, bpf_user_pt_regs_t):
	// args[1], psw (mask, addr), gprs[16]: 19 words, gprs at 24.
	PtRegs:     seqOffsets(0, 16, 24),
	PtRegsSize: 19 * 8,
	PtRegsSP:   24 + 15*8,
	// Debian 12's s390x kernel (6.1, under qemu) runs the instruction at a
	// uprobe out of line and single-steps it with PER; at a RET (br %r14)
	// the traced program then went astray: it ended at once with none of
	// its output, or died in copystack ("traceback did not unwind
	// completely") with main.main's frame gone. Plain tracefs uprobes did
	// the same (no BPF program involved), on 4 of the 5 RETs of main.Mix
	// and main.Fail in tracetarget, and a probe on a function's first
	// instruction once ended in SIGILL. Every Go function has a RET to
	// probe, so taiji does not trace here (internal/xarchtrace
	// TestTraceInVM checks the refusal).
	UprobesUnsafe: "uprobes on this kernel broke the traced program at its RET instructions (br %r14) in taiji's tests (Debian 12's 6.1 kernel under qemu); see docs/xarch.md",

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:       []byte{0x0a, 0x00}, // svc 0: number in r1
		Trap:       []byte{0x00, 0x01}, // the illegal opcode gdb uses
		TrapPC:     2,
		InsnAlign:  2,
		Nr:         1,
		Args:       []int{2, 3, 4, 5, 6, 7},
		Ret:        2,
		ErrReg:     -1,
		Restart:    RestartOrigReg, // orig_gpr2
		SingleStep: true,
		// Stepping brasl, br %r14 in TestDebugInVM stopped on the next
		// instruction, the call or return not made.
		StepBranchesByTrap: true,
		StepSigCode:        4, // TRAP_HWBKPT
		// s390x's mmap is old_mmap(struct mmap_arg_struct *).
		MmapArgBlock: true,
	},
})
