package arch

// loongNextPCs is LOONG64's SyscallABI.NextPCs: where the thread can be
// after the instruction insn at pc (LoongArch Reference Manual vol. 1,
// 2.2.6 "Branch instructions"; LoongArch has no delay slots). A
// conditional branch yields both ways, as gdb's loongarch software single
// step does; bceqz/bcnez test a floating-point condition flag, which the
// general registers do not hold, so both ways are all the more needed.
// Debian's kernel has PTRACE_SINGLESTEP (since Linux 6.3, on the
// watchpoint registers), unproven under qemu's TCG, where the VM tests run;
// software steps work wherever breakpoints do.
func loongNextPCs(insn uint32, pc uint64, reg func(int) uint64) []uint64 {
	op := insn >> 26
	rj := int(insn >> 5 & 31)
	offs16 := int64(int16(insn>>10)) << 2                                 // insn[25:10]
	offs21 := int64(int32((insn>>10&0xffff|(insn&31)<<16)<<11)>>11) << 2  // insn[4:0] high, insn[25:10] low
	offs26 := int64(int32((insn>>10&0xffff|(insn&0x3ff)<<16)<<6)>>6) << 2 // insn[9:0] high, insn[25:10] low
	next := pc + 4
	switch {
	case op == 0x10 || op == 0x11 || op == 0x12: // beqz, bnez, bceqz/bcnez
		return dedupe(pc+uint64(offs21), next)
	case op == 0x13: // jirl rd, rj, offs16 (jr, ret)
		return []uint64{reg(rj) + uint64(offs16)}
	case op == 0x14 || op == 0x15: // b, bl
		return []uint64{pc + uint64(offs26)}
	case op >= 0x16 && op <= 0x1b: // beq, bne, blt, bge, bltu, bgeu
		return dedupe(pc+uint64(offs16), next)
	}
	return []uint64{next}
}
