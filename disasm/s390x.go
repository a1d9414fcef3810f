package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/s390x/s390xasm"

	"github.com/taijidbg/taiji/arch"
)

// decodeS390X decodes one z/Architecture instruction. Its length is in the
// first two bits of the opcode (00: 2 bytes, 01 and 10: 4, 11: 6;
// z/Architecture Principles of Operation, "Instruction Formats"), so the
// walk never goes out of step, even over bytes s390xasm does not decode
// but for data in code, which s390xasm refuses and so is never probed. Control
// transfers are read from the encodings; s390xasm gives the text.
func decodeS390X(code []byte, addr uint64) (Inst, error) {
	if len(code) < 2 {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	n := [4]int{2, 4, 4, 6}[code[0]>>6]
	if len(code) < n {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	out := Inst{Addr: addr, Len: n, Raw: code[:n:n], Text: "?"}
	switch in, err := s390xasm.Decode(code[:n]); {
	case err == nil && in.Len == n:
		out.Text = s390xasm.GoSyntax(in, addr, nil)
	case n == 2 && code[0] == 0 && code[1] == 0:
		// The zero halfwords Go pads functions with (an invalid
		// opcode, never executed).
	default:
		// Data in code (runtime.save_g's TLS offset) or an instruction
		// s390xasm does not know: a length read from data could put
		// the walk out of step, so the function is not probed.
		return Inst{}, &FormatError{Addr: addr, Msg: "not an instruction s390xasm knows", Err: err}
	}
	op, r1, r2 := code[0], code[1]>>4, code[1]&15 // r1 is M1 in the branches
	// rel returns the target of a relative branch whose signed halfword
	// count is the big-endian 16 or 32 bits at code[off:].
	rel16 := func(off int) uint64 { return addr + uint64(2*int64(int16(binary.BigEndian.Uint16(code[off:])))) }
	rel32 := func(off int) uint64 { return addr + uint64(2*int64(int32(binary.BigEndian.Uint32(code[off:])))) }
	// mask classifies a branch on condition mask m: 15 always, 0 never.
	mask := func(m byte) Kind {
		switch m {
		case 15:
			return Jump
		case 0:
			return Other
		}
		return CondJump
	}
	switch {
	case op == 0x07: // bcr M1, R2
		switch {
		case r2 == 0: // bcr 15,0 and 14,0 serialise: no branch
		case r1 == 15 && r2 == 14:
			out.Kind = Ret // br %r14
		case r1 == 15:
			out.Kind = Jump
		case r1 != 0:
			// Conditional, and a conditional return when R2 is r14: a
			// probe there would fire whether or not it returns.
			out.Kind = CondJump
		}
	case op == 0x05 || op == 0x0d: // balr, basr
		if r2 != 0 {
			out.Kind = Call
		}
	case op == 0x45 || op == 0x4d: // bal, bas
		out.Kind = Call
	case op == 0x47: // bc M1, D2(X2,B2)
		out.Kind = mask(r1)
	case op == 0x06 || op == 0x0b || op == 0x46 || op == 0x86 || op == 0x87 || op == 0x88: // bctr, bsm, bct, bxh, bxle
		out.Kind = CondJump
	case op == 0xa7 && r2 == 4: // brc M1, I2
		out.Kind, out.Target = mask(r1), rel16(2)
	case op == 0xa7 && r2 == 5: // bras
		out.Kind, out.Target = Call, rel16(2)
	case op == 0xa7 && (r2 == 6 || r2 == 7): // brct, brctg
		out.Kind, out.Target = CondJump, rel16(2)
	case op == 0x84 || op == 0x85: // brxh, brxle
		out.Kind, out.Target = CondJump, rel16(2)
	case op == 0xc0 && r2 == 4: // brcl M1, I2
		out.Kind, out.Target = mask(r1), rel32(2)
	case op == 0xc0 && r2 == 5: // brasl
		out.Kind, out.Target = Call, rel32(2)
	case op == 0xcc && r2 == 6: // brcth
		out.Kind, out.Target = CondJump, rel32(2)
	case op == 0xe3 && code[5] == 0x47: // bic
		out.Kind = mask(r1)
	case op == 0xec:
		switch code[5] {
		case 0x44, 0x45, // brxhg, brxlg
			0x64, 0x65, 0x76, 0x77, // cgrj, clgrj, crj, clrj
			0x7c, 0x7d, 0x7e, 0x7f: // cgij, clgij, cij, clij
			out.Kind, out.Target = CondJump, rel16(2)
		case 0xe4, 0xe5, 0xf6, 0xf7, 0xfc, 0xfd, 0xfe, 0xff: // c[l][g]rb, c[l][g]ib
			out.Kind = CondJump
		}
	}
	return out, nil
}

// s390xBranchTargets is BranchTargets for a z/Architecture branch in
// decoded by decodeS390X: the relative ones carry their target; bcr, basr,
// balr and bctr branch to R2, and bc, bas, bal and bct (RX) to
// D2(X2,B2), register 0 meaning 0 as a base or index. bsm, the
// branch-on-index forms of RS format and bic (a target read from memory)
// are not followed.
func s390xBranchTargets(in Inst, reg func(int) uint64) ([]uint64, bool) {
	r := in.Raw
	op, r2 := r[0], r[1]&15
	val := func(n byte) uint64 {
		if n == 0 {
			return 0
		}
		return reg(int(n))
	}
	target := in.Target
	switch {
	case target != 0:
	case op == 0x07 || op == 0x05 || op == 0x0d || op == 0x06: // bcr, balr, basr, bctr
		target = val(r2)
	case op == 0x47 || op == 0x45 || op == 0x4d || op == 0x46: // bc, bal, bas, bct
		b2, d2 := r[2]>>4, uint64(r[2]&15)<<8|uint64(r[3])
		target = val(r2) + val(b2) + d2 // r2 is X2 in RX format
	default:
		return nil, false
	}
	out := []uint64{target}
	if next := in.Addr + uint64(in.Len); next != target && in.Kind != Jump && in.Kind != Ret {
		out = append(out, next)
	}
	// A call returns to its fall-through, which is not where the step
	// ends: the callee's first instruction is.
	if in.Kind == Call {
		out = out[:1]
	}
	return out, true
}

// s390xStackCheckEnd recognises cmd/internal/obj/s390x's prologue (objz.go,
// stacksplitPre): MOVD 16(g), R10 (lg %r10, 16(%r13)), then a
// compare-and-branch (CMPUBGE R10, R15 or a compare with SP-framesize) to
// the morestack call at the function's end (checkBranchEntry).
func s390xStackCheckEnd(insts []Inst, a *arch.Arch) (uint64, bool) {
	for i := 0; i < len(insts) && i < prologueWindow; i++ {
		r := insts[i].Raw
		// lg R1, D2(X2,B2): RXY-a, e3 R1X2 B2DL2 DL2 DH2 04.
		if len(r) != 6 || r[0] != 0xe3 || r[5] != 0x04 || r[1]&15 != 0 || int(r[2]>>4) != a.GoG {
			continue
		}
		disp := int64(int32(uint32(r[4])<<24|uint32(r[2]&15)<<20|uint32(r[3])<<12) >> 12)
		if !isStackguard(disp) {
			continue
		}
		return checkAfterLoad(insts, i)
	}
	return 0, false
}
