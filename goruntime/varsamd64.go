package goruntime

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
)

// maxX86Len is the longest x86 instruction, in bytes.
const maxX86Len = 15

// scanX86 returns the data addresses the x86 code at pc names: RIP-relative
// operands on amd64 (the Go linker's R_PCREL, in PIE too), absolute
// displacements without base or index on 386 (R_ADDR). mode is 64 or 32.
// x86asm does not decode VEX instructions (GOAMD64=v3 builds use BMI2's
// SHLX and the like): on amd64 disasm, which measures them, steps over
// them; elsewhere, and at bytes neither decodes, the scan stops, keeping
// the references found before.
func scanX86(mode int) refScanner {
	return func(code []byte, pc uint64) []ref {
		var refs []ref
		for off := 0; off < len(code); {
			in, err := x86asm.Decode(code[off:], mode)
			if err != nil || in.Len <= 0 {
				if mode != 64 {
					break
				}
				insts, _ := disasm.Decode(arch.AMD64, code[off:min(off+maxX86Len, len(code))], pc+uint64(off))
				if len(insts) == 0 {
					break
				}
				off += insts[0].Len
				continue
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
