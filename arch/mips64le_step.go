package arch

// mipsNextPCs is MIPS64LE's SyscallABI.NextPCs: where the thread can be
// after the instruction insn at pc, taking a branch or jump together with
// the instruction in its delay slot, as gdb's mips_software_single_step
// does (MIPS64 Architecture for Programmers vol. II, release 2 encodings;
// R6's compact branches are not decoded: Debian's mips64el is R2).
func mipsNextPCs(insn uint32, pc uint64, reg func(int) uint64) []uint64 {
	op := insn >> 26
	rs := int(insn >> 21 & 31)
	rt := insn >> 16 & 31
	branch := pc + 4 + uint64(int64(int16(insn))<<2)
	after := pc + 8 // past the delay slot
	switch {
	case op == 0 && (insn&0x3f == 8 || insn&0x3f == 9): // jr, jalr
		return []uint64{reg(rs)}
	case op == 1 && (rt <= 3 || rt >= 16 && rt <= 19): // bltz, bgez(l), bltzal, bgezal(l)
		return dedupe(branch, after)
	case op == 2 || op == 3: // j, jal: within the 256 MB region of the delay slot
		return []uint64{(pc+4)&^0x0fffffff | uint64(insn&0x03ffffff)<<2}
	case op >= 4 && op <= 7, op >= 20 && op <= 23: // beq, bne, blez, bgtz and their "likely" forms
		return dedupe(branch, after)
	case (op == 17 || op == 18) && rs == 8: // bc1f/bc1t, bc2f/bc2t
		return dedupe(branch, after)
	}
	return []uint64{pc + 4}
}

func dedupe(a, b uint64) []uint64 {
	if a == b {
		return []uint64{a}
	}
	return []uint64{a, b}
}
