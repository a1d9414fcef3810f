package goruntime

import (
	"encoding/binary"
)

// scanMIPS64 returns the data addresses little-endian mips64 code names.
// golang.org/x/arch has no mips decoder, and only a few fixed-width
// encodings matter here: the Go assembler (cmd/internal/obj/mips, the
// R_ADDRMIPSU/R_ADDRMIPS relocation pair) materialises an address with
// LUI rt, %hi(sym) followed by DADDIU/ADDIU rt, rt, %lo(sym) (MOVV $sym, R),
// or uses the %lo part as the offset of a load or store (MOVV sym(SB), R:
// LUI R23, %hi; LD R, %lo(R23)), with a DADDU of REGSB (R28) between
// them since go1.17 or so. Registers are tracked from the LUI until
// anything else writes them; jumps and branches forget them all.
func scanMIPS64(code []byte, pc uint64) []ref {
	var refs []ref
	var known [32]uint64 // 0: unknown
	for off := 0; off+4 <= len(code); off += 4 {
		at := pc + uint64(off)
		w := binary.LittleEndian.Uint32(code[off:])
		op, rs, rt, rd := w>>26, w>>21&31, w>>16&31, w>>11&31
		imm := uint64(int64(int16(w)))
		switch {
		case op == 0x0f: // LUI
			if rt != 0 {
				known[rt] = imm << 16
			}
			continue
		case op == 0 && w&0x7ff == 0x2d && rd != 0 && (known[rs] != 0 && rt == regSB || known[rt] != 0 && rs == regSB):
			// DADDU rd, rt, R28: the assembler adds REGSB, which Go's
			// static and PIE-less binaries keep at 0.
			known[rd] = known[rs] | known[rt]
			continue
		case (op == 0x19 || op == 0x09) && known[rs] != 0: // DADDIU, ADDIU
			v := known[rs] + imm
			if op == 0x09 {
				v = uint64(int64(int32(v)))
			}
			refs = append(refs, ref{PC: at, Addr: v, Kind: refAddr})
			if rt != 0 {
				known[rt] = v
			}
			continue
		case op == 0x0a || op == 0x0b: // SLTI, SLTIU: rt = rs < imm
			if int64(imm) >= 0 {
				refs = append(refs, ref{PC: at, Addr: imm, Kind: refBound})
			}
		case mipsMem[op] != 0 && known[rs] != 0:
			refs = append(refs, ref{PC: at, Addr: known[rs] + imm, Kind: mipsMem[op]})
			if mipsMem[op] == refStore {
				continue // stores write no register (SC and SCD do: below)
			}
		}
		switch {
		case op == 0 && (w&0x3f == 0x08 || w&0x3f == 0x09), // JR, JALR
			op >= 0x01 && op <= 0x07, op >= 0x14 && op <= 0x17: // REGIMM, J, JAL, BEQ..BGTZ(L)
			known = [32]uint64{}
			continue
		}
		// Forget the destination: rd of R-type (SPECIAL) instructions,
		// rt of the others; both where SPECIAL2/3 use either.
		switch op {
		case 0x00:
			known[rd] = 0
		case 0x1c, 0x1f:
			known[rt], known[rd] = 0, 0
		default:
			known[rt] = 0
		}
	}
	return refs
}

// regSB is R28 (gp), the Go assembler's static base register on mips.
const regSB = 28

// mipsMem gives the kind of each load and store opcode (base register rs,
// signed 16-bit offset); 0 for other opcodes.
var mipsMem = [64]refKind{
	0x20: refLoad, 0x21: refLoad, 0x23: refLoad, 0x24: refLoad, 0x25: refLoad, 0x27: refLoad, // LB LH LW LBU LHU LWU
	0x37: refLoad, 0x31: refLoad, 0x35: refLoad, // LD LWC1 LDC1
	0x30: refLoad, 0x34: refLoad, // LL LLD
	0x28: refStore, 0x29: refStore, 0x2b: refStore, 0x3f: refStore, 0x39: refStore, 0x3d: refStore, // SB SH SW SD SWC1 SDC1
	0x38: refLoad | refStore, 0x3c: refLoad | refStore, // SC SCD (they write rt too)
}
