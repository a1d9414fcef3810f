package debugger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Evaluator evaluates expressions in a frame: print's and breakpoint
// conditions. Package debugger/eval (DWARF types, variables) implements
// it; without one the debugger uses a built-in evaluator that knows
// registers ($rax, $pc, $sp), integers and builtin loads
// (*(*uint32)(ADDR)), combined with + - == != < <= > >= && || and
// parentheses: enough for conditions on stripped binaries.
type Evaluator interface {
	// Eval returns the value of expr as print shows it.
	Eval(f *Frame, expr string) (string, error)
	// Cond returns whether expr is true (non-zero).
	Cond(f *Frame, expr string) (bool, error)
	// Assign sets lhs (a variable, memory, a register) to the value of
	// rhs; a register only in frame 0 (f.SetReg).
	Assign(f *Frame, lhs, rhs string) error
	// Address evaluates expr to an address (an integer or a pointer).
	Address(f *Frame, expr string) (uint64, error)
	// Locals and Args list the frame's local variables and arguments,
	// one "name = value" each (DWARF).
	Locals(f *Frame) ([]string, error)
	Args(f *Frame) ([]string, error)
	// Examine formats memory at addr as gdb's x/FMT does (FMT: count,
	// format x d u t c s i, unit b h w g).
	Examine(f *Frame, format string, addr uint64) (string, error)
}

// Address evaluates expr to an address: x's operand.
func (d *Debugger) Address(f *Frame, expr string) (uint64, error) {
	return d.evaluator().Address(f, expr)
}

// Examine formats memory at addr (x/FMT).
func (d *Debugger) Examine(f *Frame, format string, addr uint64) (string, error) {
	return d.evaluator().Examine(f, format, addr)
}

func (d *Debugger) evaluator() Evaluator {
	if d.Eval != nil {
		return d.Eval
	}
	return builtinEval{}
}

// builtinEval is the fallback Evaluator.
type builtinEval struct{}

func (builtinEval) Eval(f *Frame, expr string) (string, error) {
	v, err := evalInt(f, expr)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d (%#x)", v, v), nil
}

func (builtinEval) Cond(f *Frame, expr string) (bool, error) {
	v, err := evalInt(f, expr)
	return v != 0, err
}

func (builtinEval) Address(f *Frame, expr string) (uint64, error) { return evalInt(f, expr) }

var errNeedsDWARF = errors.New("variables need the DWARF-aware evaluator (debugger/eval), not built in")

func (builtinEval) Locals(f *Frame) ([]string, error) { return nil, errNeedsDWARF }
func (builtinEval) Args(f *Frame) ([]string, error)   { return nil, errNeedsDWARF }

// Locals lists frame f's local variables ("name = value").
func (d *Debugger) Locals(f *Frame) ([]string, error) { return d.evaluator().Locals(f) }

// Args lists frame f's arguments ("name = value").
func (d *Debugger) Args(f *Frame) ([]string, error) { return d.evaluator().Args(f) }

// Examine is debugger/eval's.
func (builtinEval) Examine(f *Frame, format string, addr uint64) (string, error) {
	return "", errors.New("x/FMT needs the DWARF-aware evaluator (debugger/eval), not built in; print *(*uint32)(ADDR) reads a word")
}

// Assign stores rhs into $reg or *(*uintN)(ADDR).
func (builtinEval) Assign(f *Frame, lhs, rhs string) error {
	v, err := evalInt(f, rhs)
	if err != nil {
		return err
	}
	p := &parser{f: f, s: lhs}
	switch {
	case p.eat("$"):
		name := strings.TrimSpace(p.s[p.i:])
		n, err := RegNumber(f.Arch, name)
		if err != nil {
			return err
		}
		if f.SetReg == nil {
			return fmt.Errorf("$%s can be set in frame 0 only (frame 0 is the thread's registers)", name)
		}
		return f.SetReg(n, v)
	case p.eat("*"):
		addr, size, err := p.loadTarget()
		if err != nil {
			return err
		}
		if p.space(); p.i < len(p.s) {
			return fmt.Errorf("%q: unexpected %q", lhs, p.s[p.i:])
		}
		b := make([]byte, 8)
		f.Arch.ByteOrder.PutUint64(b, v)
		if f.Arch.ByteOrder.Uint16([]byte{1, 0}) != 1 { // big-endian: the low bytes are last
			b = b[8-size:]
		}
		return f.Mem.WriteMemory(addr, b[:size])
	}
	return fmt.Errorf("cannot assign to %q: without DWARF-aware evaluation only $registers and *(*uintN)(ADDR)", lhs)
}

// evalInt evaluates expr to a 64-bit integer.
func evalInt(f *Frame, expr string) (uint64, error) {
	p := &parser{f: f, s: expr}
	v, err := p.or()
	if err != nil {
		return 0, err
	}
	p.space()
	if p.i < len(p.s) {
		return 0, fmt.Errorf("%q: unexpected %q at column %d", expr, p.s[p.i:], p.i+1)
	}
	return v, nil
}

type parser struct {
	f *Frame
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// eat consumes tok if it comes next.
func (p *parser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (p *parser) or() (uint64, error) {
	v, err := p.and()
	for err == nil && p.eat("||") {
		var w uint64
		w, err = p.and()
		v = b2u(v != 0 || w != 0)
	}
	return v, err
}

func (p *parser) and() (uint64, error) {
	v, err := p.cmp()
	for err == nil && p.eat("&&") {
		var w uint64
		w, err = p.cmp()
		v = b2u(v != 0 && w != 0)
	}
	return v, err
}

func (p *parser) cmp() (uint64, error) {
	v, err := p.sum()
	if err != nil {
		return 0, err
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if !p.eat(op) {
			continue
		}
		w, err := p.sum()
		if err != nil {
			return 0, err
		}
		switch op {
		case "==":
			return b2u(v == w), nil
		case "!=":
			return b2u(v != w), nil
		case "<=":
			return b2u(int64(v) <= int64(w)), nil
		case ">=":
			return b2u(int64(v) >= int64(w)), nil
		case "<":
			return b2u(int64(v) < int64(w)), nil
		default:
			return b2u(int64(v) > int64(w)), nil
		}
	}
	return v, nil
}

func (p *parser) sum() (uint64, error) {
	v, err := p.unary()
	for err == nil {
		var w uint64
		switch {
		case p.eat("+"):
			w, err = p.unary()
			v += w
		case p.eat("-"):
			w, err = p.unary()
			v -= w
		default:
			return v, nil
		}
	}
	return v, err
}

// unary reads -X, a builtin load *(*uintN)(X), (X), $reg or a number.
func (p *parser) unary() (uint64, error) {
	switch {
	case p.eat("-"):
		v, err := p.unary()
		return -v, err
	case p.eat("*"):
		return p.load()
	case p.eat("("):
		v, err := p.or()
		if err == nil && !p.eat(")") {
			err = fmt.Errorf("%q: missing )", p.s)
		}
		return v, err
	case p.eat("$"):
		start := p.i
		for p.i < len(p.s) && isIdent(p.s[p.i]) {
			p.i++
		}
		return p.reg(p.s[start:p.i])
	}
	p.space()
	start := p.i
	for p.i < len(p.s) && isIdent(p.s[p.i]) {
		p.i++
	}
	tok := p.s[start:p.i]
	if tok == "" {
		return 0, fmt.Errorf("%q: expected a value at column %d", p.s, start+1)
	}
	v, err := strconv.ParseUint(tok, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %q is not a number or register; without DWARF-aware evaluation only $registers, numbers and *(*uintN)(ADDR) are known", p.s, tok)
	}
	return v, nil
}

func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// load reads (*uintN)(ADDR) after the leading *.
func (p *parser) load() (uint64, error) {
	addr, size, err := p.loadTarget()
	if err != nil {
		return 0, err
	}
	b := make([]byte, 8)
	if err := p.f.Mem.ReadMemory(addr, b[:size]); err != nil {
		return 0, err
	}
	if p.f.Arch.ByteOrder.Uint16([]byte{1, 0}) != 1 { // big-endian
		copy(b[8-size:], b[:size])
		clear(b[:8-size])
	}
	return p.f.Arch.ByteOrder.Uint64(b), nil
}

// loadTarget reads (*uintN)(ADDR) after a leading *: the address and N/8.
func (p *parser) loadTarget() (addr uint64, size int, err error) {
	if !p.eat("(") || !p.eat("*") {
		return 0, 0, errors.New("a load is written *(*uint8|16|32|64)(ADDR)")
	}
	size = 0
	for _, t := range []struct {
		name string
		n    int
	}{{"uint8", 1}, {"uint16", 2}, {"uint32", 4}, {"uint64", 8}, {"uintptr", 8}, {"byte", 1}} {
		if p.eat(t.name) {
			size = t.n
			break
		}
	}
	if size == 0 || !p.eat(")") || !p.eat("(") {
		return 0, 0, errors.New("a load is written *(*uint8|16|32|64)(ADDR)")
	}
	if addr, err = p.or(); err != nil {
		return 0, 0, err
	}
	if !p.eat(")") {
		return 0, 0, fmt.Errorf("%q: missing )", p.s)
	}
	return addr, size, nil
}

// reg returns the frame's register name ($pc, $sp, $fp or the arch's
// assembler name).
func (p *parser) reg(name string) (uint64, error) {
	a := p.f.Arch
	n, err := RegNumber(a, name)
	if err != nil {
		return 0, err
	}
	if n == -1 {
		return p.f.Regs.PC, nil
	}
	v, ok := p.f.Regs.Get(n)
	if !ok {
		return 0, fmt.Errorf("$%s is not known in frame %d (the unwinder did not recover it)", name, p.f.Index)
	}
	return v, nil
}

// Assign sets lhs to rhs's value in frame f.
func (d *Debugger) Assign(f *Frame, lhs, rhs string) error {
	d.invalidate()
	return d.evaluator().Assign(f, lhs, rhs)
}

// Evaluate returns the value of expr in frame f.
func (d *Debugger) Evaluate(f *Frame, expr string) (string, error) {
	return d.evaluator().Eval(f, expr)
}
