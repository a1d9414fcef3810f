package disasm

import "fmt"

// x86 instructions with a VEX (AVX, AVX2, BMI, FMA), EVEX (AVX-512) or
// XOP (AMD) prefix. golang.org/x/arch's x86asm decodes only some of them
// and misreads the length of others (VZEROUPPER among them), which walks
// the rest of the function out of step: RETs are missed and probes could
// land mid-instruction. None of these instructions transfers control, so
// for taiji their length is all that matters; it follows from the prefix,
// the opcode map and the ModRM byte alone (Intel SDM vol. 2, 2.3 "Intel
// AVX and VEX", 2.7 "Intel AVX-512 Encoding"; AMD APM vol. 3, 1.9 "XOP"):
//
//	[67/segment] prefix  opcode  ModRM  [SIB]  [disp8/32]  [imm]
//
// Legacy prefixes 66, F2, F3, F0 and REX before the prefix are #UD.

// vexLen returns the length of the VEX, EVEX or XOP instruction at the
// start of code, and its prefix ("VEX", "EVEX", "XOP"); ok is false if
// code does not start with one. err is set when it does but the bytes are
// not a valid or known encoding.
func vexLen(code []byte) (n int, prefix string, ok bool, err error) {
	pos := 0
	for pos < len(code) && isVEXLegalPrefix(code[pos]) {
		pos++
	}
	if pos >= len(code) || pos > 4 {
		return 0, "", false, nil
	}
	var (
		opMap int // opcode map: 1 = 0F, 2 = 0F38, 3 = 0F3A, 5, 6; XOP 8, 9, 10
		plen  int // prefix bytes
		modRM = true
		imm   int
	)
	need := func(k int) bool { return pos+k <= len(code) }
	switch code[pos] {
	case 0xc5: // two-byte VEX: C5 [R vvvv L pp], map 0F
		// In 64-bit mode C5 is always VEX (LDS is invalid there).
		prefix, plen, opMap = "VEX", 2, 1
	case 0xc4: // three-byte VEX: C4 [R X B mmmmm] [W vvvv L pp]
		if !need(2) {
			return 0, "VEX", true, fmt.Errorf("truncated VEX prefix")
		}
		prefix, plen, opMap = "VEX", 3, int(code[pos+1]&0x1f)
	case 0x62: // EVEX: 62 [R X B R' 0 mmm] [W vvvv 1 pp] [z L'L b V' aaa]
		// In 64-bit mode 62 is always EVEX (BOUND is invalid there).
		if !need(4) {
			return 0, "EVEX", true, fmt.Errorf("truncated EVEX prefix")
		}
		prefix, plen, opMap = "EVEX", 4, int(code[pos+1]&0x07)
		if code[pos+2]&0x04 == 0 {
			return 0, prefix, true, fmt.Errorf("EVEX prefix with P1 bit 2 clear")
		}
	case 0x8f: // XOP: 8F [R X B mmmmm] [W vvvv L pp], mmmmm >= 8; else POP r/m
		if !need(2) || code[pos+1]&0x1f < 8 {
			return 0, "", false, nil
		}
		prefix, plen, opMap = "XOP", 3, int(code[pos+1]&0x1f)
	default:
		return 0, "", false, nil
	}
	pos += plen
	if pos >= len(code) {
		return 0, prefix, true, fmt.Errorf("truncated %s instruction", prefix)
	}
	op := code[pos]
	pos++
	switch {
	case prefix == "XOP" && opMap == 8:
		imm = 1
	case prefix == "XOP" && opMap == 9:
	case prefix == "XOP" && opMap == 10:
		imm = 4 // BEXTR, LWPINS, LWPVAL: imm32
	case prefix == "XOP":
		return 0, prefix, true, fmt.Errorf("XOP opcode map %d is not known", opMap)
	case opMap == 1:
		switch {
		case op == 0x77 && prefix == "VEX": // VZEROUPPER, VZEROALL
			modRM = false
		case op >= 0x70 && op <= 0x73, op == 0xc2, op == 0xc4, op == 0xc5, op == 0xc6:
			imm = 1 // VPSHUF*, VPS{LL,RL,RA}* $n, VCMPP*, VPINSRW, VPEXTRW, VSHUFP*
		}
	case opMap == 2:
	case opMap == 3:
		imm = 1 // every 0F3A instruction has an imm8 (or /is4 register byte)
	case prefix == "EVEX" && (opMap == 5 || opMap == 6): // AVX512-FP16 maps
	// VEX maps 4-7 and EVEX maps 4 and 7 (APX, MSR instructions) hold
	// instructions with other immediates: refused, not guessed.
	default:
		return 0, prefix, true, fmt.Errorf("%s opcode map %d is not known", prefix, opMap)
	}
	if modRM {
		m, err := modRMLen(code[pos:])
		if err != nil {
			return 0, prefix, true, err
		}
		pos += m
	}
	pos += imm
	if pos > len(code) {
		return 0, prefix, true, fmt.Errorf("truncated %s instruction", prefix)
	}
	return pos, prefix, true, nil
}

// isVEXLegalPrefix reports whether b is a legacy prefix that may come
// before a VEX/EVEX/XOP prefix: address size and segment overrides.
func isVEXLegalPrefix(b byte) bool {
	switch b {
	case 0x67, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65:
		return true
	}
	return false
}

// modRMLen returns the length of the ModRM byte at the start of code with
// the SIB byte and displacement it calls for, in 64-bit mode (also with a
// 67 prefix: 32-bit addressing uses the same forms). EVEX's compressed
// disp8*N is still one byte.
func modRMLen(code []byte) (int, error) {
	if len(code) == 0 {
		return 0, fmt.Errorf("truncated instruction: no ModRM byte")
	}
	m := code[0]
	mod, rm := m>>6, m&7
	n := 1
	if mod == 3 {
		return n, nil
	}
	base := rm
	if rm == 4 {
		if len(code) < 2 {
			return 0, fmt.Errorf("truncated instruction: no SIB byte")
		}
		base = code[1] & 7
		n++
	}
	switch {
	case mod == 1:
		n++
	case mod == 2:
		n += 4
	case rm == 5: // mod 0: RIP-relative disp32
		n += 4
	case rm == 4 && base == 5: // mod 0, SIB without base: disp32
		n += 4
	}
	return n, nil
}

// legacyMapLen returns the length of a legacy-encoded (no VEX) instruction
// in the three-byte opcode maps 0F38 and 0F3A that x86asm does not know,
// such as ADCX and ADOX (Go's math/big and bigmod use them): every opcode
// there has a ModRM byte, and the 0F3A ones an imm8 (Intel SDM vol. 2,
// appendix A.3, tables ). ok is false for other instructions.
func legacyMapLen(code []byte) (n int, ok bool, err error) {
	pos := 0
	for pos < len(code) && pos < 14 && isLegacyPrefix(code[pos]) {
		pos++
	}
	if pos < len(code) && code[pos]&0xf0 == 0x40 { // REX
		pos++
	}
	if pos+2 > len(code) || code[pos] != 0x0f || (code[pos+1] != 0x38 && code[pos+1] != 0x3a) {
		return 0, false, nil
	}
	imm := 0
	if code[pos+1] == 0x3a {
		imm = 1
	}
	pos += 3 // 0F, 38 or 3A, the opcode
	if pos > len(code) {
		return 0, true, fmt.Errorf("truncated instruction")
	}
	m, err := modRMLen(code[pos:])
	if err != nil {
		return 0, true, err
	}
	pos += m + imm
	if pos > len(code) {
		return 0, true, fmt.Errorf("truncated instruction")
	}
	return pos, true, nil
}

// isLegacyPrefix reports whether b is a legacy prefix: lock, repeat,
// operand and address size, segment override.
func isLegacyPrefix(b byte) bool {
	switch b {
	case 0xf0, 0xf2, 0xf3, 0x66:
		return true
	}
	return isVEXLegalPrefix(b)
}

// mayWriteSPFP reports whether raw, one instruction vexLen or legacyMapLen
// measured, may name the stack or frame pointer as an operand it writes:
// its ModRM reg field or register r/m field, or its VEX/EVEX/XOP vvvv, is
// register 4 or 5 (REX/VEX R and B applied). xmm4 and xmm5 are not told
// from rsp and rbp: a frame analysis that refuses such an instruction is
// never wrong, one that follows a BMI SHLX/RORX/MULX or an ADCX into rbp
// unseen would be.
func mayWriteSPFP(raw []byte) bool {
	pos := 0
	for pos < len(raw) && isLegacyPrefix(raw[pos]) {
		pos++
	}
	var r, b byte                                // ModRM reg and r/m extensions, 0 or 8
	if pos < len(raw) && raw[pos]&0xf0 == 0x40 { // REX: 0100WRXB
		r, b = raw[pos]&4<<1, raw[pos]&1<<3
		pos++
	}
	if pos+1 >= len(raw) {
		return true
	}
	vvvv := byte(0) // none: never 4 or 5
	switch p1 := raw[pos+1]; raw[pos] {
	case 0xc5: // R vvvv L pp, R and vvvv inverted
		r, vvvv = ^p1>>7<<3, ^p1>>3&0xf
		pos += 2
	case 0xc4, 0x8f, 0x62: // R X B ..., then W vvvv ..., inverted
		if pos+2 >= len(raw) {
			return true
		}
		r, b, vvvv = ^p1>>7<<3, (^p1>>5&1)<<3, ^raw[pos+2]>>3&0xf
		pos += 3
		if raw[pos-3] == 0x62 {
			pos++
		}
	case 0x0f:
		pos += 2 // 0F 38 or 0F 3A
	}
	pos++ // the opcode
	if vvvv == 4 || vvvv == 5 {
		return true
	}
	if pos >= len(raw) {
		return false // no ModRM: VZEROUPPER, VZEROALL
	}
	m := raw[pos]
	reg, rm := m>>3&7|r, m&7|b
	return reg == 4 || reg == 5 || m>>6 == 3 && (rm == 4 || rm == 5)
}
