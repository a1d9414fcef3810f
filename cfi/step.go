package cfi

import (
	"errors"
	"fmt"
	"io"

	"github.com/taijidbg/taiji/arch"
)

// readPtr reads one target pointer at addr.
func readPtr(mem io.ReaderAt, a *arch.Arch, addr uint64) (uint64, error) {
	return readSized(mem, a, addr, a.PtrSize)
}

// readSized reads a size-byte unsigned integer (1..8) at addr.
func readSized(mem io.ReaderAt, a *arch.Arch, addr uint64, size int) (uint64, error) {
	if size < 1 || size > 8 {
		return 0, fmt.Errorf("cfi: cannot read %d-byte value", size)
	}
	if mem == nil {
		return 0, fmt.Errorf("cfi: no memory to read %#x", addr)
	}
	if int64(addr) < 0 {
		return 0, fmt.Errorf("cfi: address %#x out of range", addr)
	}
	// Read into the low-order end of an 8-byte value, so that every size
	// from 1 to 8 decodes with one Uint64 in the target's byte order.
	var b [8]byte
	dst := b[:size]
	if a.ByteOrder.Uint16([]byte{0, 1}) == 1 { // big-endian
		dst = b[8-size:]
	}
	n, err := mem.ReadAt(dst, int64(addr))
	if n < size {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("cfi: reading %d bytes at %#x: %w", size, addr, err)
	}
	return a.ByteOrder.Uint64(b[:]), nil
}

// ComputeCFA computes the canonical frame address of the frame whose registers
// are regs.
func (r *Row) ComputeCFA(regs *arch.Regs, mem io.ReaderAt, a *arch.Arch) (uint64, error) {
	switch r.CFA.Kind {
	case CFARegOffset:
		v, ok := regValue(regs, a, r.CFA.Reg)
		if !ok {
			return 0, fmt.Errorf("cfi: CFA register %s is unknown", a.RegName(r.CFA.Reg))
		}
		return v + uint64(r.CFA.Offset), nil
	case CFAExpression:
		return Eval(r.CFA.Expr, regs, mem, a)
	}
	return 0, fmt.Errorf("cfi: no CFA rule for [%#x, %#x)", r.Start, r.End)
}

// Step computes the caller's registers from the callee's registers regs:
// the caller's SP is the CFA, its PC is the value of the return-address
// column, every register with a rule gets the rule applied and every other
// register keeps its value. Undefined rules, and rules that cannot be
// evaluated for registers other than the return address and the SP, make
// the register unknown in the caller (arch.Regs.Forget). Step returns ErrEndOfStack when the
// return-address column is Undefined: regs is the outermost frame.
//
// mem reads target memory at absolute addresses. Step does not strip
// pointer-authentication codes from return addresses (see Row.RASigned).
func (r *Row) Step(regs *arch.Regs, mem io.ReaderAt, a *arch.Arch) (caller arch.Regs, cfa uint64, err error) {
	if r.RA < 0 || r.RA >= arch.MaxRegs {
		return caller, 0, fmt.Errorf("cfi: return-address column %d not supported", r.RA)
	}
	if r.Rule(r.RA).Kind == Undefined {
		return caller, 0, ErrEndOfStack
	}
	cfa, err = r.ComputeCFA(regs, mem, a)
	if err != nil {
		return caller, 0, err
	}
	caller = *regs
	spRule := false
	for _, rr := range r.Rules {
		if rr.Col == a.SP && rr.Rule.Kind != SameValue {
			spRule = true
		}
		if rr.Rule.Kind == SameValue {
			continue // the copy of regs already holds it
		}
		v, ok, err := r.apply(rr.Rule, regs, cfa, mem, a)
		if err != nil && rr.Col != r.RA && rr.Col != a.SP {
			// A rule for another register that cannot be evaluated
			// makes only that register unknown, as Undefined would:
			// Linux's ppc64 vDSO signal trampoline describes vector
			// registers with expressions that branch backwards into
			// the previous rule's bytes, which an evaluator of one
			// expression cannot follow, and an unwinder never needs
			// those registers.
			ok = false
		} else if err != nil {
			return arch.Regs{}, 0, fmt.Errorf("cfi: recovering %s: %w", a.RegName(rr.Col), err)
		}
		if ok {
			caller.Set(rr.Col, v)
		} else {
			caller.Forget(rr.Col)
		}
	}
	// By definition the CFA is the caller's SP at the call site (plus
	// the arch's CFABias), unless the CFI says otherwise; also where what
	// it says cannot be evaluated (s390x leaf functions keep r15 in a
	// floating-point register, which the registers here lack).
	if _, known := caller.Get(a.SP); !spRule || !known {
		caller.Set(a.SP, cfa-uint64(a.CFABias))
	}
	ra, ok := caller.Get(r.RA)
	if !ok {
		return arch.Regs{}, 0, fmt.Errorf("cfi: return address (%s) is unknown", a.RegName(r.RA))
	}
	caller.PC = ra
	return caller, cfa, nil
}

// apply evaluates one register rule against the callee's registers.
// ok is false when the caller's value is unknown.
func (r *Row) apply(rule Rule, regs *arch.Regs, cfa uint64, mem io.ReaderAt, a *arch.Arch) (v uint64, ok bool, err error) {
	switch rule.Kind {
	case Undefined:
		return 0, false, nil
	case Offset:
		v, err = readPtr(mem, a, cfa+uint64(rule.Offset))
		return v, err == nil, err
	case ValOffset:
		return cfa + uint64(rule.Offset), true, nil
	case Register:
		v, ok = regValue(regs, a, rule.Reg)
		return v, ok, nil
	case Expression:
		addr, err := Eval(rule.Expr, regs, mem, a, cfa)
		if err != nil {
			return 0, false, err
		}
		v, err = readPtr(mem, a, addr)
		return v, err == nil, err
	case ValExpression:
		v, err = Eval(rule.Expr, regs, mem, a, cfa)
		return v, err == nil, err
	}
	return 0, false, fmt.Errorf("invalid rule kind %v", rule.Kind)
}
