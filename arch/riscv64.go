package arch

import (
	"debug/elf"
	"encoding/binary"
)

// RISCV64: DWARF 0-31 are x0-x31 (ra=x1, sp=x2, s0/fp=x8), 32-63 f0-f31.
var RISCV64 = register(&Arch{
	Name:      "riscv64",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_RISCV,
	SP:        2,
	FP:        8,
	LR:        1,
	RegNames:  seqNames(map[int]string{}, 0, 32, "x"),
	GoUsesLR:  true,
	GoG:       27,               // X27
	GoCgoCall: &GoCgoCall{G: 0}, // asm_riscv64.s: MOV X9, 0(X2) // save old g on stack
	// user_regs_struct: pc, then x1-x31 (x0 is always zero).
	CoreRegs: append([]int{SlotPC}, seqSlots(32)[1:]...),
	SigFrame: SigFrame{
		// li a7, 139 (rt_sigreturn); ecall
		Trampoline: []byte{0x93, 0x08, 0xb0, 0x08, 0x73, 0x00, 0x00, 0x00},
		// rt_sigframe: siginfo (128), ucontext: uc_flags, uc_link,
		// uc_stack (24), uc_sigmask (8), __unused[120] -> uc_mcontext at 176;
		// sc_regs starts with pc, then x1..x31.
		Regs: 128 + 176,
		Slots: func() []int {
			s := []int{SlotPC}
			for i := 1; i < 32; i++ {
				s = append(s, i)
			}
			return s
		}(),
	},

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----
	// cmd/compile/abi-internal.md ("riscv64 architecture") and
	// cmd/compile/internal/ssa/opGen.go's paramIntRegRISCV64: X10-X17,
	// X8, X9, X18-X23; F10-F17, F8, F9, F18-F23 (DWARF 32+n). Register
	// ABI by default since go1.19 (internal/buildcfg/exp.go). Stack
	// arguments start past the return PC slot, 8(X2).
	GoIntArgs:   append(append(seqInts(10, 8), 8, 9), seqInts(18, 6)...),
	GoFloatArgs: append(append(seqInts(42, 8), 40, 41), seqInts(50, 6)...),
	GoRegABI:    "go1.19",
	GoStackArgs: 8,
	// LP64D: a0-a7 (x10-x17), results in a0-a1.
	CIntArgs:    seqInts(10, 8),
	CIntResults: []int{10, 11},
	// A uprobe's program gets struct user_regs_struct
	// (arch/riscv/include/uapi/asm/ptrace.h, bpf_user_pt_regs_t): pc,
	// then x1-x31, so xN is at 8*N.
	PtRegs:     seqOffsets(1, 31, 8),
	PtRegsSize: 32 * 8,
	PtRegsSP:   2 * 8,

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn: []byte{0x73, 0x00, 0x00, 0x00}, // ecall
		// c.ebreak, not ebreak: compilers emit 2-byte instructions (gcc
		// always, Go since go1.26), and a 4-byte trap on one would also
		// cover the next, where another thread or a jump may land.
		Trap:       []byte{0x02, 0x90},
		TrapPC:     0,
		InsnAlign:  2,
		Nr:         17,                            // a7
		Args:       []int{10, 11, 12, 13, 14, 15}, // a0-a5
		Ret:        10,
		ErrReg:     -1,
		Restart:    RestartProbe, // orig_a0 is not in NT_PRSTATUS
		SingleStep: false,
		NextPCs:    riscv64NextPCs,
	},
})
