package arch

import (
	"debug/elf"
	"encoding/binary"
)

// ARM64 follows the AArch64 DWARF ABI: x0-x30 are 0-30, sp 31, pc 32,
// v0-v31 are 64-95.
var ARM64 = register(&Arch{
	Name:      "arm64",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_AARCH64,
	SP:        31,
	FP:        29,
	LR:        30,
	PC:        32,
	RegNames: func() map[int]string {
		m := seqNames(map[int]string{}, 0, 31, "x")
		m[31], m[32] = "sp", "pc"
		return seqNames(m, 64, 32, "v")
	}(),
	GoUsesLR:  true,
	GoG:       28,
	GoCgoCall: &GoCgoCall{G: 0}, // asm_arm64.s: MOVD R4, 0(RSP) // save old g on stack
	// user_pt_regs: x0-x30, sp, pc, pstate (TPIDR_EL0 is NT_ARM_TLS).
	CoreRegs:    append(seqSlots(32), SlotPC, SlotSkip),
	CoreRegsets: []elf.NType{0x401}, // NT_ARM_TLS: TPIDR_EL0
	SigFrame: SigFrame{
		// mov x8, #139 (rt_sigreturn); svc #0
		Trampoline: []byte{0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4},
		// SP is at rt_sigframe: siginfo (128), then ucontext whose
		// uc_mcontext sits at 176; its regs[] follow fault_address (8).
		Regs: 128 + 176 + 8,
		// x0..x30, sp, pc.
		Slots: append(seqSlots(32), SlotPC),
	},

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----
	// abi-internal.md: R0-R15, F0-F15; 0(RSP) of the caller holds the return PC slot.
	GoIntArgs:   seqInts(0, 16),
	GoFloatArgs: seqInts(64, 16),
	GoRegABI:    "go1.18",
	GoStackArgs: 8,
	// AAPCS64: x0-x7, results in x0-x1.
	CIntArgs:    seqInts(0, 8),
	CIntResults: []int{0, 1},
	// struct user_pt_regs: regs[31], sp, pc, pstate.
	PtRegs: func() map[int]int {
		m := map[int]int{}
		for i := 0; i <= 31; i++ {
			m[i] = 8 * i // x0..x30, then sp at 248
		}
		return m
	}(),
	PtRegsSize: 272,
	PtRegsSP:   248,

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:       []byte{0x01, 0x00, 0x00, 0xd4}, // svc #0
		Trap:       []byte{0x00, 0x00, 0x20, 0xd4}, // brk #0
		TrapPC:     0,
		InsnAlign:  4,
		Nr:         8,
		Args:       []int{0, 1, 2, 3, 4, 5},
		Ret:        0,
		ErrReg:     -1,
		Restart:    RestartProbe, // do_signal rewinds PC before the stop
		SingleStep: true,
	},
})
