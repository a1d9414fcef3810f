package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/ppc64/ppc64asm"

	"github.com/taijidbg/taiji/arch"
)

// decodePPC64 decodes one little-endian Power ISA instruction. Lengths and
// control transfers come from the encoding itself (Power ISA 3.1 book I:
// 1.6 instruction formats, 2.4 branch instructions), so an instruction
// ppc64asm does not know still has its exact length: 8 bytes for a prefixed
// instruction (primary opcode 1), 4 otherwise; ppc64asm gives the text.
func decodePPC64(code []byte, addr uint64) (Inst, error) {
	if len(code) < 4 {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	w := binary.LittleEndian.Uint32(code)
	n := 4
	if w>>26 == 1 {
		n = 8
		if len(code) < 8 {
			return Inst{}, &FormatError{Addr: addr, Msg: "truncated prefixed instruction"}
		}
	}
	out := Inst{Addr: addr, Len: n, Raw: code[:n:n], Text: "?"}
	if in, err := ppc64asm.Decode(code[:n], binary.LittleEndian); err == nil && in.Len == n {
		out.Text = ppc64asm.GoSyntax(in, addr, nil)
	}
	if n == 8 {
		return out, nil // no prefixed instruction branches
	}
	lk := w&1 != 0
	// BO (bits 6-10): 0b1x1xx branches always; anything else tests CR or CTR.
	always := (w>>21)&0x14 == 0x14
	switch w >> 26 {
	case 18: // b, bl, ba, bla: I-form, LI is a signed 24-bit word offset
		out.Kind, out.Target = Jump, addr+uint64(int64(int32(w<<6)>>6)&^3)
		if w&2 != 0 { // AA: absolute
			out.Target = uint64(int64(int32(w<<6)>>6) &^ 3)
		}
		if lk {
			out.Kind = Call
		}
	case 16: // bc: B-form, BD is a signed 14-bit word offset
		out.Kind, out.Target = CondJump, addr+uint64(int64(int16(w&0xfffc)))
		if w&2 != 0 {
			out.Target = uint64(int64(int16(w & 0xfffc)))
		}
		switch {
		case lk:
			out.Kind = Call
		case always:
			out.Kind = Jump
		}
	case 19: // XL-form: bclr (16), bcctr (528), bctar (560)
		switch (w >> 1) & 0x3ff {
		case 16:
			switch {
			case lk:
				out.Kind = Call
			case always:
				out.Kind = Ret // blr
			default:
				// A conditional return (beqlr): a probe there would
				// fire whether or not it returns, so it is not a Ret.
				out.Kind = CondJump
			}
		case 528, 560:
			switch {
			case lk:
				out.Kind = Call
			case always:
				out.Kind = Jump // bctr: indirect, Target 0
			default:
				out.Kind = CondJump
			}
		}
	}
	return out, nil
}

// ppc64StackCheckEnd recognises cmd/internal/obj/ppc64's prologue
// (obj9.go, stacksplit): MOVD 16(g), R22 (ld r22, 16(r30)), a compare of
// SP or SP-framesize with it, then BLT over the morestack call into the
// body (checkBranchEntry).
func ppc64StackCheckEnd(insts []Inst, a *arch.Arch) (uint64, bool) {
	for i := 0; i < len(insts) && i < prologueWindow; i++ {
		if len(insts[i].Raw) != 4 {
			continue
		}
		w := binary.LittleEndian.Uint32(insts[i].Raw)
		// ld RT, DS(RA): DS-form, primary opcode 58, XO (low 2 bits) 0.
		if w>>26 != 58 || w&3 != 0 || int((w>>16)&31) != a.GoG || !isStackguard(int64(int16(w&0xfffc))) {
			continue
		}
		return checkAfterLoad(insts, i)
	}
	return 0, false
}
