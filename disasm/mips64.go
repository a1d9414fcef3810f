package disasm

import "github.com/taijidbg/taiji/arch"

// GoBody is GoStackCheckEnd from the function's code: code holds the bytes
// from entry on (at least the prologue, 128 bytes say). It decodes them
// where a disassembler exists, and matches mips64's stack check on the raw
// words, where none does.
func GoBody(a *arch.Arch, code []byte, entry uint64) (addr uint64, ok bool) {
	if raw := rawStackCheckEnd[a.Name]; raw != nil {
		return raw(a, code, entry)
	}
	insts, _ := Decode(a, code, entry)
	return GoStackCheckEnd(a, insts)
}

// rawStackCheckEnd holds, by arch.Arch name, the stack-check matchers that
// read raw words, for arches with no disassembler here.
var rawStackCheckEnd = map[string]func(a *arch.Arch, code []byte, entry uint64) (uint64, bool){
	"mips64le": mips64StackCheckEnd,
	"loong64":  loong64StackCheckEnd,
}

// MIPS64 encodings (MIPS64 vol. II): the major opcode in bits 31-26, rs in
// 25-21, rt in 20-16, a signed 16-bit immediate (branches: in words from
// the delay slot).
const (
	mipsOpLD  = 0x37
	mipsOpBNE = 0x05
	mipsR1    = 1 // at: Go's REGTMP, which its stack check compares in
)

// mips64StackCheckEnd finds the end of a Go function's stack check on
// mips64 (cmd/internal/obj/mips/obj0.go, stacksplit): MOVV
// g.stackguard(g), R1 (ld at, 16|24(g)); SGTU ..., R1, R1; BNE R1, done,
// then the morestack call, and done: the body, the BNE's target. Huge
// frames add an underflow check before it (SGTU $n, SP, R2; BNE R2, ...),
// which this skips: only a BNE on R1 after the load counts.
func mips64StackCheckEnd(a *arch.Arch, code []byte, entry uint64) (uint64, bool) {
	loaded := false
	for i := 0; i+4 <= len(code) && i < 4*(prologueWindow+6); i += 4 {
		w := a.ByteOrder.Uint32(code[i:])
		op, rs, rt, imm := w>>26, int(w>>21&31), int(w>>16&31), int16(w)
		switch {
		case op == mipsOpLD && rs == a.GoG && rt == mipsR1 && isStackguard(int64(imm)):
			loaded = true
		case loaded && op == mipsOpBNE && rs == mipsR1 && rt == 0 && imm > 0:
			return entry + uint64(i) + 4 + 4*uint64(imm), true
		}
	}
	return 0, false
}
