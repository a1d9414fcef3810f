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
// from the encodings (arch.DecodeRISCV64Transfer, which software
// single-step uses too); riscv64asm gives the text.
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
	w := uint32(binary.LittleEndian.Uint16(code))
	if n == 4 {
		w = binary.LittleEndian.Uint32(code)
	}
	if t, ok := arch.DecodeRISCV64Transfer(w); ok {
		switch {
		case t.Link: // jal ra (Go's CALL), jal t0 (its morestack call), jalr ra, c.jalr
			out.Kind = Call
		case t.Cond:
			out.Kind = CondJump
		case t.Indirect && t.Rs1 == 1 && t.Off == 0: // jalr zero, 0(ra); c.jr ra
			out.Kind = Ret
		default:
			out.Kind = Jump
		}
		if !t.Indirect {
			out.Target = addr + uint64(t.Off)
		}
	}
	return out, nil
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
