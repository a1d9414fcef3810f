package trace

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goabi"
	"github.com/taijidbg/taiji/internal/errs"
)

// RawEvent is one event as the BPF program wrote it.
type RawEvent struct {
	Time      uint64 // CLOCK_MONOTONIC ns
	Goroutine uint64
	G         uint64
	Depth     uint64
	Duration  uint64 // returns: ns since the paired entry; 0 if unmatched
	Pid, Tid  uint32
	Probe     uint32
	Flags     uint32
	Regs      []byte
	Stack     []byte
	Items     []Capture
	UStack    []uint64 // user stack PCs, innermost first (--stack)
	KStack    []uint64 // kernel stack PCs at the probe: the uprobe's trap path
}

// Capture is one item's bytes. Want is the length the program asked for
// (before --max-bytes); Bytes is nil if the memory was unreadable.
type Capture struct {
	Bytes      []byte
	Want       uint32
	Unreadable bool
}

// A FormatError reports a malformed event record (or kernel symbol table):
// where, the byte offset in it, what is wrong and the cause, if any (see
// Unwrap). Its message follows internal/errs:
// "trace: event at offset 0x38: size 3 out of range (have 80 bytes)".
type FormatError struct {
	Section string // "event" (a ring-buffer record) or "/proc/kallsyms"
	Offset  int64  // byte offset within Section
	Msg     string
	Err     error // the cause, or nil
}

func (e *FormatError) Error() string {
	return errs.Format("trace", "", e.Section, e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// ParseEvent parses an event record from the ring buffer. The BPF program
// writes its header, item headers and stack PCs in the kernel's byte order,
// which is this machine's: taiji traces the kernel it runs on. The saved
// registers and captured memory are the target's, in its arch's
// ByteOrder (decoder.uint).
func ParseEvent(b []byte) (*RawEvent, error) {
	le := binary.NativeEndian
	if len(b) < dataOff {
		return nil, &FormatError{Section: "event", Offset: 0, Msg: fmt.Sprintf("event of %d bytes is shorter than its header (%d)", len(b), dataOff)}
	}
	e := &RawEvent{
		Time: le.Uint64(b), Goroutine: le.Uint64(b[8:]), G: le.Uint64(b[16:]), Depth: le.Uint64(b[24:]),
		Duration: le.Uint64(b[32:]), Pid: le.Uint32(b[40:]), Tid: le.Uint32(b[44:]),
		Probe: le.Uint32(b[48:]), Flags: le.Uint32(b[52:]),
		Regs: b[regsOff:stackOff], Stack: b[stackOff:dataOff],
	}
	size, ustack, ulen, n := le.Uint32(b[56:]), le.Uint32(b[60:]), le.Uint32(b[64:]), le.Uint32(b[68:])
	if int(size) > len(b) || size < dataOff {
		return nil, &FormatError{Section: "event", Offset: 56, Msg: fmt.Sprintf("size %d out of range (have %d bytes)", size, len(b))}
	}
	b = b[:size]
	if n > maxItems {
		return nil, &FormatError{Section: "event", Offset: 68, Msg: fmt.Sprintf("%d items (at most %d)", n, maxItems)}
	}
	off := dataOff
	for i := uint32(0); i < n; i++ {
		if off+8 > len(b) {
			return nil, &FormatError{Section: "event", Offset: int64(off), Msg: "truncated item header"}
		}
		got, want := le.Uint32(b[off:]), le.Uint32(b[off+4:])
		c := Capture{Want: want}
		if got == math.MaxUint32 {
			c.Unreadable = true
			got = 0
		}
		if got > itemMax || off+8+int(got) > len(b) {
			return nil, &FormatError{Section: "event", Offset: int64(off), Msg: fmt.Sprintf("item of %d bytes overruns the event", got)}
		}
		if !c.Unreadable {
			c.Bytes = b[off+8 : off+8+int(got)]
		}
		e.Items = append(e.Items, c)
		off += 8 + int((got+7)&^7)
	}
	var err error
	if e.Flags&flagUstack != 0 {
		if e.UStack, err = pcs(b, 60, ustack, ulen, "user"); err != nil {
			return nil, err
		}
	}
	if e.Flags&flagKstack != 0 {
		if e.KStack, err = pcs(b, 72, le.Uint32(b[72:]), le.Uint32(b[76:]), "kernel"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// pcs reads the n bytes of PCs at off of b; hdrOff names the header field
// for errors.
func pcs(b []byte, hdrOff int, off, n uint32, what string) ([]uint64, error) {
	if uint64(off)+uint64(n) > uint64(len(b)) || n%8 != 0 || off < dataOff {
		return nil, &FormatError{Section: "event", Offset: int64(hdrOff), Msg: fmt.Sprintf("%s stack of %d bytes at %d overruns the event (%d bytes)", what, n, off, len(b))}
	}
	out := make([]uint64, 0, n/8)
	for i := uint32(0); i < n; i += 8 {
		out = append(out, binary.NativeEndian.Uint64(b[off+i:]))
	}
	return out, nil
}

// Values of decoded arguments. They print as Go-like text (String) and as
// the JSON of docs/json.md (MarshalJSON).
type (
	// Ptr is an address.
	Ptr uint64
	// Str is string or []byte contents; Len is the full length.
	Str struct {
		S         string
		Len       int64
		Truncated bool
	}
	// Unavailable explains why a value cannot be shown.
	Unavailable string
	// Object is a struct: fields in declaration order.
	Object []KV
	// KV is one struct field.
	KV struct {
		Key   string
		Value any
	}
	// SliceVal is a slice that is not a string: its header and first elements.
	SliceVal struct {
		Ptr      Ptr
		Len, Cap int64
		Elems    []any
	}
	// Iface is a non-nil interface: the dynamic type's name and value.
	Iface struct {
		Type  string
		Value any
	}
	// Container is a map or a chan: its address and element count.
	Container struct {
		Ptr Ptr
		Len any
	}
	// Elided is a value of the named type that lies deeper than taiji
	// decodes (goabi.MaxIndirect pointers, or maxDecodeDepth levels of
	// nesting): text "T{...}", JSON {"elided":"T"}.
	Elided string
)

func (p Ptr) String() string               { return "0x" + strconv.FormatUint(uint64(p), 16) }
func (p Ptr) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }
func (u Unavailable) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"unavailable": string(u)})
}
func (s Str) MarshalJSON() ([]byte, error) {
	if !s.Truncated {
		return json.Marshal(s.S)
	}
	return json.Marshal(map[string]any{"prefix": s.S, "len": s.Len, "truncated": true})
}
func (o Object) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv.Key)
		v, err := json.Marshal(kv.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
func (s SliceVal) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"ptr": s.Ptr, "len": s.Len, "cap": s.Cap, "elems": s.Elems})
}
func (i Iface) MarshalJSON() ([]byte, error) {
	m := map[string]any{"type": i.Type}
	if i.Value != nil {
		m["value"] = i.Value
	}
	return json.Marshal(m)
}
func (e Elided) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"elided": string(e)})
}
func (c Container) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"ptr": c.Ptr, "len": c.Len})
}

// Format renders a decoded value as Go-like text.
func Format(v any) string {
	var b strings.Builder
	format(&b, v)
	return b.String()
}

func format(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("nil")
	case Str:
		b.WriteString(strconv.Quote(v.S))
		if v.Truncated {
			fmt.Fprintf(b, "...(%d bytes)", v.Len)
		}
	case Unavailable:
		fmt.Fprintf(b, "<%s>", string(v))
	case Elided:
		b.WriteString(string(v) + "{...}")
	case Object:
		b.WriteByte('{')
		for i, kv := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(kv.Key + ":")
			format(b, kv.Value)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, e)
		}
		b.WriteByte(']')
	case SliceVal:
		fmt.Fprintf(b, "[len=%d cap=%d", v.Len, v.Cap)
		for i, e := range v.Elems {
			if i == 0 {
				b.WriteString(": ")
			} else {
				b.WriteString(", ")
			}
			format(b, e)
		}
		if int64(len(v.Elems)) < v.Len {
			b.WriteString(", ...")
		}
		b.WriteByte(']')
	case Iface:
		b.WriteString(v.Type)
		if v.Value != nil {
			b.WriteByte('(')
			format(b, v.Value)
			b.WriteByte(')')
		}
	case Container:
		fmt.Fprintf(b, "%v{len=", v.Ptr)
		format(b, v.Len)
		b.WriteByte('}')
	case json.Number:
		b.WriteString(string(v))
	default:
		fmt.Fprint(b, v)
	}
}

// decoder turns an event's bytes into values, walking the types as the
// planner did.
type decoder struct {
	a   *arch.Arch
	ev  *RawEvent
	sp  *sitePlan
	bin *Binary
	// biases gives the binary's load bias in the event's process (a PIE's
	// run-time addresses, such as an interface's type, are link-time
	// addresses plus it); nil means 0.
	biases *biases
}

// runtimeType returns the type whose descriptor is at run-time address
// typ in the event's process, or nil.
func (d *decoder) runtimeType(typ uint64) *goabi.Type {
	if d.biases == nil {
		return d.bin.RuntimeType(typ)
	}
	pid := int(d.ev.Pid)
	bias := d.biases.get(pid)
	t := d.bin.RuntimeType(typ - bias)
	if t == nil { // the process may have exec'd since: another ASLR base
		if nb, changed := d.biases.relearn(pid, bias); changed {
			t = d.bin.RuntimeType(typ - nb)
		}
	}
	return t
}

// runtimeTypeName is runtimeType's fallback: the descriptor's name alone.
func (d *decoder) runtimeTypeName(typ uint64) string {
	if d.biases == nil {
		return d.bin.RuntimeTypeName(typ)
	}
	return d.bin.RuntimeTypeName(typ - d.biases.get(int(d.ev.Pid)))
}

// bytes returns the size bytes at offset off of the value at s.
func (d *decoder) bytes(s source, off, size int64) ([]byte, bool) {
	buf, at, ok := s.loc(d.a, off, size)
	if !ok {
		return nil, false
	}
	var src []byte
	switch {
	case buf == bufRegs:
		src = d.ev.Regs
	case buf == bufStack:
		src = d.ev.Stack
	case buf-2 < len(d.ev.Items):
		src = d.ev.Items[buf-2].Bytes
	}
	if at < 0 || at+size > int64(len(src)) {
		return nil, false
	}
	return src[at : at+size], true
}

func (d *decoder) uint(s source, off, size int64) (uint64, bool) {
	b, ok := d.bytes(s, off, size)
	if !ok {
		return 0, false
	}
	return order(d.a).uint(b), true
}

func (d *decoder) item(path string) (Capture, bool) {
	k, ok := d.sp.paths[path]
	if !ok || k >= len(d.ev.Items) {
		return Capture{}, false
	}
	return d.ev.Items[k], true
}

// maxDecodeDepth bounds the nesting of a decoded value.
const maxDecodeDepth = 6

func (d *decoder) value(path string, t *goabi.Type, s source, depth int) any {
	if t == nil {
		return Unavailable("no type")
	}
	if depth > maxDecodeDepth || t.Elided {
		return Elided(t.Name)
	}
	ptr := int64(d.a.PtrSize)
	switch t.Kind {
	case reflect.Bool:
		v, ok := d.uint(s, 0, 1)
		if !ok {
			return Unavailable("not captured")
		}
		return v != 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v, ok := d.uint(s, 0, t.Size)
		if !ok {
			return Unavailable("not captured")
		}
		sh := 64 - 8*uint(t.Size)
		return json.Number(strconv.FormatInt(int64(v<<sh)>>sh, 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v, ok := d.uint(s, 0, t.Size)
		if !ok {
			return Unavailable("not captured")
		}
		return json.Number(strconv.FormatUint(v, 10))
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		if s.buf == bufRegs && len(s.pieces) > 0 && s.pieces[0].Reg >= 0 {
			return Unavailable("floating-point register, which eBPF cannot read")
		}
		v, ok := d.uint(s, 0, min(t.Size, 8))
		if !ok {
			return Unavailable("not captured")
		}
		if t.Kind == reflect.Float32 {
			return json.Number(strconv.FormatFloat(float64(math.Float32frombits(uint32(v))), 'g', -1, 32))
		}
		if t.Kind == reflect.Float64 {
			f := math.Float64frombits(v)
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return strconv.FormatFloat(f, 'g', -1, 64)
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return Unavailable("complex")
	case reflect.Pointer, reflect.UnsafePointer, reflect.Func:
		v, ok := d.uint(s, 0, ptr)
		if !ok {
			return Unavailable("not captured")
		}
		if v == 0 {
			return nil
		}
		if c, ok := d.item(path + "#cstr"); ok {
			return cString(c, v, d.sp.items[d.sp.paths[path+"#cstr"]].Max)
		}
		if c, ok := d.item(path + "*"); ok && t.Elem != nil && !c.Unreadable && int64(len(c.Bytes)) >= t.Elem.Size {
			return Object{{"ptr", Ptr(v)}, {"value", d.value(path+"*", t.Elem, source{buf: 2 + d.sp.paths[path+"*"]}, depth+1)}}
		}
		return Ptr(v)
	case reflect.String:
		return d.str(path, s)
	case reflect.Slice:
		p, ok1 := d.uint(s, 0, ptr)
		n, ok2 := d.uint(s, ptr, ptr)
		c, ok3 := d.uint(s, 2*ptr, ptr)
		if !ok1 || !ok2 || !ok3 {
			return Unavailable("not captured")
		}
		if t.Elem != nil && t.Elem.Size == 1 {
			return d.str(path, s)
		}
		sv := SliceVal{Ptr: Ptr(p), Len: int64(n), Cap: int64(c)}
		if k, ok := d.sp.paths[path]; ok && t.Elem != nil && t.Elem.Size > 0 && k < len(d.ev.Items) {
			got := int64(len(d.ev.Items[k].Bytes))
			for i := int64(0); i < int64(n) && (i+1)*t.Elem.Size <= got && i < maxElems; i++ {
				sv.Elems = append(sv.Elems, d.value(path+"["+itoa(i)+"]", t.Elem, source{buf: 2 + k, base: i * t.Elem.Size}, depth+1))
			}
		}
		return sv
	case reflect.Array:
		var out []any
		for i := int64(0); i < min(t.Len, maxElems); i++ {
			out = append(out, d.value(path+"["+itoa(i)+"]", t.Elem, s.shift(i*t.Elem.Size), depth+1))
		}
		if out == nil {
			out = []any{}
		}
		return out
	case reflect.Struct:
		o := Object{}
		for _, f := range t.Fields {
			o = append(o, KV{f.Name, d.value(path+"."+f.Name, f.Type, s.shift(f.Offset), depth+1)})
		}
		return o
	case reflect.Map, reflect.Chan:
		v, ok := d.uint(s, 0, ptr)
		if !ok {
			return Unavailable("not captured")
		}
		if v == 0 {
			return nil
		}
		c := Container{Ptr: Ptr(v), Len: Unavailable("not captured")}
		if it, ok := d.item(path + "#len"); ok && len(it.Bytes) >= int(ptr) {
			c.Len = json.Number(strconv.FormatUint(d.a.ByteOrder.Uint64(it.Bytes), 10))
		}
		return c
	case reflect.Interface:
		return d.iface(path, t, s, depth)
	}
	return Unavailable("unsupported type " + t.Name)
}

// cString decodes a C string capture at address p, read into max bytes:
// the string is shown up to max-2 bytes, and is longer than that exactly
// when the read filled all max bytes.
func cString(c Capture, p uint64, max uint32) any {
	if c.Unreadable {
		return Unavailable(fmt.Sprintf("unreadable memory at %#x", p))
	}
	b := c.Bytes
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	shown := int(max) - 2
	if shown < 0 {
		shown = 0
	}
	if len(b) > shown {
		b = b[:shown]
	}
	return Str{S: string(b), Len: int64(len(b)), Truncated: len(c.Bytes) >= int(max)}
}

func (d *decoder) str(path string, s source) any {
	ptr := int64(d.a.PtrSize)
	p, ok1 := d.uint(s, 0, ptr)
	n, ok2 := d.uint(s, ptr, ptr)
	if !ok1 || !ok2 {
		return Unavailable("not captured")
	}
	if n == 0 {
		return Str{}
	}
	c, ok := d.item(path)
	if !ok {
		return Unavailable("contents not captured")
	}
	if c.Unreadable {
		return Unavailable(fmt.Sprintf("unreadable memory at %#x", p))
	}
	return Str{S: string(c.Bytes), Len: int64(n), Truncated: int64(len(c.Bytes)) < int64(n)}
}

func (d *decoder) iface(path string, t *goabi.Type, s source, depth int) any {
	ptr := int64(d.a.PtrSize)
	w0, ok1 := d.uint(s, 0, ptr)
	w1, ok2 := d.uint(s, ptr, ptr)
	if !ok1 || !ok2 {
		return Unavailable("not captured")
	}
	if w0 == 0 {
		return nil
	}
	typ := w0
	if !t.IsEmptyInterface() {
		it, ok := d.item(path + "#itab")
		if !ok || len(it.Bytes) < int(2*ptr) {
			return Iface{Type: "?", Value: Ptr(w1)}
		}
		typ = d.a.ByteOrder.Uint64(it.Bytes[ptr:])
	}
	dyn := d.runtimeType(typ)
	if dyn == nil {
		// No DWARF for the type (a stripped binary, --sig): its name
		// still comes from the runtime's own descriptor.
		name := d.runtimeTypeName(typ)
		if name == "" {
			name = fmt.Sprintf("type@%#x", typ)
		}
		return Iface{Type: name, Value: Ptr(w1)}
	}
	out := Iface{Type: dyn.Name}
	data, okData := d.item(path + "#data")
	// Pointer-shaped types are stored in the data word itself.
	target := dyn
	if dyn.Kind == reflect.Pointer {
		target = dyn.Elem
	}
	if !okData || data.Unreadable || target == nil || target.Size > int64(len(data.Bytes)) {
		out.Value = Ptr(w1)
		return out
	}
	// Decode the pointee (or boxed value) from the captured bytes. A
	// leading string field's contents were captured speculatively.
	k := d.sp.paths[path+"#data"]
	sub := &decoder{a: d.a, ev: d.ev, bin: d.bin, biases: d.biases, sp: &sitePlan{paths: map[string]int{}}}
	if j, ok := d.sp.paths[path+"#str"]; ok {
		sub.sp.paths["v"] = j
		if target.Kind == reflect.Struct && len(target.Fields) > 0 && target.Fields[0].Offset == 0 {
			sub.sp.paths["v."+target.Fields[0].Name] = j
		}
	}
	out.Value = sub.value("v", target, source{buf: 2 + k}, depth+1)
	return out
}

// byteOrder reads integers of any size up to 8 bytes.
type byteOrder struct{ big bool }

func order(a *arch.Arch) byteOrder { return byteOrder{big: a.ByteOrder == binary.BigEndian} }

// uint returns the unsigned integer held in b (1 to 8 bytes).
func (o byteOrder) uint(b []byte) uint64 {
	var v uint64
	for i := range b {
		if o.big {
			v = v<<8 | uint64(b[i])
		} else {
			v = v<<8 | uint64(b[len(b)-1-i])
		}
	}
	return v
}
