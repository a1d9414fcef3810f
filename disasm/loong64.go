package disasm

import "github.com/taijidbg/taiji/arch"

// loong64StackCheckEnd finds the end of a Go function's stack check on
// loong64 (cmd/internal/obj/loong64/obj.go, stacksplit): MOVV
// g.stackguard(g), Rx (ld.d rx, s8(r22), 16|24); SGTU ..., Rx; then a
// branch on Rx. Up to go1.25 it is BNE Rx, done (bne rx, zero in go1.19,
// bnez later) over the morestack call, and the body is its target; since
// go1.26 it is BEQ Rx (beqz) to the morestack call at the function's end,
// and the body follows the branch. Encodings: LoongArch Reference Manual
// vol. 1, 2.2 (ld.d: 0x0a3 in bits 31-22, si12, rj, rd; beqz/bnez:
// 0x10/0x11 in bits 31-26, offs21; beq/bne: 0x16/0x17, offs16).
func loong64StackCheckEnd(a *arch.Arch, code []byte, entry uint64) (uint64, bool) {
	x := -1 // the register the stackguard was loaded into
	for i := 0; i+4 <= len(code) && i < 4*(prologueWindow+2); i += 4 {
		w := a.ByteOrder.Uint32(code[i:])
		rj, rd := int(w>>5&31), int(w&31)
		pc := entry + uint64(i)
		switch op := w >> 26; {
		case w>>22 == 0x0a3 && rj == a.GoG && isStackguard(int64(int32(w<<10)>>20)):
			x = rd
		case x < 0:
		case (op == 0x10 || op == 0x11) && rj == x: // beqz, bnez
			return loong64CheckBranch(op == 0x11, pc, int64(int32((w>>10&0xffff|(w&31)<<16)<<11)>>11)<<2)
		case (op == 0x16 || op == 0x17) && (rj == x && rd == 0 || rj == 0 && rd == x): // beq, bne with zero
			return loong64CheckBranch(op == 0x17, pc, int64(int16(w>>10))<<2)
		}
	}
	return 0, false
}

// loong64CheckBranch returns the body after the stack check's branch at
// pc: its target when it branches on enough stack (bne), else the next
// instruction (beq branches to morestack).
func loong64CheckBranch(onEnough bool, pc uint64, off int64) (uint64, bool) {
	if off <= 4 {
		return 0, false
	}
	if onEnough {
		return pc + uint64(off), true
	}
	return pc + 4, true
}
