package arch

import (
	"debug/elf"
	"encoding/binary"
)

// MIPS64LE uses the n64 ABI: DWARF 0-31 are the GPRs ($sp 29, $fp 30,
// $ra 31), 32-63 the FPRs. The PC has no DWARF number.
var MIPS64LE = register(&Arch{
	Name:      "mips64le",
	PtrSize:   8,
	ByteOrder: binary.LittleEndian,
	Machine:   elf.EM_MIPS,
	SP:        29,
	FP:        30,
	LR:        31,
	RegNames: map[int]string{
		0: "zero", 1: "at", 2: "v0", 3: "v1", 4: "a0", 5: "a1", 6: "a2", 7: "a3",
		8: "a4", 9: "a5", 10: "a6", 11: "a7", 12: "t0", 13: "t1", 14: "t2", 15: "t3",
		16: "s0", 17: "s1", 18: "s2", 19: "s3", 20: "s4", 21: "s5", 22: "s6", 23: "s7",
		24: "t8", 25: "t9", 26: "k0", 27: "k1", 28: "gp", 29: "sp", 30: "fp", 31: "ra",
	},
	GoUsesLR:  true,
	GoG:       30,               // Go reserves R30 for g on mips (and uses no frame pointer)
	GoCgoCall: &GoCgoCall{G: 0}, // asm_mips64x.s: MOVV R2, 0(R29) // save old g on stack
	// n64 (MIPSpro N32/64 ABI handbook; gcc's mips64el-linux-gnuabi64):
	// integer arguments in a0-a7 ($4-$11), results in v0-v1 ($2-$3).
	// taiji debug's register conditions name them ($a0).
	CIntArgs:    seqInts(4, 8),
	CIntResults: []int{2, 3},
	// ELF_NGREG 45 (asm/reg.h, 64-bit: EF_R0 is 0): r0-r31, lo, hi,
	// cp0_epc (the PC), badvaddr, status, cause, then unused slots.
	CoreRegs: append(append(seqSlots(32), SlotSkip, SlotSkip, SlotPC), skips(10)...),
	SigFrame: SigFrame{
		// li v0, 5211 (n64 rt_sigreturn); syscall
		Trampoline: []byte{0x5b, 0x14, 0x02, 0x24, 0x0c, 0x00, 0x00, 0x00},
		// rt_sigframe: rs_ass[4]+rs_pad[2] (24), siginfo (128), then
		// ucontext whose uc_mcontext (sc_regs[32] first) is at 40.
		Regs: 24 + 128 + 40,
		// sc_regs[0..31], sc_fpregs[32], mdhi, hi1-3, mdlo, lo1-3, sc_pc.
		Slots: func() []int {
			s := seqSlots(32)
			for i := 0; i < 32+8; i++ {
				s = append(s, SlotSkip)
			}
			return append(s, SlotPC)
		}(),
	},

	// ---- System calls and breakpoints ----
	Syscall: SyscallABI{
		Insn:      []byte{0x0c, 0x00, 0x00, 0x00}, // syscall
		Trap:      []byte{0x0d, 0x00, 0x00, 0x00}, // break
		TrapPC:    0,
		InsnAlign: 4,
		Nr:        2,                       // v0
		Args:      []int{4, 5, 6, 7, 8, 9}, // a0-a5 (n64)
		Ret:       2,
		ErrReg:    7, // a3 != 0: v0 is a positive errno
		ErrMask:   ^uint64(0),
		Restart:   RestartSavedRegs,
		// No PTRACE_SINGLESTEP on mips: the kernel returns EIO. proc
		// steps with traps at the next PCs instead.
		SingleStep: false,
		NextPCs:    mipsNextPCs,
	},
})
