package disasm

import (
	"encoding/binary"

	"golang.org/x/arch/arm64/arm64asm"

	"github.com/taijidbg/taiji/arch"
)

func decodeARM64(code []byte, addr uint64) (Inst, error) {
	if len(code) < 4 {
		return Inst{}, &FormatError{Addr: addr, Msg: "truncated instruction"}
	}
	out := Inst{Addr: addr, Len: 4, Raw: code[:4:4]}
	in, err := arm64asm.Decode(code)
	if err != nil {
		// Go emits data words in text only for constant pools it never
		// executes; still, an undecodable word is not a RET and is
		// harmless to step over with a fixed instruction width.
		out.Text = "?"
		return out, nil
	}
	out.Text = arm64asm.GoSyntax(in, addr, nil, nil)
	switch in.Op {
	case arm64asm.RET:
		out.Kind = Ret
	case arm64asm.BL, arm64asm.BLR:
		out.Kind = Call
	case arm64asm.B, arm64asm.BR:
		out.Kind = Jump
		if _, ok := in.Args[0].(arm64asm.Cond); ok {
			out.Kind = CondJump
		}
	case arm64asm.CBZ, arm64asm.CBNZ, arm64asm.TBZ, arm64asm.TBNZ:
		out.Kind = CondJump
	}
	for _, arg := range in.Args {
		if rel, ok := arg.(arm64asm.PCRel); ok && out.Kind != Other {
			out.Target = addr + uint64(int64(rel))
		}
	}
	return out, nil
}

// arm64StackCheckEnd recognises cmd/internal/obj/arm64's prologue: a load
// of g.stackguard0 (MOVD 16(g), R16, encoded as LDR x16, [x28, #16]), a
// compare, then B.LS forward to the morestack call.
func arm64StackCheckEnd(insts []Inst, a *arch.Arch) (uint64, bool) {
	for i := 0; i < len(insts) && i < prologueWindow; i++ {
		w := binary.LittleEndian.Uint32(insts[i].Raw)
		// LDR Xt, [Xn, #imm12*8]: 0xf9400000 | imm12<<10 | Rn<<5 | Rt.
		if w&0xffc00000 != 0xf9400000 || int((w>>5)&31) != a.GoG {
			continue
		}
		if off := (w >> 10) & 0xfff * 8; !isStackguard(int64(off)) {
			continue
		}
		for k := i + 1; k < len(insts) && k < i+prologueWindow; k++ {
			if j := insts[k]; j.Kind == CondJump && j.Target > j.Addr {
				if k+1 < len(insts) {
					return insts[k+1].Addr, true
				}
				return 0, false
			}
		}
	}
	return 0, false
}
