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
	RegNames: func() map[int]string {
		m := seqNames(map[int]string{}, 0, 31, "x")
		m[31], m[32] = "sp", "pc"
		return seqNames(m, 64, 32, "v")
	}(),
	GoUsesLR:  true,
	GoG:       28,
	GoCgoCall: &GoCgoCall{G: 0}, // asm_arm64.s: MOVD R4, 0(RSP) // save old g on stack
	SigFrame: SigFrame{
		// mov x8, #139 (rt_sigreturn); svc #0
		Trampoline: []byte{0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4},
		// SP is at rt_sigframe: siginfo (128), then ucontext whose
		// uc_mcontext sits at 176; its regs[] follow fault_address (8).
		Regs: 128 + 176 + 8,
		// x0..x30, sp, pc.
		Slots: append(seqSlots(32), SlotPC),
	},
})
