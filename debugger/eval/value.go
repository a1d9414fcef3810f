package eval

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on what a value prints, as delve's defaults: 64 elements of an
// array, slice or map and 64 bytes of a string; pointers are followed one
// level from the value printed, composites nested up to maxDepth levels.
// Cut output ends with "..." markers.
const (
	MaxElems  = 64
	MaxString = 64
	maxDepth  = 3
	maxRead   = 1 << 20 // a value larger than this is not read whole
)

// Value is the result of an expression: a typed value in the target's
// memory (Addr != 0), in registers, or computed.
type Value struct {
	Name string // the expression or variable name
	Type string // Go syntax for Go, C spelling ("struct foo", "*char") for C
	Addr uint64 // 0 if not in memory

	t       *typ
	sc      *Scope
	buf     []byte // the bytes of a value not in memory, or read from it
	err     error  // why the value cannot be shown (optimized out, unreadable)
	reg     int    // the register holding the whole value (inReg)
	inReg   bool
	isPC    bool    // the value is $pc
	partial bool    // some pieces are optimized out (they read as zero)
	lit     *string // an untyped string constant of the expression
	bits    *field  // set when v is a bit field of a struct
}

// Err returns why v cannot be read, or nil.
func (v *Value) Err() error { return v.err }

func (v *Value) bytes() ([]byte, error) {
	if v.err != nil {
		return nil, v.err
	}
	if v.buf != nil {
		return v.buf, nil
	}
	if v.t.size > maxRead {
		return nil, fmt.Errorf("%s is %d bytes, more than taiji reads at once", v.Name, v.t.size)
	}
	b := make([]byte, v.t.size)
	if len(b) > 0 {
		if err := v.sc.Mem.ReadMemory(v.Addr, b); err != nil {
			v.err = readErr(int64(len(b)), v.Addr, err)
			return nil, v.err
		}
	}
	v.buf = b
	return b, nil
}

// sub returns the part of v at offset off with type t.
func (v *Value) sub(name string, off int64, t *typ) *Value {
	c := &Value{Name: name, Type: t.name, t: t, sc: v.sc, err: v.err}
	if v.err != nil {
		return c
	}
	if v.buf == nil && v.Addr != 0 {
		c.Addr = v.Addr + uint64(off)
		return c
	}
	b, err := v.bytes()
	if err != nil {
		c.err = err
		return c
	}
	if off < 0 || off+t.size > int64(len(b)) {
		c.err = fmt.Errorf("%s lies outside its parent's bytes", name)
		return c
	}
	c.buf = b[off : off+t.size]
	return c
}

// atAddr returns a value of type t in memory at addr.
func (sc *Scope) atAddr(name string, t *typ, addr uint64) *Value {
	return &Value{Name: name, Type: t.name, t: t, sc: sc, Addr: addr}
}

// computed returns a value held by the evaluator.
func (sc *Scope) computed(name string, t *typ, b []byte) *Value {
	return &Value{Name: name, Type: t.name, t: t, sc: sc, buf: b}
}

func (sc *Scope) uintValue(name string, t *typ, u uint64) *Value {
	return sc.computed(name, t, uintBytes(u, t.size, sc.Arch))
}

func (sc *Scope) order() binary.ByteOrder { return sc.Arch.ByteOrder }

// Uint returns v as a number: an integer, a pointer's address, a bool as
// 0 or 1, an enum's value, a float truncated, the first word of a larger
// value (a Go string's or slice's data pointer). Breakpoint conditions are
// true when it is not 0; x takes its address from it.
func (v *Value) Uint() (uint64, error) {
	if v.err != nil {
		return 0, v.err
	}
	return v.uint()
}

// uint returns v's bits as an unsigned number (integers, pointers, bools,
// enums), zero-extended or, for signed types, sign-extended.
func (v *Value) uint() (uint64, error) {
	b, err := v.bytes()
	if err != nil {
		return 0, err
	}
	if v.t.kind == kFloat {
		f, err := v.float()
		return uint64(int64(f)), err
	}
	var u uint64
	o := v.sc.order()
	switch len(b) {
	case 1:
		u = uint64(b[0])
		if v.t.signed() {
			u = uint64(int64(int8(b[0])))
		}
	case 2:
		u = uint64(o.Uint16(b))
		if v.t.signed() {
			u = uint64(int64(int16(u)))
		}
	case 4:
		u = uint64(o.Uint32(b))
		if v.t.signed() {
			u = uint64(int64(int32(u)))
		}
	case 8:
		u = o.Uint64(b)
	default:
		if len(b) > 8 {
			u = o.Uint64(b[:8])
		} else {
			return 0, fmt.Errorf("%s: a %d-byte value is not a number", v.Name, len(b))
		}
	}
	if f, ok := v.bitfield(); ok {
		shift := uint64(f.bitOff)
		if o == binary.BigEndian {
			shift = uint64(8*int64(len(b)) - f.bitOff - f.bitSize)
		}
		u = (u >> shift) & (1<<f.bitSize - 1)
		if v.t.signed() && u&(1<<(f.bitSize-1)) != 0 {
			u |= ^uint64(0) << f.bitSize
		}
	}
	return u, nil
}

// bitfield is set on values that are a bit field of their struct.
func (v *Value) bitfield() (field, bool) {
	if v.bits != nil {
		return *v.bits, true
	}
	return field{}, false
}

func (v *Value) float() (float64, error) {
	b, err := v.bytes()
	if err != nil {
		return 0, err
	}
	switch {
	case v.t.kind == kFloat && len(b) == 4:
		return float64(math.Float32frombits(v.sc.order().Uint32(b))), nil
	case v.t.kind == kFloat && len(b) == 8:
		return math.Float64frombits(v.sc.order().Uint64(b)), nil
	case v.t.isInteger() || v.t.kind == kUntyped:
		u, err := v.uint()
		if v.t.signed() {
			return float64(int64(u)), err
		}
		return float64(u), err
	}
	return 0, fmt.Errorf("%s (%s) is not a number", v.Name, v.t.name)
}

// ptr reads a pointer-sized field of v at off.
func (v *Value) ptrAt(off int64) (uint64, error) {
	b, err := v.bytes()
	if err != nil {
		return 0, err
	}
	n := int64(v.sc.ptrSize())
	if off+n > int64(len(b)) {
		return 0, fmt.Errorf("%s: short value", v.Name)
	}
	return readUint(v.sc.order(), b[off:off+n]), nil
}

// sliceHeader returns a Go slice's or string's data pointer, len and cap.
func (v *Value) sliceHeader() (data, n, c uint64, err error) {
	ps := int64(v.sc.ptrSize())
	if data, err = v.ptrAt(0); err != nil {
		return
	}
	if n, err = v.ptrAt(ps); err != nil {
		return
	}
	if v.t.kind == kSlice {
		c, err = v.ptrAt(2 * ps)
	}
	return
}

// goString reads up to max bytes of a Go string value.
func (v *Value) goString(max uint64) (string, uint64, error) {
	if v.lit != nil {
		return *v.lit, uint64(len(*v.lit)), nil
	}
	data, n, _, err := v.sliceHeader()
	if err != nil {
		return "", 0, err
	}
	if n > 1<<40 {
		return "", n, fmt.Errorf("string length %d is not plausible", n)
	}
	m := min(n, max)
	b := make([]byte, m)
	if m > 0 {
		if err := v.sc.Mem.ReadMemory(data, b); err != nil {
			return "", n, readErr(int64(m), data, err)
		}
	}
	return string(b), n, nil
}

// cString reads a NUL-terminated C string at addr, up to max bytes.
func (sc *Scope) cString(addr uint64, max int) (string, bool, error) {
	var out []byte
	var chunk [64]byte
	for len(out) < max {
		n := min(len(chunk), max-len(out))
		// Do not cross a page: the next page may be unmapped.
		if pg := 4096 - int(addr%4096); pg < n {
			n = pg
		}
		if err := sc.Mem.ReadMemory(addr, chunk[:n]); err != nil {
			if len(out) > 0 {
				return string(out), false, nil
			}
			return "", false, readErr(int64(n), addr, err)
		}
		if i := strings.IndexByte(string(chunk[:n]), 0); i >= 0 {
			return string(append(out, chunk[:i]...)), true, nil
		}
		out = append(out, chunk[:n]...)
		addr += uint64(n)
	}
	return string(out), false, nil
}

// String formats v as delve's print does: main.T {a: 1, s: "x", p: *main.T {...}}.
func (v *Value) String() string { return v.Format(0) }

// Format formats v with gdb's print/FMT letters applied to its integers:
// 'x' hex, 'd' signed decimal, 'u' unsigned, 'o' octal, 'b' binary (gdb's
// 't' is accepted too), 'c' character, 's' as a string (byte slices and
// arrays, char pointers); 0 is String's default.
func (v *Value) Format(verb byte) string {
	var sb strings.Builder
	f := &formatter{verb: verb, sb: &sb}
	if v.partial {
		f.w("(partly optimized out) ")
	}
	f.value(v, 0, true)
	return sb.String()
}

type formatter struct {
	verb byte
	sb   *strings.Builder
}

func (f *formatter) w(s string)               { f.sb.WriteString(s) }
func (f *formatter) wf(s string, args ...any) { fmt.Fprintf(f.sb, s, args...) }

func (f *formatter) value(v *Value, depth int, top bool) {
	if v.err != nil {
		f.wf("(unreadable %v)", v.err)
		return
	}
	t := v.t
	switch t.kind {
	case kBool:
		u, err := v.uint()
		if f.errored(err) {
			return
		}
		f.w(strconv.FormatBool(u != 0))
	case kInt, kUint, kUntyped, kEnum:
		u, err := v.uint()
		if f.errored(err) {
			return
		}
		f.integer(v, u)
	case kFloat:
		x, err := v.float()
		if f.errored(err) {
			return
		}
		f.w(strconv.FormatFloat(x, 'g', -1, int(t.size*8)))
	case kComplex:
		b, err := v.bytes()
		if f.errored(err) {
			return
		}
		h := t.size / 2
		ft := &typ{kind: kFloat, size: h}
		re := v.sc.computed("", ft, b[:h])
		im := v.sc.computed("", ft, b[h:])
		x, _ := re.float()
		y, _ := im.float()
		f.wf("(%s + %si)", strconv.FormatFloat(x, 'g', -1, 64), strconv.FormatFloat(y, 'g', -1, 64))
	case kString:
		s, n, err := v.goString(MaxString)
		if f.errored(err) {
			return
		}
		f.w(strconv.Quote(s))
		if n > uint64(len(s)) {
			f.wf("...+%d more", n-uint64(len(s)))
		}
	case kPtr:
		f.pointer(v, depth, top)
	case kFunc:
		u, err := v.uint()
		if f.errored(err) {
			return
		}
		if u == 0 {
			f.w(t.name + " nil")
			return
		}
		f.w(v.sc.funcName(u))
	case kStruct:
		f.structure(v, depth, top)
	case kArray:
		f.w(t.name + " ")
		if t.size <= maxRead {
			// One read and one error for the whole array.
			if _, err := v.bytes(); f.errored(err) {
				return
			}
		}
		f.elems(v, v.Addr, t.elem, uint64(t.count), depth)
	case kSlice:
		data, n, c, err := v.sliceHeader()
		if f.errored(err) {
			return
		}
		f.wf("%s len: %d, cap: %d, ", t.name, n, c)
		if data == 0 {
			f.w("nil")
			return
		}
		f.elems(v, data, t.elem, n, depth)
	case kIface:
		f.iface(v, depth)
	case kMap:
		f.goMap(v, depth)
	case kChan:
		f.channel(v)
	case kVoid:
		f.w("void")
	default:
		f.w("?")
	}
}

func (f *formatter) errored(err error) bool {
	if err != nil {
		f.wf("(unreadable %v)", err)
		return true
	}
	return false
}

// integer prints an integer with the verb.
func (f *formatter) integer(v *Value, u uint64) {
	bits := uint(v.t.size * 8)
	if bits == 0 || bits > 64 {
		bits = 64
	}
	mask := uint64(1)<<bits - 1
	if bits == 64 {
		mask = ^uint64(0)
	}
	switch f.verb {
	case 'x':
		f.wf("%#x", u&mask)
	case 'o':
		f.wf("0%o", u&mask)
	case 'b', 't':
		f.wf("%b", u&mask)
	case 'u':
		f.wf("%d", u&mask)
	case 'd':
		f.wf("%d", int64(u))
	case 'c':
		f.char(u&mask, v.t.size)
	default:
		if v.t.kind == kEnum {
			if n, ok := v.t.enums[int64(u)]; ok {
				f.w(n)
				return
			}
		}
		if v.t.char {
			f.wf("%d ", int64(u))
			f.char(u&mask, v.t.size)
			return
		}
		if v.t.signed() {
			f.w(strconv.FormatInt(int64(u), 10))
		} else {
			f.w(strconv.FormatUint(u, 10))
		}
	}
}

// char prints a character as gdb does: C's escapes, octal for other
// bytes that do not print ('\000', '\370'), wider runes as Go quotes them.
func (f *formatter) char(u uint64, size int64) {
	f.w(charString(u, size))
}

func charString(u uint64, size int64) string {
	if esc, ok := cEscapes[u]; ok {
		return "'" + esc + "'"
	}
	switch {
	case u >= 0x20 && u < 0x7f:
		return "'" + string(rune(u)) + "'"
	case size == 1 || u < utf8.RuneSelf:
		return fmt.Sprintf("'\\%03o'", u&0xff)
	}
	return strconv.QuoteRune(rune(u))
}

var cEscapes = map[uint64]string{7: `\a`, 8: `\b`, 9: `\t`, 10: `\n`, 11: `\v`, 12: `\f`, 13: `\r`, 27: `\033`, '\\': `\\`, '\'': `\'`}

func (f *formatter) pointer(v *Value, depth int, top bool) {
	t := v.t
	u, err := v.uint()
	if f.errored(err) {
		return
	}
	if t.elem != nil && t.elem.char && t.elem.size == 1 {
		// C char*: gdb prints the address and the string.
		if u == 0 {
			f.w("0x0")
			return
		}
		s, done, err := v.sc.cString(u, 200)
		f.wf("%#x", u)
		if err != nil {
			f.wf(" <error: %v>", err)
			return
		}
		f.wf(" %s", strconv.Quote(s))
		if !done {
			f.w("...")
		}
		return
	}
	if u == 0 {
		f.w(t.name + " nil")
		return
	}
	// Pointers to composites print what they point to (one level);
	// pointers to scalars print as delve does, (*int)(0xc000012345).
	switch {
	case t.elem == nil || !top:
	case t.elem.kind == kStruct, t.elem.kind == kArray, t.elem.kind == kSlice, t.elem.kind == kMap,
		t.elem.kind == kIface, t.elem.kind == kString:
		f.w("*")
		f.value(v.sc.atAddr("*"+v.Name, t.elem, u), depth+1, true)
		return
	}
	f.wf("(%s)(%#x)", t.name, u)
}

func (f *formatter) structure(v *Value, depth int, top bool) {
	t := v.t
	f.w(t.name + " ")
	if depth >= maxDepth {
		f.w("{...}")
		return
	}
	if _, err := v.bytes(); f.errored(err) {
		return
	}
	f.w("{")
	for i, fl := range t.fields {
		if i > 0 {
			f.w(", ")
		}
		f.w(fl.name + ": ")
		c := v.fieldValue(fl)
		if c.t.kind == kPtr && (c.t.elem == nil || !c.t.elem.char) {
			// One level into pointers: fields show what they point to
			// only as {...}.
			u, err := c.uint()
			switch {
			case err != nil:
				f.errored(err)
			case u == 0:
				f.w(c.t.name + " nil")
			case c.t.elem != nil && c.t.elem.kind == kStruct:
				f.w("*" + c.t.elem.name + " {...}")
			default:
				f.wf("(%s)(%#x)", c.t.name, u)
			}
			continue
		}
		f.value(c, depth+1, false)
	}
	f.w("}")
}

// fieldValue returns field fl of struct v, bit fields included.
func (v *Value) fieldValue(fl field) *Value {
	c := v.sub(v.Name+"."+fl.name, fl.off, fl.t)
	if fl.bitSize != 0 {
		fc := fl
		c.bits = &fc
	}
	return c
}

// elems prints n elements of type et, from memory at addr (or from v's
// bytes when v is an array not in memory).
func (f *formatter) elems(v *Value, addr uint64, et *typ, n uint64, depth int) {
	if depth >= maxDepth {
		f.w("[...]")
		return
	}
	if f.verb == 's' && et.size == 1 {
		m := min(n, 4096)
		b := make([]byte, m)
		if v.t.kind == kArray && v.Addr == 0 {
			bb, err := v.bytes()
			if f.errored(err) {
				return
			}
			b = bb[:m]
		} else if err := v.sc.Mem.ReadMemory(addr, b); f.errored(err) {
			return
		}
		if i := strings.IndexByte(string(b), 0); i >= 0 && v.t.kind == kArray {
			b = b[:i]
		}
		f.w(strconv.Quote(string(b)))
		return
	}
	f.w("[")
	shown := min(n, MaxElems)
	for i := uint64(0); i < shown; i++ {
		if i > 0 {
			f.w(",")
		}
		var e *Value
		if v.t.kind == kArray {
			e = v.sub(fmt.Sprintf("%s[%d]", v.Name, i), int64(i)*et.size, et)
		} else {
			e = v.sc.atAddr(fmt.Sprintf("%s[%d]", v.Name, i), et, addr+i*uint64(et.size))
		}
		if e.t.kind == kPtr && (e.t.elem == nil || !e.t.elem.char) {
			f.pointer(e, depth+1, false)
			continue
		}
		f.value(e, depth+1, false)
	}
	if n > shown {
		f.wf(",...+%d more", n-shown)
	}
	f.w("]")
}

func (f *formatter) channel(v *Value) {
	if f.nilRef(v) {
		return
	}
	n, c, err := v.sc.chanLenCap(v)
	if f.errored(err) {
		return
	}
	f.wf("%s %d/%d", v.t.name, n, c)
}

// funcName names the function at a code address.
func (sc *Scope) funcName(pc uint64) string {
	if sc.inModule(pc, elf.PF_X) {
		if name, start, ok := sc.Module.Symbol(pc - sc.Bias); ok {
			if start+sc.Bias == pc {
				return name
			}
			return fmt.Sprintf("%s+%#x", name, pc-sc.Bias-start)
		}
	}
	return fmt.Sprintf("%#x", pc)
}

// JSON returns v for --json: {name, type, addr, value, children}, where
// value is the printed form of a scalar (or of the whole value when it
// has no parts to list) and children the parts of a struct, array, slice
// or pointer (up to MaxElems).
func (v *Value) JSON() any {
	return v.json(0, 0)
}

// FormatJSON is JSON with every integer in the format verb names, as
// Format prints it (0: the value's own).
func (v *Value) FormatJSON(verb byte) any {
	return v.json(0, verb)
}

func (v *Value) json(depth int, verb byte) map[string]any {
	m := map[string]any{"name": v.Name, "type": v.Type}
	if v.Addr != 0 {
		m["addr"] = fmt.Sprintf("%#x", v.Addr)
	}
	if v.err != nil {
		m["error"] = v.err.Error()
		return m
	}
	var kids []*Value
	if depth < maxDepth {
		kids = v.children()
	}
	if len(kids) == 0 {
		m["value"] = v.Format(verb)
		return m
	}
	switch v.t.kind {
	case kSlice:
		_, n, c, _ := v.sliceHeader()
		m["len"], m["cap"] = n, c
	case kArray:
		m["len"] = v.t.count
	}
	var cs []any
	for _, k := range kids {
		cs = append(cs, k.json(depth+1, verb))
	}
	m["children"] = cs
	return m
}

// children lists the parts of a composite value.
func (v *Value) children() []*Value {
	switch t := v.t; t.kind {
	case kStruct:
		var out []*Value
		for _, fl := range t.fields {
			c := v.fieldValue(fl)
			c.Name = fl.name
			out = append(out, c)
		}
		return out
	case kArray:
		var out []*Value
		for i := int64(0); i < min(t.count, MaxElems); i++ {
			out = append(out, v.sub(fmt.Sprintf("[%d]", i), i*t.elem.size, t.elem))
		}
		return out
	case kSlice:
		data, n, _, err := v.sliceHeader()
		if err != nil || data == 0 {
			return nil
		}
		var out []*Value
		for i := uint64(0); i < min(n, MaxElems); i++ {
			out = append(out, v.sc.atAddr(fmt.Sprintf("[%d]", i), t.elem, data+i*uint64(t.elem.size)))
		}
		return out
	case kPtr:
		u, err := v.uint()
		if err != nil || u == 0 || t.elem == nil || t.elem.kind == kVoid || t.elem.char {
			return nil
		}
		return []*Value{v.sc.atAddr("*"+v.Name, t.elem, u)}
	}
	return nil
}
