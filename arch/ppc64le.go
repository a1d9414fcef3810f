package arch

import (
	"debug/elf"
	"encoding/binary"
)

// PPC64LE (ELFv2): DWARF 0-31 are r0-r31 (sp=r1), 65 is LR.
var PPC64LE = register(&Arch{
	Name:      "ppc64le",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_PPC64,
	SP:        1,
	FP:        31,
	LR:        65,
	RegNames: func() map[int]string {
		m := seqNames(map[int]string{}, 0, 32, "r")
		m[65] = "lr"
		return m
	}(),
	GoUsesLR: true,
	GoG:      30, // R30
	// asm_ppc64x.s: MOVD R5, (asmcgocallSaveOffset+8)(R1), the offset
	// being cgoCalleeStackSize, 32 on linux.
	GoCgoCall: &GoCgoCall{G: 40},
	// pt_regs: gpr0-31, nip, msr, orig_gpr3, ctr, link, xer, ccr, softe,
	// trap, dar, dsisr, result, padded to ELF_NGREG 48. r13 is the thread
	// pointer, already among the GPRs.
	CoreRegs:    append(append(seqSlots(32), SlotPC, SlotSkip, SlotSkip, 66, 65, SlotSkip, 64), skips(9)...),
	CoreRegsets: []elf.NType{0x100, 0x102}, // NT_PPC_VMX, NT_PPC_VSX
	SigFrame: SigFrame{
		// The kernel enters a handler at the vDSO's
		// __kernel_start_sigtramp_rt64 (arch/powerpc/kernel/signal_64.c,
		// vdso/sigtramp64.S; without a vDSO, the same code on the stack):
		// bctrl, CTR holding the handler, whose return lands after it on
		// addi r1,r1,128 (pop the __SIGNAL_FRAMESIZE gap); li r0,172
		// (rt_sigreturn); sc.
		Trampoline: []byte{0x80, 0x00, 0x21, 0x38, 0xac, 0x00, 0x00, 0x38, 0x02, 0x00, 0x00, 0x44},
		HandlerCall: []byte{0x21, 0x04, 0x80, 0x4e, // bctrl
			0x80, 0x00, 0x21, 0x38, 0xac, 0x00, 0x00, 0x38, 0x02, 0x00, 0x00, 0x44},
		// rt_sigframe: gap of __SIGNAL_FRAMESIZE (128), then ucontext; its
		// uc_mcontext (sigcontext) is at 168, and in it the pointer to
		// the registers at 56 (sigtramp64.S's PTREGS, whose CFI
		// dereferences it), followed by gp_regs themselves at 64.
		Regs: 128 + 168 + 64,
		Pop:  128,
		// gp_regs: r0..r31, nip (pc), msr, orig_r3, ctr, link.
		Slots: append(seqSlots(32), SlotPC, SlotSkip, SlotSkip, SlotSkip, 65),
	},

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----
	// cmd/compile/abi-internal.md ("ppc64 architecture") and
	// cmd/compile/internal/ssa/opGen.go's paramIntRegPPC64: R3-R10,
	// R14-R17; F1-F12 (DWARF 32+n). Register ABI since go1.18
	// (internal/buildcfg/exp.go). The caller's fixed frame is 32 bytes
	// (return PC, CR save, unused, TOC save: cmd/internal/sys/arch.go
	// FixedFrameSize), so stack arguments start at 32(R1).
	GoIntArgs:   append(seqInts(3, 8), seqInts(14, 4)...),
	GoFloatArgs: seqInts(33, 12),
	GoRegABI:    "go1.18",
	GoStackArgs: 32,
	// ELFv2: r3-r10, results in r3-r4.
	CIntArgs:    seqInts(3, 8),
	CIntResults: []int{3, 4},
	// A uprobe's program gets struct user_pt_regs
	// (arch/powerpc/include/uapi/asm/ptrace.h, bpf_user_pt_regs_t):
	// gpr[32], nip, msr, orig_gpr3, ctr, link, xer, ccr, softe, trap,
	// dar, dsisr, result: 44 words.
	PtRegs:     seqOffsets(0, 32, 0),
	PtRegsSize: 44 * 8,
	PtRegsSP:   1 * 8,
	// Under Debian 12's ppc64el kernel (6.1) in qemu, the register an
	// instruction emulated at a uprobe writes was sometimes lost when it
	// was one of r14-r31 (kernel or qemu: not known): with a probe on the body's first instruction
	// (MOVD LR, R31: mflr r31) main.Mix returned into main.main's
	// caller, which ran main again; on the check's first instruction
	// (MOVD 16(g), R22) the check failed for ever ("stack overflow").
	// Plain tracefs uprobes did the same, so it is not the BPF program;
	// on the check's BLT, which writes no register, 12 of 12 runs were
	// right, as were the probes on RET (blr) (internal/xarchtrace
	// TestTraceInVM).
	GoEntryProbeOnCheckBranch: true,
	ELFLocalEntry:             true,

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:      []byte{0x02, 0x00, 0x00, 0x44}, // sc
		Trap:      []byte{0x08, 0x00, 0xe0, 0x7f}, // trap (tw 31,0,0)
		TrapPC:    0,
		InsnAlign: 4,
		Nr:        0,                       // r0
		Args:      []int{3, 4, 5, 6, 7, 8}, // r3-r8
		Ret:       3,
		// CR0.SO set: r3 is a positive errno. DWARF 64 is CR.
		ErrReg:     64,
		ErrMask:    0x10000000,
		Restart:    RestartOrigReg, // orig_gpr3, replayed (proc)
		SingleStep: true,
	},
})
