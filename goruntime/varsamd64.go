package goruntime

import (
	"golang.org/x/arch/x86/x86asm"
)

// scanX86 returns the data addresses the x86 code at pc names: RIP-relative
// operands on amd64 (the Go linker's R_PCREL, in PIE too), absolute
// displacements without base or index on 386 (R_ADDR). mode is 64 or 32.
// It stops at the first byte sequence x86asm cannot decode (AVX and the
// like, which the runtime's scheduler code does not use): the references
// before it are still returned.
func scanX86(mode int) refScanner {
	return func(code []byte, pc uint64) []ref {
		var refs []ref
		for off := 0; off < len(code); {
			in, err := x86asm.Decode(code[off:], mode)
			if err != nil || in.Len <= 0 {
				break
			}
			next := pc + uint64(off+in.Len)
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
				refs = append(refs, ref{PC: next - uint64(in.Len), Addr: addr, Kind: x86Kind(in.Op, i)})
			}
			off += in.Len
		}
		return refs
	}
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
