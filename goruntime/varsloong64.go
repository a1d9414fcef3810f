package goruntime

import "encoding/binary"

// scanLoong64 returns the data addresses loong64 code names. The Go
// assembler (cmd/internal/obj/loong64: R_LOONG64_ADDR_HI/_LO) pairs
// PCALAU12I rd, %hi (the 4 KiB page; PCADDU12I, PC-relative, in go1.19) with an ADDI.D, a load or a store of
// the low 12 bits from rd; atomics (AM*, LL, SC, LDPTR, STPTR) then take
// the full address in a register. Jumps and branches forget every
// register.
func scanLoong64(code []byte, pc uint64) []ref {
	var r regRefs
	for off := 0; off+4 <= len(code); off += 4 {
		at := pc + uint64(off)
		w := binary.LittleEndian.Uint32(code[off:])
		rd, rj := int(w&31), int(w>>5&31)
		si12 := uint64(int64(int32(w<<10)) >> 20)
		switch op22 := w >> 22; {
		case w>>25 == 0x0d: // PCALAU12I
			r.set(rd, at&^0xfff+uint64(int64(int32(w>>5<<12))))
			continue
		case w>>25 == 0x0e: // PCADDU12I (go1.19's pair, not page-aligned)
			r.set(rd, at+uint64(int64(int32(w>>5<<12))))
			continue
		case (op22 == 0x00b || op22 == 0x00a) && r.known(rj): // ADDI.D, ADDI.W
			r.set(rd, r.add(at, r.reg[rj]+si12, refAddr))
			continue
		case (op22 == 0x00b || op22 == 0x00a) && rj == 0 && int64(si12) > 0, op22 == 0x00e && rj == 0 && w>>10&0xfff != 0:
			// LI: ADDI.[DW] rd, R0, si12 or ORI rd, R0, ui12
			r.setImm(rd, uint64(w>>10&0xfff))
			continue
		case (op22 == 0x008 || op22 == 0x009) && int64(si12) >= 0: // SLTI, SLTUI
			r.add(at, si12, refBound)
		case w>>26 >= 0x16 && w>>26 <= 0x1b: // BEQ, BNE, BLT, BGE, BLTU, BGEU: compare rj with rd
			r.branch(at, rj, rd)
			continue
		case op22 >= 0x0a0 && op22 <= 0x0af: // LD.*, ST.*, FLD.*, FST.*
			kind := refLoad
			if loong64Stores[op22-0x0a0] {
				kind = refStore
			}
			if r.known(rj) {
				r.add(at, r.reg[rj]+si12, kind)
			}
			if kind == refStore {
				continue
			}
		case w>>24 >= 0x20 && w>>24 <= 0x27: // LL, SC, LDPTR, STPTR (si14 << 2)
			if r.known(rj) {
				r.add(at, r.reg[rj]+uint64(int64(int32(w<<8))>>16)&^3, refLoad|refStore)
			}
		case w>>15 >= 0x70c0 && w>>15 <= 0x70ff: // AMSWAP, AMADD, ... (rj holds the address)
			if r.known(rj) {
				r.add(at, r.reg[rj], refLoad|refStore)
			}
		case w>>26 >= 0x10 && w>>26 <= 0x15: // BEQZ, BNEZ, BCEQZ/BCNEZ, JIRL, B, BL
			r.forgetAll()
			continue
		}
		r.set(rd, 0)
	}
	return r.refs
}

// loong64Stores marks the stores among opcodes 0x0a0-0x0af (bits 31-22):
// ST.B, ST.H, ST.W, ST.D, FST.S, FST.D.
var loong64Stores = [16]bool{4: true, 5: true, 6: true, 7: true, 0xd: true, 0xf: true}
