package goruntime

import "encoding/binary"

// scanS390X returns the data addresses s390x code names. The Go assembler
// (cmd/internal/obj/s390x, R_PCRELDBL) reaches a symbol PC-relative:
// LARL r, sym materialises its address, the relative-long loads and stores
// (LGRL, LRL, STGRL, ...) use it directly; loads, stores and compare-and-
// swaps through a base register with a displacement (RX, RXY, RS, RSY
// formats) then use a LARL'd address. Instructions are 2, 4 or 6 bytes
// (the top two bits of the first byte say which); branches forget every
// register.
func scanS390X(code []byte, pc uint64) []ref {
	var r regRefs
	for off := 0; off+2 <= len(code); {
		at := pc + uint64(off)
		n := [4]int{2, 4, 4, 6}[code[off]>>6]
		if off+n > len(code) {
			break
		}
		in := code[off : off+n]
		off += n
		op, r1 := in[0], int(in[1]>>4)
		// s390x numbers registers from 0; regRefs never keeps register
		// 0, which Go's s390x code uses as a scratch register only.
		switch {
		case op == 0xc0 && in[1]&0xf == 0: // LARL
			r.set(r1, r.add(at, at+uint64(int64(int32(binary.BigEndian.Uint32(in[2:])))*2), refAddr))
			continue
		case op == 0xc4 || op == 0xc6: // relative-long loads and stores; compares
			kind := s390xRelLong[in[1]&0xf]
			if op == 0xc6 && in[1]&0xf >= 4 {
				kind = refLoad // CGRL, CRL, CLGRL, ...
			} else if op == 0xc6 {
				kind = 0 // EXRL, PFDRL
			}
			if kind != 0 {
				r.add(at, at+uint64(int64(int32(binary.BigEndian.Uint32(in[2:])))*2), kind)
			}
			if kind == refStore || op == 0xc6 {
				continue
			}
		case n == 4 && (op == 0x58 || op == 0x50 || op == 0xba) || n == 6 && (op == 0xe3 || op == 0xeb): // RX, RS; RXY, RSY
			b2 := int(in[2] >> 4)
			disp := uint64(binary.BigEndian.Uint16(in[2:]) & 0xfff)
			if n == 6 {
				disp = uint64(int64(int32(uint32(in[4])<<24|uint32(binary.BigEndian.Uint16(in[2:])&0xfff)<<12)) >> 12)
			}
			kind := refLoad
			if op == 0x50 || op == 0xe3 && s390xStoreRXY[in[5]] {
				kind = refStore
			}
			if op == 0xba || op == 0xeb {
				kind = refLoad | refStore // CS, CSG, ...
			}
			if r.known(b2) && (op == 0xba || op == 0xeb || in[1]&0xf == 0) { // RX, RXY: no index register
				r.add(at, r.reg[b2]+disp, kind)
			}
			if kind == refStore {
				continue
			}
			if op == 0xeb && in[5] == 0x04 { // LMG writes a range
				r.forgetAll()
				continue
			}
		case op == 0xec && n == 6 && in[5] >= 0x7c && in[5] <= 0x7f: // CGIJ, CLGIJ, CIJ, CLIJ: compare with i2, branch
			if in[5] == 0x7d || in[5] == 0x7f || int8(in[4]) >= 0 {
				r.add(at, uint64(in[4]), refBound)
			}
			r.forgetAll()
			continue
		case op == 0xa7 && (in[1]&0xf == 0xe || in[1]&0xf == 0xf) && int16(binary.BigEndian.Uint16(in[2:])) >= 0: // CHI, CGHI
			r.add(at, uint64(binary.BigEndian.Uint16(in[2:])), refBound)
			continue
		case op == 0xc2 && in[1]&0xf >= 0xc: // CGFI, CFI, CLGFI, CLFI
			if imm := binary.BigEndian.Uint32(in[2:]); in[1]&0xf >= 0xe || int32(imm) >= 0 {
				r.add(at, uint64(imm), refBound)
			}
			continue
		case op == 0xa7 && in[1]&0xf >= 4 && in[1]&0xf <= 7, op == 0xc0 && (in[1]&0xf == 4 || in[1]&0xf == 5),
			op == 0x07, op == 0x0d, op == 0x47, op == 0xec: // BRC, BRCL, BRASL, BCR, BASR, BC, compare-and-branch
			r.forgetAll()
			continue
		}
		r.set(r1, 0)
		if op == 0xb9 { // RRE: R1 is in the fourth byte
			r.set(int(in[3]>>4), 0)
		}
	}
	return r.refs
}

// s390xRelLong gives the relative-long accesses of opcode 0xC4 by its
// second nibble: LLHRL 2, LGHRL 4, LHRL 5, LLGHRL 6, STHRL 7, LGRL 8,
// STGRL B, LGFRL C, LRL D, LLGFRL E, STRL F.
var s390xRelLong = [16]refKind{
	2: refLoad, 4: refLoad, 5: refLoad, 6: refLoad, 7: refStore, 8: refLoad,
	0xb: refStore, 0xc: refLoad, 0xd: refLoad, 0xe: refLoad, 0xf: refStore,
}

// s390xStoreRXY marks the stores among opcode 0xE3's RXY instructions by
// their last byte: STG 24, STY 50, STHY 70, STCY 72, STRVG 2F, STRV 3E.
var s390xStoreRXY = [256]bool{0x24: true, 0x50: true, 0x70: true, 0x72: true, 0x2f: true, 0x3e: true}
