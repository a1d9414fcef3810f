package disasm

import (
	"golang.org/x/arch/x86/x86asm"

	"github.com/taijidbg/taiji/arch"
)

func decodeX86(code []byte, addr uint64) (Inst, error) {
	if n, prefix, ok, err := vexLen(code); ok {
		if err != nil {
			return Inst{}, &FormatError{Addr: addr, Msg: err.Error()}
		}
		return otherInst(code, addr, n, prefix+" instruction"), nil
	}
	if n, ok, err := legacyMapLen(code); ok {
		if err != nil {
			return Inst{}, &FormatError{Addr: addr, Msg: err.Error()}
		}
		return otherInst(code, addr, n, "0F38/0F3A instruction"), nil
	}
	in, err := x86asm.Decode(code, 64)
	if err != nil {
		return Inst{}, &FormatError{Addr: addr, Err: err}
	}
	if in.Len <= 0 || in.Len > len(code) {
		return Inst{}, &FormatError{Addr: addr, Msg: "bad instruction length"}
	}
	out := Inst{Addr: addr, Len: in.Len, Raw: code[:in.Len:in.Len], Text: x86asm.GoSyntax(in, addr, nil)}
	switch in.Op {
	case x86asm.RET:
		out.Kind = Ret
	case x86asm.CALL:
		out.Kind = Call
	case x86asm.JMP:
		out.Kind = Jump
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS:
		out.Kind = CondJump
	}
	if out.Kind != Other && out.Kind != Ret {
		if rel, ok := in.Args[0].(x86asm.Rel); ok {
			out.Target = addr + uint64(in.Len) + uint64(int64(rel))
		}
	}
	return out, nil
}

// otherInst returns the n-byte instruction at the start of code, whose
// length taiji computed itself (vexLen, legacyMapLen) because x86asm gets
// it wrong or fails: an instruction that does not transfer control. Its
// text is x86asm's when x86asm agrees on the length, else fallback.
func otherInst(code []byte, addr uint64, n int, fallback string) Inst {
	text := fallback
	if in, err := x86asm.Decode(code, 64); err == nil && in.Len == n {
		text = x86asm.GoSyntax(in, addr, nil)
	}
	return Inst{Addr: addr, Len: n, Raw: code[:n:n], Text: text}
}

// x86StackCheckEnd recognises the prologues cmd/internal/obj/x86 emits:
//
//	CMPQ SP, 16(R14)                      (small frames)
//	LEAQ -n(SP), R12; CMPQ R12, 16(R14)   (larger frames)
//	MOVQ SP, R12; SUBQ $n, R12; JCS x; CMPQ R12, 16(R14)  (huge frames)
//
// each followed by a forward conditional jump to the morestack call.
func x86StackCheckEnd(insts []Inst, a *arch.Arch) (uint64, bool) {
	g := x86asm.R14 // the g register, DWARF 14 on amd64
	if a.GoG != 14 {
		return 0, false
	}
	for i := 0; i < len(insts) && i < prologueWindow; i++ {
		in, err := x86asm.Decode(insts[i].Raw, 64)
		if err != nil || in.Op != x86asm.CMP {
			continue
		}
		stackguard := false
		for _, arg := range in.Args {
			if m, ok := arg.(x86asm.Mem); ok && m.Base == g && isStackguard(m.Disp) {
				stackguard = true
			}
		}
		if !stackguard || i+2 >= len(insts) {
			continue
		}
		j := insts[i+1]
		if j.Kind == CondJump && j.Target > j.Addr {
			return insts[i+2].Addr, true
		}
	}
	return 0, false
}
