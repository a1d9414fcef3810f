package cfi

import (
	"fmt"
	"io"

	"github.com/taijidbg/taiji/arch"
)

// Bounds on expression evaluation: CFI expressions are a few operations
// long; these only stop corrupt or hostile input.
const (
	maxEvalOps   = 10000
	maxEvalStack = 64
)

// secExpr names the "section" in FormatErrors from Eval; Offset is the
// operation's offset within the expression.
const secExpr = "DWARF expression"

// DW_OP_* opcodes used by Eval.
const (
	opAddr       = 0x03
	opDeref      = 0x06
	opConst1u    = 0x08
	opConst1s    = 0x09
	opConst2u    = 0x0a
	opConst2s    = 0x0b
	opConst4u    = 0x0c
	opConst4s    = 0x0d
	opConst8u    = 0x0e
	opConst8s    = 0x0f
	opConstu     = 0x10
	opConsts     = 0x11
	opDup        = 0x12
	opDrop       = 0x13
	opOver       = 0x14
	opPick       = 0x15
	opSwap       = 0x16
	opRot        = 0x17
	opAbs        = 0x19
	opAnd        = 0x1a
	opDiv        = 0x1b
	opMinus      = 0x1c
	opMod        = 0x1d
	opMul        = 0x1e
	opNeg        = 0x1f
	opNot        = 0x20
	opOr         = 0x21
	opPlus       = 0x22
	opPlusUconst = 0x23
	opShl        = 0x24
	opShr        = 0x25
	opShra       = 0x26
	opXor        = 0x27
	opBra        = 0x28
	opEq         = 0x29
	opGe         = 0x2a
	opGt         = 0x2b
	opLe         = 0x2c
	opLt         = 0x2d
	opNe         = 0x2e
	opSkip       = 0x2f
	opLit0       = 0x30
	opLit31      = 0x4f
	opReg0       = 0x50
	opReg31      = 0x6f
	opBreg0      = 0x70
	opBreg31     = 0x8f
	opRegx       = 0x90
	opBregx      = 0x92
	opDerefSize  = 0x94
	opNop        = 0x96
)

// Eval evaluates the DWARF expression expr with initial values pushed on
// the stack first (CFI pushes the CFA for DW_CFA_expression and
// DW_CFA_val_expression) and returns the value on top of the stack.
//
// It implements the operations CFI allows: literals and constants,
// DW_OP_addr, register values (breg*, bregx, and, as libgcc does, reg* and
// regx as the register's value), stack manipulation, arithmetic and logic,
// comparisons, branches, deref and deref_size. Operations that need
// context CFI lacks (calls, frame base, TLS, object address, pieces) are
// errors. Evaluation stops after 10000 operations or at a stack depth of 64.
func Eval(expr []byte, regs *arch.Regs, mem io.ReaderAt, a *arch.Arch, initial ...uint64) (uint64, error) {
	var stack [maxEvalStack]uint64
	sp := 0
	if len(initial) > maxEvalStack {
		return 0, &FormatError{Section: secExpr, Offset: 0, Msg: "too many initial values"}
	}
	sp += copy(stack[:], initial)

	b := newBuf(secExpr, expr, 0, len(expr), a.ByteOrder)
	fail := func(off int, format string, args ...any) (uint64, error) {
		return 0, &FormatError{Section: secExpr, Offset: int64(off), Msg: fmt.Sprintf(format, args...)}
	}
	push := func(v uint64) bool {
		if sp >= maxEvalStack {
			return false
		}
		stack[sp] = v
		sp++
		return true
	}
	reg := func(n int) (uint64, bool) { return regValue(regs, a, n) }
	for ops := 0; b.off < len(expr); ops++ {
		if ops >= maxEvalOps {
			return fail(b.off, "more than %d operations", maxEvalOps)
		}
		off := b.off
		op := b.u8()
		// Operations with no operand that pop some and push one.
		need := 0
		switch {
		case op == opDup, op == opDrop, op == opAbs, op == opNeg, op == opNot,
			op == opDeref, op == opDerefSize, op == opPlusUconst, op == opBra:
			need = 1
		case op == opOver, op == opSwap, op == opAnd, op == opDiv, op == opMinus,
			op == opMod, op == opMul, op == opOr, op == opPlus, op == opShl,
			op == opShr, op == opShra, op == opXor, op >= opEq && op <= opNe:
			need = 2
		case op == opRot:
			need = 3
		}
		if sp < need {
			return fail(off, "stack underflow at op %#x", op)
		}
		var v uint64
		pushes := true
		switch {
		case op >= opLit0 && op <= opLit31:
			v = uint64(op - opLit0)
		case op >= opReg0 && op <= opReg31:
			r, ok := reg(int(op - opReg0))
			if !ok {
				return fail(off, "register %s unknown", a.RegName(int(op-opReg0)))
			}
			v = r
		case op >= opBreg0 && op <= opBreg31:
			o := b.sleb()
			r, ok := reg(int(op - opBreg0))
			if !ok && b.err == nil {
				return fail(off, "register %s unknown", a.RegName(int(op-opBreg0)))
			}
			v = r + uint64(o)
		default:
			switch op {
			case opAddr:
				v = b.uint(a.PtrSize)
			case opConst1u:
				v = uint64(b.u8())
			case opConst1s:
				v = uint64(int64(int8(b.u8())))
			case opConst2u:
				v = uint64(b.u16())
			case opConst2s:
				v = uint64(int64(int16(b.u16())))
			case opConst4u:
				v = uint64(b.u32())
			case opConst4s:
				v = uint64(int64(int32(b.u32())))
			case opConst8u, opConst8s:
				v = b.u64()
			case opConstu:
				v = b.uleb()
			case opConsts:
				v = uint64(b.sleb())
			case opRegx, opBregx:
				n := clampReg(b.uleb())
				var o int64
				if op == opBregx {
					o = b.sleb()
				}
				if b.err != nil {
					break
				}
				r, ok := reg(n)
				if !ok {
					return fail(off, "register %s unknown", a.RegName(n))
				}
				v = r + uint64(o)
			case opDup:
				v = stack[sp-1]
			case opDrop:
				sp--
				pushes = false
			case opOver:
				v = stack[sp-2]
			case opPick:
				i := int(b.u8())
				if b.err != nil {
					break
				}
				if i >= sp {
					return fail(off, "DW_OP_pick %d with %d values on the stack", i, sp)
				}
				v = stack[sp-1-i]
			case opSwap:
				stack[sp-1], stack[sp-2] = stack[sp-2], stack[sp-1]
				pushes = false
			case opRot:
				// The top entry moves to third place, the second and third up.
				stack[sp-1], stack[sp-2], stack[sp-3] = stack[sp-2], stack[sp-3], stack[sp-1]
				pushes = false
			case opDeref, opDerefSize:
				size := a.PtrSize
				if op == opDerefSize {
					size = int(b.u8())
					if b.err == nil && (size < 1 || size > 8) {
						return fail(off, "DW_OP_deref_size %d", size)
					}
				}
				if b.err != nil {
					break
				}
				addr := stack[sp-1]
				sp--
				m, err := readSized(mem, a, addr, size)
				if err != nil {
					return 0, err
				}
				v = m
			case opAbs:
				sp--
				if x := int64(stack[sp]); x < 0 {
					v = uint64(-x)
				} else {
					v = uint64(x)
				}
			case opNeg:
				sp--
				v = -stack[sp]
			case opNot:
				sp--
				v = ^stack[sp]
			case opPlusUconst:
				u := b.uleb()
				sp--
				v = stack[sp] + u
			case opAnd, opDiv, opMinus, opMod, opMul, opOr, opPlus, opShl, opShr,
				opShra, opXor, opEq, opGe, opGt, opLe, opLt, opNe:
				// second is below top; the result replaces both.
				top, second := stack[sp-1], stack[sp-2]
				sp -= 2
				switch op {
				case opAnd:
					v = second & top
				case opDiv:
					if top == 0 {
						return fail(off, "division by zero")
					}
					v = uint64(int64(second) / int64(top)) // signed, as DWARF says
				case opMinus:
					v = second - top
				case opMod:
					if top == 0 {
						return fail(off, "modulo by zero")
					}
					v = second % top
				case opMul:
					v = second * top
				case opOr:
					v = second | top
				case opPlus:
					v = second + top
				case opShl:
					v = second << top
				case opShr:
					v = second >> top
				case opShra:
					v = uint64(int64(second) >> top)
				case opXor:
					v = second ^ top
				case opEq:
					v = b2u(second == top)
				case opGe:
					v = b2u(int64(second) >= int64(top))
				case opGt:
					v = b2u(int64(second) > int64(top))
				case opLe:
					v = b2u(int64(second) <= int64(top))
				case opLt:
					v = b2u(int64(second) < int64(top))
				case opNe:
					v = b2u(second != top)
				}
			case opSkip, opBra:
				d := int64(int16(b.u16()))
				pushes = false
				if b.err != nil {
					break
				}
				if op == opBra {
					sp--
					if stack[sp] == 0 {
						break
					}
				}
				target := int64(b.off) + d
				if target < 0 {
					return fail(off, "branch to %d outside expression", target)
				}
				// A branch past the end ends the expression, as in
				// libgcc and gdb: Linux's ppc64 vDSO signal trampoline
				// leaves its vector-register rules with "bra 0x7fff".
				b.off = int(min(target, int64(len(expr))))
			case opNop:
				pushes = false
			default:
				return fail(off, "unsupported operation %#x in CFI expression", op)
			}
		}
		if b.err != nil {
			return 0, b.err
		}
		if pushes && !push(v) {
			return fail(off, "stack overflow (more than %d values)", maxEvalStack)
		}
	}
	if b.err != nil {
		return 0, b.err
	}
	if sp == 0 {
		return 0, &FormatError{Section: secExpr, Offset: int64(len(expr)), Msg: "expression left the stack empty"}
	}
	return stack[sp-1], nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// regValue returns DWARF register n of regs, the PC included where the arch
// numbers it (arch.Arch.PC): regs keeps the PC apart from the numbered
// registers.
func regValue(regs *arch.Regs, a *arch.Arch, n int) (uint64, bool) {
	if regs == nil {
		return 0, false
	}
	if v, ok := regs.Get(n); ok {
		return v, true
	}
	if n == a.PC && a.PC != 0 {
		return regs.PC, true
	}
	return 0, false
}
