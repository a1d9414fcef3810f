package eval

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"math"
	"strconv"
	"strings"
)

// regPrefix stands for '$' in register names: go/parser has no '$', so
// "$rax" is parsed as the identifier regPrefix+"rax".
const regPrefix = "__taijireg_"

// parse parses expr as a Go expression, registers written $name. It never
// panics: go/parser returns errors for bad input.
func parse(expr string) (e ast.Expr, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, fmt.Errorf("cannot parse %q", expr)
		}
	}()
	src, err := dollars(expr)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	e, err = parser.ParseExpr(src)
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), regPrefix, "$")
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "1:") {
			msg = msg[i+2:]
		}
		return nil, fmt.Errorf("cannot parse %q: %s", expr, msg)
	}
	return e, nil
}

// Check reports whether expr parses (Go syntax, registers written
// $name), without a scope: a condition is checked when it is set, as gdb
// does, not first at a hit.
func Check(expr string) error {
	_, err := parse(expr)
	return err
}

// dollars rewrites $name outside string and rune literals.
func dollars(s string) (string, error) {
	var sb strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			sb.WriteByte(c)
			if c == '\\' && quote != '`' && i+1 < len(s) {
				i++
				sb.WriteByte(s[i])
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
			sb.WriteByte(c)
		case c == '$':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if j == i+1 {
				return "", fmt.Errorf("cannot parse %q: '$' must start a register name ($pc, $sp, $rax)", s)
			}
			sb.WriteString(regPrefix + s[i+1:j])
			i = j - 1
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}

// Eval parses expr with go/parser and evaluates it in the scope: Go
// syntax over the frame's variables (DWARF), package variables, $registers
// and memory through conversions such as *(*uint32)(0x7bf6c). Errors are
// one line: "no variable n in main.f at line 12", "cannot read 8 bytes at
// 0x10: ...", "x is optimized out here".
func Eval(sc *Scope, expr string) (v *Value, err error) {
	if sc == nil || sc.Arch == nil {
		return nil, fmt.Errorf("no scope to evaluate %q in", expr)
	}
	e, err := parse(expr)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil { // a bug of ours must not kill the debugger
			v, err = nil, fmt.Errorf("evaluating %q: internal error: %v", expr, p)
		}
	}()
	v, err = sc.eval(e)
	if err != nil {
		return nil, err
	}
	v.Name = strings.TrimSpace(expr)
	if v.err != nil {
		return nil, v.err
	}
	// Scalars are read now so that a bad address is the error of Eval.
	if v.t.kind != kStruct && v.t.kind != kArray && v.t.size <= 16 {
		if _, err := v.bytes(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (sc *Scope) eval(e ast.Expr) (*Value, error) {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return sc.eval(e.X)
	case *ast.BasicLit:
		return sc.literal(e)
	case *ast.Ident:
		return sc.ident(e.Name)
	case *ast.SelectorExpr:
		return sc.selector(e)
	case *ast.StarExpr:
		x, err := sc.eval(e.X)
		if err != nil {
			return nil, err
		}
		return sc.deref(x)
	case *ast.UnaryExpr:
		return sc.unary(e)
	case *ast.BinaryExpr:
		return sc.binary(e)
	case *ast.IndexExpr:
		return sc.index(e)
	case *ast.SliceExpr:
		return sc.slice(e)
	case *ast.CallExpr:
		return sc.call(e)
	}
	return nil, fmt.Errorf("unsupported expression %s", exprString(e))
}

func exprString(e ast.Expr) string {
	var sb strings.Builder
	writeExpr(&sb, e)
	return strings.ReplaceAll(sb.String(), regPrefix, "$")
}

func writeExpr(sb *strings.Builder, e ast.Expr) {
	switch e := e.(type) {
	case *ast.Ident:
		sb.WriteString(e.Name)
	case *ast.BasicLit:
		sb.WriteString(e.Value)
	case *ast.SelectorExpr:
		writeExpr(sb, e.X)
		sb.WriteString("." + e.Sel.Name)
	case *ast.StarExpr:
		sb.WriteString("*")
		writeExpr(sb, e.X)
	case *ast.ParenExpr:
		sb.WriteString("(")
		writeExpr(sb, e.X)
		sb.WriteString(")")
	case *ast.UnaryExpr:
		sb.WriteString(e.Op.String())
		writeExpr(sb, e.X)
	case *ast.BinaryExpr:
		writeExpr(sb, e.X)
		sb.WriteString(" " + e.Op.String() + " ")
		writeExpr(sb, e.Y)
	case *ast.IndexExpr:
		writeExpr(sb, e.X)
		sb.WriteString("[")
		writeExpr(sb, e.Index)
		sb.WriteString("]")
	case *ast.CallExpr:
		writeExpr(sb, e.Fun)
		sb.WriteString("(...)")
	case *ast.ArrayType:
		sb.WriteString("[")
		if e.Len != nil {
			writeExpr(sb, e.Len)
		}
		sb.WriteString("]")
		writeExpr(sb, e.Elt)
	default:
		fmt.Fprintf(sb, "%T", e)
	}
}

var (
	untypedInt   = &typ{kind: kUntyped, name: "untyped int", size: 8}
	untypedFloat = &typ{kind: kFloat, name: "float64", size: 8}
)

func (sc *Scope) literal(e *ast.BasicLit) (*Value, error) {
	c := constant.MakeFromLiteral(e.Value, e.Kind, 0)
	switch c.Kind() {
	case constant.Int:
		if u, ok := constant.Uint64Val(c); ok {
			return sc.uintValue(e.Value, untypedInt, u), nil
		}
		if i, ok := constant.Int64Val(c); ok {
			return sc.uintValue(e.Value, untypedInt, uint64(i)), nil
		}
		return nil, fmt.Errorf("constant %s overflows 64 bits", e.Value)
	case constant.Float:
		f, _ := constant.Float64Val(c)
		return sc.uintValue(e.Value, untypedFloat, math.Float64bits(f)), nil
	case constant.String:
		s := constant.StringVal(c)
		v := sc.computed(e.Value, builtin("string", int64(sc.ptrSize())), nil)
		v.lit = &s
		v.buf = make([]byte, v.t.size)
		return v, nil
	}
	return nil, fmt.Errorf("unsupported literal %s", e.Value)
}

var boolType = &typ{kind: kBool, name: "bool", size: 1}

func (sc *Scope) boolValue(b bool) *Value {
	u := uint64(0)
	if b {
		u = 1
	}
	return sc.uintValue("", boolType, u)
}

func (sc *Scope) ident(name string) (*Value, error) {
	if strings.HasPrefix(name, regPrefix) {
		return sc.register(name[len(regPrefix):])
	}
	switch name {
	case "true", "false":
		return sc.boolValue(name == "true"), nil
	case "nil":
		return sc.uintValue("nil", &typ{kind: kPtr, name: "nil", size: int64(sc.ptrSize())}, 0), nil
	}
	v, err := sc.lookup(name)
	if err != nil {
		return nil, err
	}
	if v.err != nil {
		return nil, v.err
	}
	return v, nil
}

// registerNumber resolves a register name: the arch's DWARF names, and
// pc, sp (and fp, lr where the arch numbers them) on every arch.
func (sc *Scope) registerNumber(name string) (n int, isPC bool, err error) {
	a := sc.Arch
	switch name {
	case "pc", "ip":
		return 0, true, nil
	case "sp":
		return a.SP, false, nil
	case "fp":
		if a.FP >= 0 {
			return a.FP, false, nil
		}
	case "lr":
		if a.LR >= 0 {
			return a.LR, false, nil
		}
	}
	if n, ok := a.RegNumber(name); ok {
		if n == a.PC && a.PC != 0 {
			return 0, true, nil
		}
		return n, false, nil
	}
	return 0, false, fmt.Errorf("no register $%s on %s", name, a.Name)
}

func (sc *Scope) register(name string) (*Value, error) {
	n, isPC, err := sc.registerNumber(name)
	if err != nil {
		return nil, err
	}
	t := builtin("uint64", 8)
	if sc.ptrSize() == 4 {
		t = builtin("uint32", 4)
	}
	if isPC {
		r := sc.uintValue("$"+name, t, sc.Regs.PC)
		r.isPC = true
		return r, nil
	}
	v, ok := sc.reg(n)
	if !ok {
		return nil, fmt.Errorf("$%s is not known in this frame", name)
	}
	r := sc.uintValue("$"+name, t, v)
	r.reg, r.inReg = n, true
	return r, nil
}

// selector is x.f: a field (through pointers, as Go does), or a package
// variable "pkg.name".
func (sc *Scope) selector(e *ast.SelectorExpr) (*Value, error) {
	if q := qualified(e); q != "" {
		if x, ok := e.X.(*ast.Ident); ok {
			if _, err := sc.lookupLocal(x.Name); err != nil {
				v, gerr := sc.lookup(q)
				if gerr == nil {
					if v.err != nil {
						return nil, v.err
					}
					return v, nil
				}
				if _, err := sc.lookup(x.Name); err != nil {
					return nil, gerr
				}
			}
		}
	}
	x, err := sc.eval(e.X)
	if err != nil {
		return nil, err
	}
	return sc.field(x, e.Sel.Name)
}

// qualified returns "a.b.c" for a chain of identifiers, else "".
func qualified(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x := qualified(e.X); x != "" {
			return x + "." + e.Sel.Name
		}
	}
	return ""
}

// lookupLocal finds only a frame variable.
func (sc *Scope) lookupLocal(name string) (*Value, error) {
	in, fi, err := sc.frame()
	if err != nil || in == nil || fi == nil {
		return nil, fmt.Errorf("no frame")
	}
	for _, e := range fi.vars {
		if in.dieName(e) == name {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("no local %s", name)
}

func (sc *Scope) field(x *Value, name string) (*Value, error) {
	for i := 0; x.t.kind == kPtr && i < 2; i++ {
		// Go's automatic dereference: p.f is (*p).f, named p.f.
		n := x.Name
		var err error
		if x, err = sc.deref(x); err != nil {
			return nil, err
		}
		x.Name = n
	}
	if x.t.kind == kIface {
		d, err := x.dynamic()
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, fmt.Errorf("%s is a nil interface", x.Name)
		}
		return sc.field(d, name)
	}
	if x.t.kind != kStruct && x.t.kind != kString && x.t.kind != kSlice {
		return nil, fmt.Errorf("%s (%s) has no field %s", x.Name, x.t.name, name)
	}
	fl, ok := x.t.field(name)
	if !ok {
		return nil, fmt.Errorf("%s (%s) has no field %s", x.Name, x.t.name, name)
	}
	v := x.fieldValue(fl)
	return v, v.err
}

func (sc *Scope) deref(x *Value) (*Value, error) {
	if x.t.kind != kPtr {
		return nil, fmt.Errorf("cannot dereference %s (%s): not a pointer", x.Name, x.t.name)
	}
	u, err := x.uint()
	if err != nil {
		return nil, err
	}
	if u == 0 {
		return nil, fmt.Errorf("%s is nil", x.Name)
	}
	if x.t.elem == nil || x.t.elem.kind == kVoid {
		return nil, fmt.Errorf("cannot dereference %s (%s): unknown element type; convert it first, e.g. *(*uint64)(%s)", x.Name, x.t.name, x.Name)
	}
	return sc.atAddr("*"+x.Name, x.t.elem, u), nil
}

func (sc *Scope) unary(e *ast.UnaryExpr) (*Value, error) {
	x, err := sc.eval(e.X)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case token.AND:
		if x.Addr == 0 {
			return nil, fmt.Errorf("cannot take the address of %s: it is not in memory", exprString(e.X))
		}
		return sc.uintValue("&"+x.Name, ptrTo(x.t, int64(sc.ptrSize())), x.Addr), nil
	case token.NOT:
		if x.t.kind != kBool {
			return nil, fmt.Errorf("operator ! not defined on %s (%s)", exprString(e.X), x.t.name)
		}
		u, err := x.uint()
		return sc.boolValue(u == 0), err
	case token.SUB, token.XOR, token.ADD:
		if x.t.kind == kFloat {
			f, err := x.float()
			if e.Op == token.SUB {
				f = -f
			}
			return sc.floatValue(x.t, f), err
		}
		if !x.t.isInteger() && x.t.kind != kUntyped {
			return nil, fmt.Errorf("operator %s not defined on %s (%s)", e.Op, exprString(e.X), x.t.name)
		}
		u, err := x.uint()
		switch e.Op {
		case token.SUB:
			u = -u
		case token.XOR:
			u = ^u
		}
		return sc.uintValue("", x.t, u), err
	}
	return nil, fmt.Errorf("unsupported operator %s", e.Op)
}

func (sc *Scope) floatValue(t *typ, f float64) *Value {
	if t.size == 4 {
		return sc.uintValue("", t, uint64(math.Float32bits(float32(f))))
	}
	return sc.uintValue("", t, math.Float64bits(f))
}

func (sc *Scope) binary(e *ast.BinaryExpr) (*Value, error) {
	x, err := sc.eval(e.X)
	if err != nil {
		return nil, err
	}
	// && and || short-circuit, as in Go: breakpoint conditions such
	// as "p != nil && p.n > 3" must not read through nil.
	if e.Op == token.LAND || e.Op == token.LOR {
		if x.t.kind != kBool {
			return nil, fmt.Errorf("operator %s needs booleans, %s is %s", e.Op, exprString(e.X), x.t.name)
		}
		u, err := x.uint()
		if err != nil {
			return nil, err
		}
		if (u != 0) == (e.Op == token.LOR) {
			return sc.boolValue(u != 0), nil
		}
		y, err := sc.eval(e.Y)
		if err != nil {
			return nil, err
		}
		if y.t.kind != kBool {
			return nil, fmt.Errorf("operator %s needs booleans, %s is %s", e.Op, exprString(e.Y), y.t.name)
		}
		w, err := y.uint()
		return sc.boolValue(w != 0), err
	}
	y, err := sc.eval(e.Y)
	if err != nil {
		return nil, err
	}
	return sc.arith(e.Op, x, y, exprString(e))
}

// arith applies a binary operator. Untyped constants take the other
// operand's type, as in Go; integers wrap at their size.
func (sc *Scope) arith(op token.Token, x, y *Value, src string) (*Value, error) {
	// Strings: comparison and concatenation of what was read.
	if x.t.kind == kString || y.t.kind == kString {
		if x.t.kind != kString || y.t.kind != kString {
			return nil, fmt.Errorf("mismatched types in %s: %s and %s", src, x.t.name, y.t.name)
		}
		a, _, err := x.goString(1 << 16)
		if err != nil {
			return nil, err
		}
		b, _, err := y.goString(1 << 16)
		if err != nil {
			return nil, err
		}
		if ok, isCmp := compare(op, strings.Compare(a, b)); isCmp {
			return sc.boolValue(ok), nil
		}
		if op == token.ADD {
			s := a + b
			v := sc.computed("", x.t, make([]byte, x.t.size))
			v.lit = &s
			return v, nil
		}
		return nil, fmt.Errorf("operator %s not defined on strings", op)
	}
	if x.t.kind == kBool && y.t.kind == kBool && (op == token.EQL || op == token.NEQ) {
		a, err := x.uint()
		if err != nil {
			return nil, err
		}
		b, err := y.uint()
		if err != nil {
			return nil, err
		}
		return sc.boolValue((a == b) == (op == token.EQL)), nil
	}
	num := func(v *Value) bool {
		switch v.t.kind {
		case kInt, kUint, kUntyped, kEnum, kFloat, kPtr, kMap, kChan, kFunc:
			return true
		}
		return false
	}
	if !num(x) || !num(y) {
		return nil, fmt.Errorf("operator %s not defined on %s (%s) and %s (%s)", op, x.Name, x.t.name, y.Name, y.t.name)
	}
	// C pointer arithmetic: p ± n moves by n elements, p - q counts them.
	if x.t.kind == kPtr && x.t.elem != nil && x.t.elem.size > 0 && (op == token.ADD || op == token.SUB) {
		if y.t.isInteger() || y.t.kind == kUntyped {
			a, err := x.uint()
			if err != nil {
				return nil, err
			}
			n, err := y.uint()
			if err != nil {
				return nil, err
			}
			d := n * uint64(x.t.elem.size)
			if op == token.SUB {
				d = -d
			}
			return sc.uintValue(src, x.t, a+d), nil
		}
		if op == token.SUB && y.t.kind == kPtr && y.t.elem != nil && y.t.elem.size == x.t.elem.size {
			a, err := x.uint()
			if err != nil {
				return nil, err
			}
			b, err := y.uint()
			if err != nil {
				return nil, err
			}
			return sc.uintValue(src, builtin("int", int64(sc.ptrSize())), uint64(int64(a-b)/x.t.elem.size)), nil
		}
	}
	// The result type: a typed operand's, else untyped.
	t := x.t
	if t.kind == kUntyped || (t.kind == kPtr && t.name == "nil") {
		t = y.t
	}
	if x.t.kind == kFloat || y.t.kind == kFloat {
		if t.kind != kFloat {
			t = untypedFloat
		}
		a, err := x.float()
		if err != nil {
			return nil, err
		}
		b, err := y.float()
		if err != nil {
			return nil, err
		}
		if op == token.EQL || op == token.NEQ {
			return sc.boolValue((a == b) == (op == token.EQL)), nil // NaN != NaN
		}
		if ok, isCmp := compare(op, cmp.Compare(a, b)); isCmp {
			return sc.boolValue(ok && !math.IsNaN(a) && !math.IsNaN(b)), nil
		}
		if r, ok := ring(op, a, b); ok {
			return sc.floatValue(t, r), nil
		}
		if op == token.QUO {
			return sc.floatValue(t, a/b), nil
		}
		return nil, fmt.Errorf("operator %s not defined on floats", op)
	}
	a, err := x.uint()
	if err != nil {
		return nil, err
	}
	b, err := y.uint()
	if err != nil {
		return nil, err
	}
	signed := t.signed()
	bits := uint(t.size * 8)
	if bits == 0 || bits > 64 {
		bits = 64
	}
	r, isRing := ring(op, a, b)
	switch {
	case isRing:
	case op == token.QUO || op == token.REM:
		if b == 0 {
			return nil, fmt.Errorf("division by zero in %s", src)
		}
		switch {
		case signed && op == token.QUO:
			r = uint64(int64(a) / int64(b))
		case signed:
			r = uint64(int64(a) % int64(b))
		case op == token.QUO:
			r = a / b
		default:
			r = a % b
		}
	case op == token.AND:
		r = a & b
	case op == token.OR:
		r = a | b
	case op == token.XOR:
		r = a ^ b
	case op == token.AND_NOT:
		r = a &^ b
	case op == token.SHL:
		r = a << b
	case op == token.SHR:
		if signed {
			r = uint64(int64(a) >> b)
		} else {
			r = a >> b
		}
	default:
		if _, isCmp := compare(op, 0); !isCmp {
			return nil, fmt.Errorf("unsupported operator %s", op)
		}
		c := cmp.Compare(a, b)
		if signed && x.t.kind != kPtr && y.t.kind != kPtr {
			c = cmp.Compare(int64(a), int64(b))
		}
		ok, _ := compare(op, c)
		return sc.boolValue(ok), nil
	}
	if bits < 64 {
		r &= 1<<bits - 1
		if signed && r&(1<<(bits-1)) != 0 {
			r |= ^uint64(0) << bits
		}
	}
	return sc.uintValue("", t, r), nil
}

// ring applies +, - and * (the operators integers and floats share).
func ring[T uint64 | float64](op token.Token, a, b T) (T, bool) {
	switch op {
	case token.ADD:
		return a + b, true
	case token.SUB:
		return a - b, true
	case token.MUL:
		return a * b, true
	}
	return 0, false
}

// compare applies a comparison operator to the result c of cmp.Compare;
// isCmp is false for other operators.
func compare(op token.Token, c int) (ok, isCmp bool) {
	switch op {
	case token.EQL:
		return c == 0, true
	case token.NEQ:
		return c != 0, true
	case token.LSS:
		return c < 0, true
	case token.GTR:
		return c > 0, true
	case token.LEQ:
		return c <= 0, true
	case token.GEQ:
		return c >= 0, true
	}
	return false, false
}

// intOf evaluates an index expression to a non-negative integer.
func (sc *Scope) intOf(e ast.Expr) (uint64, error) {
	v, err := sc.eval(e)
	if err != nil {
		return 0, err
	}
	if !v.t.isInteger() && v.t.kind != kUntyped {
		return 0, fmt.Errorf("index %s is not an integer (%s)", exprString(e), v.t.name)
	}
	u, err := v.uint()
	if err != nil {
		return 0, err
	}
	if v.t.signed() && int64(u) < 0 {
		return 0, fmt.Errorf("index %s is negative (%d)", exprString(e), int64(u))
	}
	return u, nil
}

func (sc *Scope) index(e *ast.IndexExpr) (*Value, error) {
	x, err := sc.eval(e.X)
	if err != nil {
		return nil, err
	}
	if x.t.kind == kPtr && x.t.elem != nil && x.t.elem.kind == kArray {
		if x, err = sc.deref(x); err != nil {
			return nil, err
		}
	}
	if x.t.kind == kMap {
		return sc.mapIndex(x, e.Index)
	}
	i, err := sc.intOf(e.Index)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s[%d]", x.Name, i)
	switch x.t.kind {
	case kArray:
		if i >= uint64(x.t.count) {
			return nil, fmt.Errorf("index %d out of range: %s has length %d", i, x.Name, x.t.count)
		}
		return x.sub(name, int64(i)*x.t.elem.size, x.t.elem), nil
	case kSlice, kString:
		data, n, _, err := x.sliceHeader()
		if err != nil {
			return nil, err
		}
		if x.lit != nil {
			n = uint64(len(*x.lit))
			if i < n {
				return sc.uintValue(name, builtin("uint8", 1), uint64((*x.lit)[i])), nil
			}
		}
		if i >= n {
			return nil, fmt.Errorf("index %d out of range: %s has length %d", i, x.Name, n)
		}
		et := x.t.elem
		if x.t.kind == kString {
			et = builtin("uint8", 1)
		}
		return sc.atAddr(name, et, data+i*uint64(et.size)), nil
	case kPtr:
		// C pointer arithmetic: p[i] is *(p+i).
		if x.t.elem == nil || x.t.elem.size == 0 {
			return nil, fmt.Errorf("cannot index %s (%s)", x.Name, x.t.name)
		}
		u, err := x.uint()
		if err != nil {
			return nil, err
		}
		return sc.atAddr(name, x.t.elem, u+i*uint64(x.t.elem.size)), nil
	}
	return nil, fmt.Errorf("cannot index %s (%s)", x.Name, x.t.name)
}

// mapIndex finds m[k] among the map's entries (up to 1<<16 of them).
func (sc *Scope) mapIndex(m *Value, ke ast.Expr) (*Value, error) {
	k, err := sc.eval(ke)
	if err != nil {
		return nil, err
	}
	keys, vals, err := sc.mapEntries(m, 1<<16)
	if err != nil {
		return nil, err
	}
	for i, mk := range keys {
		eq, err := sc.arith(token.EQL, mk, k, "")
		if err != nil {
			return nil, err
		}
		if u, _ := eq.uint(); u != 0 {
			vals[i].Name = fmt.Sprintf("%s[%s]", m.Name, exprString(ke))
			return vals[i], nil
		}
	}
	return nil, fmt.Errorf("%s has no key %s", m.Name, exprString(ke))
}

func (sc *Scope) slice(e *ast.SliceExpr) (*Value, error) {
	x, err := sc.eval(e.X)
	if err != nil {
		return nil, err
	}
	if x.t.kind == kPtr && x.t.elem != nil && x.t.elem.kind == kArray {
		if x, err = sc.deref(x); err != nil {
			return nil, err
		}
	}
	var data, n, c uint64
	var et *typ
	ps := int64(sc.ptrSize())
	switch x.t.kind {
	case kArray:
		if x.Addr == 0 {
			return nil, fmt.Errorf("cannot slice %s: it is not in memory", x.Name)
		}
		data, n, c, et = x.Addr, uint64(x.t.count), uint64(x.t.count), x.t.elem
	case kSlice, kString:
		if data, n, c, err = x.sliceHeader(); err != nil {
			return nil, err
		}
		et = x.t.elem
		if x.t.kind == kString {
			c, et = n, builtin("uint8", 1)
		}
	default:
		return nil, fmt.Errorf("cannot slice %s (%s)", x.Name, x.t.name)
	}
	lo, hi, mx := uint64(0), n, c
	if e.Low != nil {
		if lo, err = sc.intOf(e.Low); err != nil {
			return nil, err
		}
	}
	if e.High != nil {
		if hi, err = sc.intOf(e.High); err != nil {
			return nil, err
		}
	}
	if e.Max != nil {
		if mx, err = sc.intOf(e.Max); err != nil {
			return nil, err
		}
	}
	if lo > hi || hi > mx || mx > c {
		return nil, fmt.Errorf("slice bounds out of range [%d:%d:%d] with capacity %d", lo, hi, mx, c)
	}
	st := sliceOf(et, ps)
	if x.t.kind == kString {
		st = x.t
	}
	b := make([]byte, st.size)
	put := func(off int64, u uint64) { copy(b[off:], uintBytes(u, ps, sc.Arch)) }
	put(0, data+lo*uint64(et.size))
	put(ps, hi-lo)
	if st.kind == kSlice {
		put(2*ps, mx-lo)
	}
	return sc.computed(exprString(e), st, b), nil
}

// call is a builtin (len, cap) or a conversion T(x).
func (sc *Scope) call(e *ast.CallExpr) (*Value, error) {
	if id, ok := e.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
		if len(e.Args) != 1 {
			return nil, fmt.Errorf("%s takes one argument", id.Name)
		}
		return sc.lenCap(id.Name, e.Args[0])
	}
	t, err := sc.typeOf(e.Fun)
	if err != nil {
		return nil, fmt.Errorf("%s is not a type or builtin this evaluator knows (%v); function calls are not supported", exprString(e.Fun), err)
	}
	if len(e.Args) != 1 {
		return nil, fmt.Errorf("conversion to %s takes one argument", t.name)
	}
	x, err := sc.eval(e.Args[0])
	if err != nil {
		return nil, err
	}
	return sc.convert(x, t)
}

func (sc *Scope) lenCap(fn string, arg ast.Expr) (*Value, error) {
	x, err := sc.eval(arg)
	if err != nil {
		return nil, err
	}
	if x.t.kind == kPtr && x.t.elem != nil && x.t.elem.kind == kArray {
		if x, err = sc.deref(x); err != nil {
			return nil, err
		}
	}
	it := builtin("int", int64(sc.ptrSize()))
	var n uint64
	switch x.t.kind {
	case kArray:
		n = uint64(x.t.count)
	case kString:
		if x.lit != nil {
			n = uint64(len(*x.lit))
			break
		}
		fallthrough
	case kSlice:
		_, l, c, err := x.sliceHeader()
		if err != nil {
			return nil, err
		}
		n = l
		if fn == "cap" {
			n = c
		}
	case kMap:
		if fn == "cap" {
			return nil, fmt.Errorf("invalid argument %s (%s) for cap", x.Name, x.t.name)
		}
		if n, err = sc.mapLen(x); err != nil {
			return nil, err
		}
	case kChan:
		l, c, err := sc.chanLenCap(x)
		if err != nil {
			return nil, err
		}
		n = l
		if fn == "cap" {
			n = c
		}
	default:
		return nil, fmt.Errorf("invalid argument %s (%s) for %s", x.Name, x.t.name, fn)
	}
	return sc.uintValue(fn+"("+x.Name+")", it, n), nil
}

// typeOf resolves a type expression: builtin Go types (no DWARF needed),
// DWARF type names (main.T, C's struct tags and typedefs), *T, [N]T, []T.
func (sc *Scope) typeOf(e ast.Expr) (*typ, error) {
	ps := int64(sc.ptrSize())
	switch e := e.(type) {
	case *ast.ParenExpr:
		return sc.typeOf(e.X)
	case *ast.StarExpr:
		t, err := sc.typeOf(e.X)
		if err != nil {
			return nil, err
		}
		return ptrTo(t, ps), nil
	case *ast.ArrayType:
		t, err := sc.typeOf(e.Elt)
		if err != nil {
			return nil, err
		}
		if e.Len == nil {
			return sliceOf(t, ps), nil
		}
		lit, ok := e.Len.(*ast.BasicLit)
		if !ok || lit.Kind != token.INT {
			return nil, fmt.Errorf("array length must be an integer constant")
		}
		n, err := strconv.ParseInt(lit.Value, 0, 64)
		if err != nil || n < 0 || n > 1<<24 {
			return nil, fmt.Errorf("array length %s out of range", lit.Value)
		}
		return arrayOf(t, n), nil
	case *ast.Ident, *ast.SelectorExpr:
		name := qualified(e)
		if name == "" {
			break
		}
		if t := builtin(name, ps); t != nil {
			return t, nil
		}
		if in, err := sc.info(); err == nil {
			for _, n := range []string{name, "struct " + name, strings.Replace(name, "_", " ", 1)} {
				if t := in.typeNamed(n); t != nil {
					return t, nil
				}
			}
			return nil, fmt.Errorf("no type %s in the DWARF", name)
		} else {
			return nil, fmt.Errorf("type %s: %v", name, err)
		}
	}
	return nil, fmt.Errorf("%s is not a type", exprString(e))
}

// convert is T(x): numeric conversions, and integers to pointers (the way
// to read memory: (*uint32)(0x7bf6c)).
func (sc *Scope) convert(x *Value, t *typ) (*Value, error) {
	name := fmt.Sprintf("(%s)(%s)", t.name, x.Name)
	switch t.kind {
	case kPtr, kInt, kUint, kEnum, kBool, kMap, kChan, kFunc:
		if x.t.kind == kFloat && t.kind != kPtr {
			f, err := x.float()
			if err != nil {
				return nil, err
			}
			if t.signed() {
				return sc.uintValue(name, t, uint64(int64(f))), nil
			}
			return sc.uintValue(name, t, uint64(f)), nil
		}
		switch x.t.kind {
		case kInt, kUint, kUntyped, kEnum, kPtr, kBool, kMap, kChan, kFunc:
		default:
			return nil, fmt.Errorf("cannot convert %s (%s) to %s", x.Name, x.t.name, t.name)
		}
		u, err := x.uint()
		if err != nil {
			return nil, err
		}
		v := sc.uintValue(name, t, u)
		return v, nil
	case kFloat:
		f, err := x.float()
		if err != nil {
			return nil, err
		}
		return sc.floatValue(t, f), nil
	}
	if x.t.size == t.size && x.Addr != 0 {
		// A reinterpretation of memory, as C's casts of lvalues.
		return sc.atAddr(name, t, x.Addr), nil
	}
	return nil, fmt.Errorf("cannot convert %s (%s) to %s", x.Name, x.t.name, t.name)
}
