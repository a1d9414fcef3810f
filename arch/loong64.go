package arch

import (
	"debug/elf"
	"encoding/binary"
)

// LOONG64: DWARF 0-31 are r0-r31 (ra=r1, sp=r3, fp=r22), 32-63 f0-f31.
var LOONG64 = register(&Arch{
	Name:      "loong64",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_LOONGARCH,
	SP:        3,
	FP:        22,
	LR:        1,
	RegNames:  seqNames(map[int]string{}, 0, 32, "r"),
	GoUsesLR:  true,
	GoG:       22, // Go uses R22 for g on loong64
	// LoongArch ELF psABI: a0-a7 (r4-r11) carry integer arguments, a0
	// and a1 the results.
	CIntArgs:    seqInts(4, 8),
	CIntResults: []int{4, 5},
	GoCgoCall:   &GoCgoCall{G: 0}, // asm_loong64.s: MOVV R13, 0(R3) // save old g on stack (go1.19-go1.27)
	// user_pt_regs: r0-r31, orig_a0, csr_era (the PC), csr_badv,
	// reserved[10].
	CoreRegs: append(append(seqSlots(32), SlotSkip, SlotPC), skips(11)...),
	SigFrame: SigFrame{
		// li.w a7, 139 (ori $a7,$zero,0x8b); syscall 0
		Trampoline: []byte{0x0b, 0x2c, 0x82, 0x03, 0x00, 0x00, 0x2b, 0x00},
		// rt_sigframe: siginfo (128), ucontext: uc_flags, uc_link,
		// uc_stack (24), uc_sigmask (8), __unused[120] -> uc_mcontext at 176
		// (16-aligned); sigcontext: sc_pc, then sc_regs[32].
		Regs:  128 + 176,
		Slots: append([]int{SlotPC}, seqSlots(32)...),
	},

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:       []byte{0x00, 0x00, 0x2b, 0x00}, // syscall 0
		Trap:       []byte{0x00, 0x00, 0x2a, 0x00}, // break 0
		TrapPC:     0,
		InsnAlign:  4,
		Nr:         11,                      // a7
		Args:       []int{4, 5, 6, 7, 8, 9}, // a0-a5
		Ret:        4,
		ErrReg:     -1,
		Restart:    RestartOrigReg, // orig_a0 at word 32 of NT_PRSTATUS, regs[0] the in-call mark
		SingleStep: false,
		NextPCs:    loongNextPCs,
	},
})
