package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/riscv64/riscv64asm"

	"github.com/taijidbg/taiji/arch"
)

// decodeRISCV64 decodes one RV64GC instruction: 2 bytes when the low two
// bits are not 11 (the C extension; Go emits compressed instructions since
// go1.26), else 4 (RISC-V unprivileged ISA, 1.5 "Base Instruction-Length
// Encoding"; longer encodings are reserved). Control transfers are read
// from the encodings (2.5 control transfer instructions, and 16.5 for the
// compressed ones); riscv64asm gives the text.
func decodeRISCV64(code []byte, addr uint64) (Inst, error) {
	if len(code) < 2 {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	n := 2
	if code[0]&3 == 3 {
		if code[0]&0x1c == 0x1c {
			return Inst{}, &FormatError{Addr: addr, Msg: "instruction longer than 32 bits"}
		}
		n = 4
	}
	if len(code) < n {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	out := Inst{Addr: addr, Len: n, Raw: code[:n:n]}
	in, err := riscv64asm.Decode(code[:n])
	if err != nil || in.Len != n {
		// Data in code, or an extension riscv64asm does not know: a
		// length read from data could put the walk out of step.
		return Inst{}, &FormatError{Addr: addr, Msg: "not an instruction riscv64asm knows", Err: err}
	}
	out.Text = riscv64asm.GoSyntax(in, addr, nil, nil)
	if n == 2 {
		riscvCompressed(&out, uint32(binary.LittleEndian.Uint16(code)))
		return out, nil
	}
	w := binary.LittleEndian.Uint32(code)
	rd, rs1 := (w>>7)&31, (w>>15)&31
	bit := func(v uint32, from, to uint) uint32 { return (v >> from & 1) << to }
	switch w & 0x7f {
	case 0x6f: // jal rd, imm: imm[20|10:1|11|19:12]
		imm := bit(w, 31, 20) | (w>>21&0x3ff)<<1 | bit(w, 20, 11) | (w>>12&0xff)<<12
		out.Kind, out.Target = Jump, addr+uint64(int64(int32(imm<<11)>>11))
		if rd != 0 { // jal ra (Go's CALL) or jal t0 (its morestack call)
			out.Kind = Call
		}
	case 0x67: // jalr rd, imm(rs1)
		switch {
		case rd != 0:
			out.Kind = Call
		case rs1 == 1 && w>>20 == 0:
			out.Kind = Ret // jalr zero, 0(ra)
		default:
			out.Kind = Jump
		}
	case 0x63: // beq..bgeu: imm[12|10:5] rs2 rs1 funct3 imm[4:1|11]
		imm := bit(w, 31, 12) | (w>>25&0x3f)<<5 | (w>>8&0xf)<<1 | bit(w, 7, 11)
		out.Kind, out.Target = CondJump, addr+uint64(int64(int32(imm<<19)>>19))
	}
	return out, nil
}

// riscvCompressed classifies the 16-bit instruction h into out.
func riscvCompressed(out *Inst, h uint32) {
	bit := func(from, to uint) uint32 { return (h >> from & 1) << to }
	switch q, f3 := h&3, h>>13; {
	case q == 1 && f3 == 5: // c.j: imm[11|4|9:8|10|6|7|3:1|5]
		imm := bit(12, 11) | bit(11, 4) | bit(10, 9) | bit(9, 8) | bit(8, 10) | bit(7, 6) | bit(6, 7) |
			bit(5, 3) | bit(4, 2) | bit(3, 1) | bit(2, 5)
		out.Kind, out.Target = Jump, out.Addr+uint64(int64(int32(imm<<20)>>20))
	case q == 1 && (f3 == 6 || f3 == 7): // c.beqz, c.bnez: imm[8|4:3] rs1' imm[7:6|2:1|5]
		imm := bit(12, 8) | bit(11, 4) | bit(10, 3) | bit(6, 7) | bit(5, 6) | bit(4, 2) | bit(3, 1) | bit(2, 5)
		out.Kind, out.Target = CondJump, out.Addr+uint64(int64(int32(imm<<23)>>23))
	case q == 2 && f3 == 4 && h>>2&31 == 0 && h>>7&31 != 0: // c.jr, c.jalr
		switch {
		case h>>12&1 != 0:
			out.Kind = Call // c.jalr
		case h>>7&31 == 1:
			out.Kind = Ret // c.jr ra
		default:
			out.Kind = Jump
		}
	}
}

// riscv64StackCheckEnd recognises cmd/internal/obj/riscv's prologue
// (obj.go, stacksplit): MOV 16(g), X6 (ld t1, 16(s11)), then BLTU X6, SP
// (or SP-framesize) over the morestack call into the body
// (checkBranchEntry).
func riscv64StackCheckEnd(insts []Inst, a *arch.Arch) (uint64, bool) {
	for i := 0; i < len(insts) && i < prologueWindow; i++ {
		if len(insts[i].Raw) != 4 {
			continue
		}
		w := binary.LittleEndian.Uint32(insts[i].Raw)
		// ld rd, imm(rs1): I-type, opcode 0x03, funct3 3.
		if w&0x707f != 0x3003 || int((w>>15)&31) != a.GoG || !isStackguard(int64(int32(w)>>20)) {
			continue
		}
		return checkAfterLoad(insts, i)
	}
	return 0, false
}
