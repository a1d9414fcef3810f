package goruntime

import (
	"encoding/binary"

	"golang.org/x/arch/arm64/arm64asm"
)

// scanARM64 returns the data addresses arm64 code names. The Go assembler
// (cmd/internal/obj/arm64) materialises a symbol's address with ADRP (the
// 4 KiB page, R_ADDRARM64 and the R_ARM64_PCREL_LDST* relocations) followed
// by an ADD of the low 12 bits or by a load or store with them as its
// unsigned offset (MOVD sym(SB), R: ADRP R27, sym; LDR R, [R27, #lo]); an
// atomic (LDAR, STLR, SWPAL, ...) or a pair load (LDP for a slice's pointer
// and length) then uses the register with the full address. Registers are
// tracked from the ADRP until anything else writes them; every control
// transfer forgets them all, so a value is never carried into code a
// branch reaches from elsewhere.
func scanARM64(code []byte, pc uint64) []ref {
	var refs []ref
	var known [32]uint64 // X0-X30; 0: unknown
	for off := 0; off+4 <= len(code); off += 4 {
		at := pc + uint64(off)
		w := binary.LittleEndian.Uint32(code[off:])
		in, err := arm64asm.Decode(code[off : off+4])
		if err != nil {
			known = [32]uint64{}
			continue
		}
		rn, rt := w>>5&31, w&31
		switch {
		case in.Op == arm64asm.ADRP:
			page := at &^ 0xfff
			if rel, ok := in.Args[1].(arm64asm.PCRel); ok && rt != 31 {
				known[rt] = page + uint64(int64(rel))
			}
			continue
		case w&0xff800000 == 0x91000000 && known[rn] != 0 && rn != 31: // ADD Xd, Xn, #imm12 (LSL 0)
			v := known[rn] + uint64(w>>10&0xfff)
			refs = append(refs, ref{PC: at, Addr: v, Kind: refAddr})
			if rt != 31 {
				known[rt] = v
			}
			continue
		case w&0x3b000000 == 0x39000000 && known[rn] != 0 && rn != 31: // LDR/STR (unsigned offset)
			scale := w >> 30
			if w&(1<<26) != 0 && w&(1<<23) != 0 { // 128-bit SIMD
				scale = 4
			}
			refs = append(refs, ref{PC: at, Addr: known[rn] + uint64(w>>10&0xfff)<<scale, Kind: armLoadStore(w&(1<<22) != 0)})
		case w&0x3a000000 == 0x28000000 && w>>23&3 == 2 && known[rn] != 0 && rn != 31: // LDP/STP (signed offset)
			scale := 2 + w>>31
			imm := int64(int32(w<<10) >> 25) // imm7 at bits 15-21
			refs = append(refs, ref{PC: at, Addr: known[rn] + uint64(imm<<scale), Kind: armLoadStore(w&(1<<22) != 0)})
		case w&0x7f80001f == 0x7100001f: // CMP (SUBS XZR/WZR, Rn, #imm12{, LSL 12})
			imm := uint64(w >> 10 & 0xfff)
			if w&(1<<22) != 0 {
				imm <<= 12
			}
			refs = append(refs, ref{PC: at, Addr: imm, Kind: refBound})
		case w&0x3f000000 == 0x08000000 && known[rn] != 0 && rn != 31: // LDAR, STLR, LDAXR, STLXR, CAS, ...
			refs = append(refs, ref{PC: at, Addr: known[rn], Kind: refLoad | refStore})
		case w&0x3b200c00 == 0x38200000 && known[rn] != 0 && rn != 31: // LSE atomics: LDADD, SWP, ...
			refs = append(refs, ref{PC: at, Addr: known[rn], Kind: refLoad | refStore})
		}
		if armControl(in.Op) {
			known = [32]uint64{}
			continue
		}
		// Forget whatever the instruction writes: its first register
		// argument, unless it stores (then the first is a source), and
		// the second of a pair load.
		if !armStore(in.Op) {
			forgetARM(&known, in.Args[0])
			if in.Op == arm64asm.LDP || in.Op == arm64asm.LDAXP || in.Op == arm64asm.LDXP {
				forgetARM(&known, in.Args[1])
			}
		}
		// Pre- and post-indexed addressing writes the base back.
		for _, a := range in.Args {
			if m, ok := a.(arm64asm.MemImmediate); ok && m.Mode != arm64asm.AddrOffset {
				forgetARM(&known, m.Base)
			}
		}
	}
	return refs
}

func armLoadStore(load bool) refKind {
	if load {
		return refLoad
	}
	return refStore
}

func forgetARM(known *[32]uint64, a arm64asm.Arg) {
	switch r := a.(type) {
	case arm64asm.Reg:
		if r >= arm64asm.X0 && r <= arm64asm.X30 {
			known[r-arm64asm.X0] = 0
		} else if r >= arm64asm.W0 && r <= arm64asm.W30 {
			known[r-arm64asm.W0] = 0
		}
	case arm64asm.RegSP:
		forgetARM(known, arm64asm.Reg(r))
	}
}

func armControl(op arm64asm.Op) bool {
	switch op {
	case arm64asm.B, arm64asm.BL, arm64asm.BR, arm64asm.BLR, arm64asm.RET,
		arm64asm.CBZ, arm64asm.CBNZ, arm64asm.TBZ, arm64asm.TBNZ:
		return true
	}
	return false
}

func armStore(op arm64asm.Op) bool {
	switch op {
	case arm64asm.STR, arm64asm.STRB, arm64asm.STRH, arm64asm.STP, arm64asm.STUR, arm64asm.STURB,
		arm64asm.STURH, arm64asm.STLR, arm64asm.STLRB, arm64asm.STLRH, arm64asm.STNP:
		return true
	}
	return false
}
