package goruntime

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
)

// scanX86 returns the data addresses the x86 code at pc names: RIP-relative
// operands on amd64 (the Go linker's R_PCREL, in PIE too), absolute
// displacements without base or index on 386 (R_ADDR). mode is 64 or 32.
//
// On amd64 the instruction boundaries come from disasm, which measures
// VEX and EVEX instructions exactly where x86asm does not (it takes
// VZEROUPPER for 5 bytes, and the walk would go out of step and read
// displacements relative to the wrong PC); x86asm then decodes each
// instruction's operands, and one it decodes to another length names
// nothing. On 386, and at bytes disasm cannot decode, x86asm walks alone
// and the scan stops at the first bytes it cannot decode, keeping the
// references found before.
func scanX86(mode int) refScanner {
	return func(code []byte, pc uint64) []ref {
		var refs []ref
		var insts []disasm.Inst
		if mode == 64 {
			insts, _ = disasm.Decode(arch.AMD64, code, pc)
		}
		for off := 0; off < len(code); {
			n := 0
			if len(insts) > 0 && insts[0].Addr == pc+uint64(off) {
				n, insts = insts[0].Len, insts[1:]
			}
			in, err := x86asm.Decode(code[off:], mode)
			switch {
			case n > 0 && (err != nil || in.Len != n):
				off += n
				continue
			case err != nil || in.Len <= 0:
				return refs
			}
			refs = x86Refs(refs, in, pc+uint64(off), mode)
			off += in.Len
		}
		return refs
	}
}

// x86Refs appends the data addresses instruction in, at pc, names.
func x86Refs(refs []ref, in x86asm.Inst, pc uint64, mode int) []ref {
	next := pc + uint64(in.Len)
	for i, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok {
			continue
		}
		var addr uint64
		switch {
		case m.Base == x86asm.RIP && m.Index == 0:
			addr = next + uint64(m.Disp)
		case mode == 32 && m.Base == 0 && m.Index == 0 && m.Segment == 0:
			addr = uint64(uint32(m.Disp))
		default:
			continue
		}
		refs = append(refs, ref{PC: pc, Addr: addr, Kind: x86Kind(in.Op, i)})
	}
	if imm, ok := in.Args[1].(x86asm.Imm); ok && in.Op == x86asm.CMP && imm >= 0 {
		refs = append(refs, ref{PC: pc, Addr: uint64(imm), Kind: refBound})
	}
	return refs
}

// x86Kind says how instruction op uses its memory operand number i.
func x86Kind(op x86asm.Op, i int) refKind {
	switch {
	case op == x86asm.LEA:
		return refAddr
	case op == x86asm.XCHG || op == x86asm.CMPXCHG || op == x86asm.XADD:
		return refLoad | refStore
	case i == 0 && op != x86asm.CMP && op != x86asm.TEST && op != x86asm.BT && op != x86asm.PUSH:
		return refStore
	}
	return refLoad
}
