package goruntime

import "encoding/binary"

// scanRISCV64 returns the data addresses riscv64 code names. The Go
// assembler (cmd/internal/obj/riscv: R_RISCV_PCREL_ITYPE, _STYPE) pairs
// AUIPC rd, %hi with an ADDI, a load or a store of %lo from rd; atomics
// (AMO*, LR, SC) then take the full address in a register. A compressed
// (16-bit) instruction, a jump or a branch forgets every register, as
// Go never puts one between the two halves of a pair.
func scanRISCV64(code []byte, pc uint64) []ref {
	var r regRefs
	for off := 0; off+2 <= len(code); {
		at := pc + uint64(off)
		if code[off]&3 != 3 { // compressed
			r.forgetAll()
			off += 2
			continue
		}
		if off+4 > len(code) {
			break
		}
		w := binary.LittleEndian.Uint32(code[off:])
		off += 4
		op, rd, f3, rs1 := w&0x7f, int(w>>7&31), w>>12&7, int(w>>15&31)
		immI := uint64(int64(int32(w)) >> 20)
		switch op {
		case 0x17: // AUIPC
			r.set(rd, at+uint64(int64(int32(w&0xfffff000))))
			continue
		case 0x13: // OP-IMM: ADDI makes an address, or loads a constant (LI)
			switch {
			case f3 == 0 && r.known(rs1):
				r.set(rd, r.add(at, r.reg[rs1]+immI, refAddr))
				continue
			case f3 == 0 && rs1 == 0 && int64(immI) > 0:
				r.setImm(rd, immI)
				continue
			case (f3 == 2 || f3 == 3) && int64(immI) >= 0: // SLTI, SLTIU
				r.add(at, immI, refBound)
			}
		case 0x03, 0x07: // LOAD, LOAD-FP
			if r.known(rs1) {
				r.add(at, r.reg[rs1]+immI, refLoad)
			}
		case 0x23, 0x27: // STORE, STORE-FP: no destination
			if r.known(rs1) {
				imm := uint64(int64(int32(w&0xfe000000))>>20) | uint64(w>>7&31)
				r.add(at, r.reg[rs1]+imm, refStore)
			}
			continue
		case 0x2f: // AMO, LR, SC
			if r.known(rs1) {
				r.add(at, r.reg[rs1], refLoad|refStore)
			}
		case 0x63: // BRANCH: compares rs1 with rs2
			r.branch(at, rs1, int(w>>20&31))
			continue
		case 0x67, 0x6f: // JALR, JAL
			r.forgetAll()
			continue
		}
		r.set(rd, 0)
	}
	return r.refs
}
