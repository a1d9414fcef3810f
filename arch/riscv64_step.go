package arch

// RISCV64Transfer is a riscv64 control transfer instruction, decoded from
// its encoding (RISC-V unprivileged ISA 20191213, 2.5 "Control Transfer
// Instructions", and 16.4 and 16.5 for the compressed ones).
type RISCV64Transfer struct {
	Len  int  // the instruction's length: 2 (compressed) or 4
	Cond bool // a conditional branch: it may also fall through to PC+Len
	Link bool // it writes the return address (jal/jalr with rd != 0, c.jalr)
	// Indirect: jalr, c.jr, c.jalr jump to Rs1+Off (DWARF x0-x31) with
	// the low bit cleared; the others to PC+Off.
	Indirect bool
	Rs1      int
	Off      int64
}

// DecodeRISCV64Transfer decodes insn, the instruction's first 4 bytes read
// as a little-endian word (a compressed instruction uses the low 16 bits),
// and reports whether it is a jump or branch: jal, jalr, beq..bgeu, c.j,
// c.jr, c.jalr, c.beqz, c.bnez (c.jal exists only on RV32; RV64 reuses its
// encoding for c.addiw). ok is false for every other instruction.
func DecodeRISCV64Transfer(insn uint32) (t RISCV64Transfer, ok bool) {
	if insn&3 != 3 {
		return rvCompressedTransfer(insn & 0xffff)
	}
	t.Len = 4
	w := insn
	rd, rs1 := int(w>>7&31), int(w>>15&31)
	bit := func(from, to uint) uint32 { return (w >> from & 1) << to }
	switch w & 0x7f {
	case 0x6f: // jal rd, imm: imm[20|10:1|11|19:12]
		imm := bit(31, 20) | (w>>21&0x3ff)<<1 | bit(20, 11) | (w>>12&0xff)<<12
		t.Off, t.Link = int64(int32(imm<<11)>>11), rd != 0
	case 0x67: // jalr rd, imm(rs1)
		if w>>12&7 != 0 {
			return t, false
		}
		t.Off, t.Link, t.Indirect, t.Rs1 = int64(int32(w)>>20), rd != 0, true, rs1
	case 0x63: // beq..bgeu: imm[12|10:5] rs2 rs1 funct3 imm[4:1|11]
		if f3 := w >> 12 & 7; f3 == 2 || f3 == 3 {
			return t, false
		}
		imm := bit(31, 12) | (w>>25&0x3f)<<5 | (w>>8&0xf)<<1 | bit(7, 11)
		t.Off, t.Cond = int64(int32(imm<<19)>>19), true
	default:
		return t, false
	}
	return t, true
}

// rvCompressedTransfer decodes the 16-bit instruction h.
func rvCompressedTransfer(h uint32) (t RISCV64Transfer, ok bool) {
	t.Len = 2
	bit := func(from, to uint) uint32 { return (h >> from & 1) << to }
	switch q, f3 := h&3, h>>13; {
	case q == 1 && f3 == 5: // c.j: imm[11|4|9:8|10|6|7|3:1|5]
		imm := bit(12, 11) | bit(11, 4) | bit(10, 9) | bit(9, 8) | bit(8, 10) | bit(7, 6) | bit(6, 7) |
			bit(5, 3) | bit(4, 2) | bit(3, 1) | bit(2, 5)
		t.Off = int64(int32(imm<<20) >> 20)
	case q == 1 && (f3 == 6 || f3 == 7): // c.beqz, c.bnez: imm[8|4:3] rs1' imm[7:6|2:1|5]
		imm := bit(12, 8) | bit(11, 4) | bit(10, 3) | bit(6, 7) | bit(5, 6) | bit(4, 2) | bit(3, 1) | bit(2, 5)
		t.Off, t.Cond = int64(int32(imm<<23)>>23), true
	case q == 2 && f3 == 4 && h>>2&31 == 0 && h>>7&31 != 0: // c.jr rs1, c.jalr rs1
		t.Indirect, t.Rs1 = true, int(h>>7&31)
		if h>>12&1 != 0 {
			t.Link = true
		}
	default:
		return t, false
	}
	return t, true
}

// riscv64NextPCs is RISCV64's SyscallABI.NextPCs: where the thread can be
// after the instruction insn at pc. Linux has no PTRACE_SINGLESTEP on
// riscv64; gdb's riscv_next_pc reads the same encodings.
func riscv64NextPCs(insn uint32, pc uint64, reg func(int) uint64) []uint64 {
	t, ok := DecodeRISCV64Transfer(insn)
	if !ok {
		n := uint64(2)
		if insn&3 == 3 {
			n = 4
		}
		return []uint64{pc + n}
	}
	switch {
	case t.Indirect:
		return []uint64{(reg(t.Rs1) + uint64(t.Off)) &^ 1}
	case t.Cond:
		return dedupe(pc+uint64(t.Off), pc+uint64(t.Len))
	}
	return []uint64{pc + uint64(t.Off)}
}
