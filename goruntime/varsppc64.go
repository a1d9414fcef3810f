package goruntime

import "encoding/binary"

// scanPPC64LE returns the data addresses little-endian ppc64 code names.
// In binaries without a TOC-relative (PIE) model, the Go assembler
// (cmd/internal/obj/ppc64, R_ADDRPOWER and R_ADDRPOWER_DS) materialises an
// address with ADDIS rt, 0, %ha followed by an ADDI, or a D- or DS-form
// load or store, of %l from rt; atomics (LWARX, LDARX, STWCX., STDCX. and
// the other X-form accesses) then take it as RB with RA 0. Branches forget
// every register.
//
// In PIE binaries the same pairs start from R2, the TOC pointer: every Go
// function's global entry computes it from R12, which holds the entry
// address (ELFv2: ADDIS R2, R12, %ha; ADDI R2, R2, %l), and the module's
// code keeps it there throughout, so R2 survives branches once known.
func scanPPC64LE(code []byte, pc uint64) []ref {
	var r regRefs
	var toc uint64
	r.set(12, pc)
	for off := 0; off+4 <= len(code); off += 4 {
		if off == 8 && r.known(2) { // past the global entry's two instructions
			toc = r.reg[2]
		}
		if toc != 0 {
			r.reg[2] = toc
		}
		at := pc + uint64(off)
		w := binary.LittleEndian.Uint32(code[off:])
		op, rt, ra, rb := w>>26, int(w>>21&31), int(w>>16&31), int(w>>11&31)
		d := uint64(int64(int16(w)))
		switch {
		case op == 15 && ra == 0: // ADDIS rt, 0, imm (LIS)
			r.set(rt, d<<16)
			continue
		case op == 15 && r.known(ra): // ADDIS rt, ra, imm
			r.set(rt, r.reg[ra]+d<<16)
			continue
		case op == 14 && r.known(ra): // ADDI
			r.set(rt, r.add(at, r.reg[ra]+d, refAddr))
			continue
		case ppc64DForm[op] != 0, op == 58, op == 62: // D-form; DS-form LD, LDU, LWA, STD, STDU
			kind, disp, update := ppc64DForm[op], d, op&1 == 1
			if op == 58 || op == 62 {
				kind, disp, update = refLoad, d&^3, w&3 == 1
				if op == 62 {
					kind = refStore
				}
			}
			if r.known(ra) {
				r.add(at, r.reg[ra]+disp, kind)
			}
			if kind == refLoad {
				r.set(rt, 0)
			}
			if update {
				r.set(ra, 0)
			}
			continue
		case op == 31 && ra == 0 && r.known(rb) && ppc64XForm[w>>1&0x3ff] != 0: // X-form with RA 0
			r.add(at, r.reg[rb], ppc64XForm[w>>1&0x3ff])
		case op == 10 || op == 11 && int64(d) >= 0: // CMPLI, CMPI (no destination register)
			imm := uint64(uint16(w))
			if op == 11 {
				imm = d
			}
			r.add(at, imm, refBound)
			continue
		case op == 16 || op == 18 || op == 19: // BC, B, BCLR/BCCTR
			r.forgetAll()
			continue
		}
		// The destination is RT for most opcodes, RA for the logical
		// ones (ORI..ANDIS., and opcode 31's OR/AND/...): forget both.
		r.set(rt, 0)
		r.set(ra, 0)
	}
	return r.refs
}

// ppc64DForm gives the D-form loads and stores: LWZ(U) 32-33, LBZ(U) 34-35,
// STW(U) 36-37, STB(U) 38-39, LHZ(U) 40-41, LHA(U) 42-43, STH(U) 44-45,
// LFS(U) 48-49, LFD(U) 50-51, STFS(U) 52-53, STFD(U) 54-55.
var ppc64DForm = [64]refKind{
	32: refLoad, 33: refLoad, 34: refLoad, 35: refLoad, 36: refStore, 37: refStore, 38: refStore, 39: refStore,
	40: refLoad, 41: refLoad, 42: refLoad, 43: refLoad, 44: refStore, 45: refStore,
	48: refLoad, 49: refLoad, 50: refLoad, 51: refLoad, 52: refStore, 53: refStore, 54: refStore, 55: refStore,
}

// ppc64XForm gives opcode 31's indexed accesses by extended opcode: LWARX
// 20, LDX 21, LWZX 23, LDARX 84, LBARX 52, STWCX. 150, STDX 149, STWX 151,
// STDCX. 214, LBZX 87, STBX 215.
var ppc64XForm = [1024]refKind{
	20: refLoad, 21: refLoad, 23: refLoad, 52: refLoad, 84: refLoad, 87: refLoad,
	149: refStore, 150: refStore, 151: refStore, 214: refStore, 215: refStore,
}
