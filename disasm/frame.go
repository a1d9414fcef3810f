package disasm

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"github.com/taijidbg/taiji/arch"
)

// A Frame says where a function's caller's registers are at one PC, found by
// reading the function's instructions from its entry: what an unwinder has
// for code without CFI (hand-written assembly, code built with
// -fno-asynchronous-unwind-tables). It follows the stack pointer through
// pushes, pops and constant adjustments, and the frame pointer through
// `push %rbp; mov %rsp,%rbp`, as lldb's x86 assembly inspection does.
type Frame struct {
	// The canonical frame address (the caller's SP after the return) is
	// the value of DWARF register Base (the arch's SP or FP) plus Offset.
	Base   int
	Offset int64
	// RA is where the return address is, as an offset from the CFA.
	RA int64
	// Saved maps the DWARF number of each register the function saved on
	// the stack (and has not restored) to its slot, an offset from the CFA.
	Saved map[int]int64
	// Clobbered lists registers the function changed without saving
	// them: the caller's values are lost.
	Clobbered []int
}

// FrameAt analyses the function whose code, starting at its entry, is code
// (at address entry), for the instructions before pc. It returns an error
// when an instruction moves the stack pointer in a way it does not follow
// (`and $-16,%rsp` without a frame pointer, a computed value), when code
// does not decode, or for an arch without an analysis here. Straight-line
// reading is right for compiled code, whose stack height is the same on
// every path into an instruction; after a return or jump the state before
// the epilogue is taken up again.
func FrameAt(a *arch.Arch, code []byte, entry, pc uint64) (f Frame, err error) {
	if a.Name != "amd64" {
		return Frame{}, fmt.Errorf("%w: frame analysis for %s", ErrUnsupported, a.Name)
	}
	if pc < entry || pc-entry > uint64(len(code)) {
		return Frame{}, fmt.Errorf("disasm: pc %#x is outside the %d bytes of code at %#x", pc, len(code), entry)
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = Frame{}, &FormatError{Addr: entry, Msg: fmt.Sprint("decoder panic: ", r)}
		}
	}()
	return x86FrameAt(code[:pc-entry], entry, a)
}

// x86State is the stack as seen at one instruction: h = CFA - SP when
// spKnown, fp = CFA - RBP when fpSet, save slots as offsets from the CFA.
type x86State struct {
	spKnown, fpSet bool
	h, fp          int64
	saved          map[int]int64
	clobbered      map[int]bool
}

func (s x86State) clone() x86State {
	c := s
	c.saved = make(map[int]int64, len(s.saved))
	for k, v := range s.saved {
		c.saved[k] = v
	}
	c.clobbered = make(map[int]bool, len(s.clobbered))
	for k, v := range s.clobbered {
		c.clobbered[k] = v
	}
	return c
}

// x86DWARF maps the 64-bit general registers to their DWARF numbers.
var x86DWARF = map[x86asm.Reg]int{
	x86asm.RAX: 0, x86asm.RDX: 1, x86asm.RCX: 2, x86asm.RBX: 3, x86asm.RSI: 4, x86asm.RDI: 5,
	x86asm.RBP: 6, x86asm.RSP: 7, x86asm.R8: 8, x86asm.R9: 9, x86asm.R10: 10, x86asm.R11: 11,
	x86asm.R12: 12, x86asm.R13: 13, x86asm.R14: 14, x86asm.R15: 15,
}

func isRSP(a x86asm.Arg) bool {
	r, ok := a.(x86asm.Reg)
	return ok && (r == x86asm.RSP || r == x86asm.ESP || r == x86asm.SP || r == x86asm.SPB)
}

func isRBP(a x86asm.Arg) bool {
	r, ok := a.(x86asm.Reg)
	return ok && (r == x86asm.RBP || r == x86asm.EBP || r == x86asm.BP || r == x86asm.BPB)
}

func x86FrameAt(code []byte, addr uint64, a *arch.Arch) (Frame, error) {
	const rbp = 6
	s := x86State{spKnown: true, h: 8, saved: map[int]int64{}, clobbered: map[int]bool{}}
	body := s.clone() // the state before the current epilogue, if any
	for off := 0; off < len(code); {
		at := addr + uint64(off)
		// VEX, EVEX, XOP and 0F38/0F3A instructions: the length is
		// decodeX86's; x86asm's operands only when it agrees on it.
		own, err := decodeX86(code[off:], at)
		if err != nil {
			return Frame{}, err
		}
		in, err := x86asm.Decode(code[off:], 64)
		if own.Len != in.Len || err != nil {
			if mayWriteSPFP(own.Raw) {
				return Frame{}, fmt.Errorf("disasm: %s at %#x may write the stack or frame pointer, which is not followed", own.Text, at)
			}
			off += own.Len
			body = s.clone()
			continue
		}
		if in.Len <= 0 {
			return Frame{}, &FormatError{Addr: addr + uint64(off), Msg: "bad instruction length"}
		}
		off += in.Len
		// epilogue: the instruction undoes the prologue; handled: its
		// effect on the stack and frame pointers is accounted for.
		epilogue, handled := false, true
		switch in.Op {
		case x86asm.PUSH:
			if s.spKnown {
				s.h += 8
				if r, ok := in.Args[0].(x86asm.Reg); ok {
					if n, ok := x86DWARF[r]; ok {
						if _, done := s.saved[n]; !done && !s.clobbered[n] {
							s.saved[n] = -s.h
						}
					}
				}
			}
		case x86asm.POP:
			epilogue = true
			if s.spKnown {
				s.h -= 8
			}
			if isRBP(in.Args[0]) {
				s.fpSet = false
			}
			if r, ok := in.Args[0].(x86asm.Reg); ok {
				delete(s.saved, x86DWARF[r])
			}
		case x86asm.LEAVE:
			epilogue = true
			if !s.fpSet {
				return Frame{}, fmt.Errorf("disasm: leave at %#x without a frame pointer set up", at)
			}
			s.spKnown, s.h, s.fpSet = true, s.fp-8, false
			delete(s.saved, rbp)
		case x86asm.RET, x86asm.JMP:
			// The code after it is reached by a branch from the body.
			s = body.clone()
			continue
		case x86asm.SUB, x86asm.ADD:
			if !isRSP(in.Args[0]) {
				handled = false
				break
			}
			v, ok := in.Args[1].(x86asm.Imm)
			switch {
			case !ok:
				s.spKnown = false
			case in.Op == x86asm.ADD:
				s.h -= int64(v)
				epilogue = true
			default:
				s.h += int64(v)
			}
		case x86asm.MOV:
			switch {
			case isRBP(in.Args[0]) && isRSP(in.Args[1]) && s.spKnown:
				s.fpSet, s.fp = true, s.h
			case isRSP(in.Args[0]) && isRBP(in.Args[1]) && s.fpSet:
				s.spKnown, s.h = true, s.fp
				epilogue = true
			default:
				handled = false
			}
		case x86asm.LEA:
			m, ok := in.Args[1].(x86asm.Mem)
			switch {
			case !ok || !isRSP(in.Args[0]) || m.Index != 0:
				handled = false
			case m.Base == x86asm.RSP && s.spKnown:
				s.h -= m.Disp
				epilogue = m.Disp > 0
			case m.Base == x86asm.RBP && s.fpSet:
				s.spKnown, s.h = true, s.fp-m.Disp
				epilogue = true
			default:
				s.spKnown = false
			}
		case x86asm.CMP, x86asm.TEST, x86asm.CALL:
			// Read their operands only; a call returns with SP unchanged.
		default:
			handled = false
		}
		if !handled && len(in.Args) > 0 {
			// Anything else that writes the stack or frame pointer.
			switch {
			case isRSP(in.Args[0]):
				s.spKnown = false
			case isRBP(in.Args[0]):
				s.fpSet = false
				if _, ok := s.saved[rbp]; !ok {
					s.clobbered[rbp] = true
				}
			}
		}
		if !epilogue {
			body = s.clone()
		}
	}
	f := Frame{RA: -8, Saved: s.saved}
	switch {
	case s.fpSet:
		f.Base, f.Offset = a.FP, s.fp
	case s.spKnown:
		f.Base, f.Offset = a.SP, s.h
	default:
		return Frame{}, fmt.Errorf("disasm: the stack pointer is changed in a way not followed before %#x", addr+uint64(len(code)))
	}
	for r := range s.clobbered {
		f.Clobbered = append(f.Clobbered, r)
	}
	return f, nil
}
