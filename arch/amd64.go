package arch

import (
	"debug/elf"
	"encoding/binary"
)

// AMD64 follows the System V x86-64 psABI's DWARF numbering (figure 3.36).
var AMD64 = register(&Arch{
	Name:      "amd64",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_X86_64,
	SP:        7,
	FP:        6,
	LR:        -1,
	PC:        16,
	RegNames: map[int]string{
		0: "rax", 1: "rdx", 2: "rcx", 3: "rbx", 4: "rsi", 5: "rdi", 6: "rbp", 7: "rsp",
		8: "r8", 9: "r9", 10: "r10", 11: "r11", 12: "r12", 13: "r13", 14: "r14", 15: "r15",
		16: "rip",
	},
	GoUsesLR: false,
	GoG:      14, // R14 under ABIInternal
	// asm_amd64.s: MOVQ DI, 8(SP) // save g; before go1.22 asmcgocall
	// reserved 64 bytes (Windows' shadow space) and kept g at 48(SP).
	GoCgoCall: &GoCgoCall{G: 8, Older: []GoCgoCallSlot{{Before: "go1.22", G: 48}}},
	// user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx
	// rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
	CoreRegs: []int{15, 14, 13, 12, 6, 3, 11, 10, 9, 8, 0, 2, 1, 4, 5, SlotSkip,
		SlotPC, SlotSkip, SlotSkip, 7, SlotSkip, SlotTLS, SlotSkip, SlotSkip, SlotSkip, SlotSkip, SlotSkip},
	CoreRegsets: []elf.NType{0x202}, // NT_X86_XSTATE: the AVX and AVX-512 registers
	SigFrame: SigFrame{
		// mov $15,%rax (rt_sigreturn); syscall
		Trampoline: []byte{0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05},
		// The handler's RET pops pretcode, leaving SP at rt_sigframe.uc;
		// uc_mcontext.gregs follows uc_flags, uc_link and uc_stack (8+8+24).
		Regs: 40,
		// gregs order: R8..R15, RDI, RSI, RBP, RBX, RDX, RAX, RCX, RSP, RIP.
		Slots: []int{8, 9, 10, 11, 12, 13, 14, 15, 5, 4, 6, 3, 1, 0, 2, 7, SlotPC},
	},

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----
	// abi-internal.md: RAX, RBX, RCX, RDI, RSI, R8, R9, R10, R11; X0-X14.
	GoIntArgs:   []int{0, 3, 2, 5, 4, 8, 9, 10, 11},
	GoFloatArgs: seqInts(17, 15),
	GoRegABI:    "go1.17",
	GoStackArgs: 8,
	// System V: RDI, RSI, RDX, RCX, R8, R9; results in RAX, RDX.
	CIntArgs:    []int{5, 4, 1, 2, 8, 9},
	CIntResults: []int{0, 1},
	// arch/x86/include/asm/ptrace.h: r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax
	// cx dx si di orig_ax ip cs flags sp ss.
	PtRegs: map[int]int{
		15: 0, 14: 8, 13: 16, 12: 24, 6: 32, 3: 40, 11: 48, 10: 56, 9: 64, 8: 72,
		0: 80, 2: 88, 1: 96, 4: 104, 5: 112, 7: 152,
	},
	PtRegsSize: 168,
	PtRegsSP:   152,

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:       []byte{0x0f, 0x05}, // syscall
		Trap:       []byte{0xcc},       // int3
		TrapPC:     1,
		InsnAlign:  1,
		Nr:         0,                        // rax
		Args:       []int{5, 4, 1, 10, 8, 9}, // rdi rsi rdx r10 r8 r9
		Ret:        0,
		ErrReg:     -1,
		Restart:    RestartOrigReg, // orig_rax
		SingleStep: true,
	},
})
