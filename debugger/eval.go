package debugger

import (
	"fmt"
	"strings"

	"github.com/taijidbg/taiji/debugger/eval"
)

// Evaluator evaluates expressions in a frame: print's, set's, x's and
// breakpoint conditions. The debugger's own is package debugger/eval's (Go
// syntax over DWARF variables and types, registers and memory; registers
// and builtin types without DWARF), through dwarfEval.
type Evaluator interface {
	// Eval returns the value of expr as print shows it: in the format
	// verb names (gdb's print/FMT letters: x d u o t c s), 0 for the
	// value's own.
	Eval(f *Frame, expr string, verb byte) (string, error)
	// EvalJSON returns the value of expr for --json, in the format verb
	// names: the value object of docs/debug-expr.md ({name, type, addr,
	// value} for a scalar, {name, type, addr, len, cap, children} for a
	// composite, error where it cannot be read).
	EvalJSON(f *Frame, expr string, verb byte) (any, error)
	// Cond returns whether expr is true (non-zero).
	Cond(f *Frame, expr string) (bool, error)
	// Check reports a syntax error in expr, checked without a frame
	// when a breakpoint's condition is set.
	Check(expr string) error
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

// AddressOf reads an address as break *ADDR and disassemble -a take it:
// a number (0x hex or decimal), else an expression in the selected frame
// ($pc+8, &main.counter, a pointer variable), as gdb accepts.
func (d *Debugger) AddressOf(s string) (uint64, error) {
	if v, err := parseAddr(s); err == nil {
		return v, nil
	}
	f, err := d.CurrentFrame()
	if err != nil {
		return 0, err
	}
	v, err := d.Address(f, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an address (0x hex, decimal, or an expression): %v", strings.TrimSpace(s), err)
	}
	return v, nil
}

// Examine formats memory at addr (x/FMT).
func (d *Debugger) Examine(f *Frame, format string, addr uint64) (string, error) {
	return d.evaluator().Examine(f, format, addr)
}

func (d *Debugger) evaluator() Evaluator {
	if d.Eval != nil {
		return d.Eval
	}
	return dwarfEval{}
}

// dwarfEval is the Evaluator of package eval: Go syntax over DWARF
// variables and types, registers and memory (docs/debug-expr.md).
type dwarfEval struct{}

// scope is the eval.Scope of frame f.
func scope(f *Frame) *eval.Scope {
	pc := f.PC
	if !f.Exact && pc > 0 {
		pc-- // a return address: the call is the instruction before it
	}
	return &eval.Scope{Arch: f.Arch, Regs: f.Regs, CFA: f.CFA, PC: pc, Mem: f.Mem, Module: f.Module,
		Bias: f.Bias, SetReg: f.SetReg, Line: f.Line}
}

func (dwarfEval) Eval(f *Frame, expr string, verb byte) (string, error) {
	v, err := eval.Eval(scope(f), expr)
	if err != nil {
		return "", err
	}
	return v.Format(verb), nil
}

func (dwarfEval) EvalJSON(f *Frame, expr string, verb byte) (any, error) {
	v, err := eval.Eval(scope(f), expr)
	if err != nil {
		return nil, err
	}
	return v.FormatJSON(verb), nil
}

func (dwarfEval) Cond(f *Frame, expr string) (bool, error) {
	v, err := eval.Eval(scope(f), expr)
	if err != nil {
		return false, err
	}
	u, err := v.Uint()
	return u != 0, err
}

func (dwarfEval) Check(expr string) error { return eval.Check(expr) }

func (dwarfEval) Address(f *Frame, expr string) (uint64, error) {
	v, err := eval.Eval(scope(f), expr)
	if err != nil {
		return 0, err
	}
	return v.Uint()
}

func (dwarfEval) Assign(f *Frame, lhs, rhs string) error { return eval.Assign(scope(f), lhs, rhs) }

func (dwarfEval) Locals(f *Frame) ([]string, error) { return lines(eval.Locals(scope(f))) }
func (dwarfEval) Args(f *Frame) ([]string, error)   { return lines(eval.Args(scope(f))) }

// lines renders variables as "name = value".
func lines(vs []*eval.Value, err error) ([]string, error) {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name + " = " + v.String()
	}
	return out, err
}

func (dwarfEval) Examine(f *Frame, format string, addr uint64) (string, error) {
	return eval.Examine(scope(f), format, addr)
}

// Locals lists frame f's local variables ("name = value").
func (d *Debugger) Locals(f *Frame) ([]string, error) { return d.evaluator().Locals(f) }

// Args lists frame f's arguments ("name = value").
func (d *Debugger) Args(f *Frame) ([]string, error) { return d.evaluator().Args(f) }

// Assign sets lhs to rhs's value in frame f.
func (d *Debugger) Assign(f *Frame, lhs, rhs string) error {
	d.invalidate()
	return d.evaluator().Assign(f, lhs, rhs)
}

// Evaluate returns the value of expr in frame f.
// A leading format, delve's %x or gdb's /x (print/x EXPR), picks the
// output format: x d u o t c s.
func (d *Debugger) Evaluate(f *Frame, expr string) (string, error) {
	verb, expr, err := printFormat(expr)
	if err != nil {
		return "", err
	}
	return d.evaluator().Eval(f, expr, verb)
}

// EvaluateJSON is Evaluate for --json: the value object of
// docs/debug-expr.md.
func (d *Debugger) EvaluateJSON(f *Frame, expr string) (any, error) {
	verb, expr, err := printFormat(expr)
	if err != nil {
		return nil, err
	}
	return d.evaluator().EvalJSON(f, expr, verb)
}

// printFormat splits print's leading format letter off expr.
func printFormat(expr string) (verb byte, rest string, err error) {
	if s := strings.TrimSpace(expr); len(s) >= 2 && (s[0] == '%' || s[0] == '/') {
		if !strings.ContainsRune("xduotcs", rune(s[1])) || (len(s) > 2 && s[2] != ' ') {
			return 0, "", fmt.Errorf("%q: unknown print format (print [%%x|%%d|%%u|%%o|%%t|%%c|%%s] EXPR, or print/x EXPR)", s[:min(len(s), 3)])
		}
		return s[1], s[2:], nil
	}
	return 0, expr, nil
}
