package eval

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"strings"
)

// kind is what the evaluator knows of a type's shape. Go's composite kinds
// (slice, string, interface, map, chan) are recognised from the names the Go
// linker gives their DWARF structs (cmd/link/internal/ld/dwarf.go).
type kind uint8

const (
	kInvalid kind = iota
	kBool
	kInt
	kUint
	kFloat
	kComplex
	kPtr     // also unsafe.Pointer (elem nil) and C's void*
	kStruct  // also C unions (union set)
	kArray   // fixed length
	kSlice   // Go slice: {array, len, cap}
	kString  // Go string: {str, len}
	kIface   // Go interface: runtime.iface (tab, data) or runtime.eface (_type, data)
	kMap     // Go map: a pointer to the runtime's map header
	kChan    // Go channel: a pointer to runtime.hchan
	kFunc    // a function value or pointer
	kEnum    // C enum
	kVoid    // C void (size 0)
	kUntyped // an untyped constant of an expression (int or float)
)

// typ is a type as the evaluator uses it: builtin types need no DWARF,
// DWARF types are converted once per module (see typeCache).
type typ struct {
	kind   kind
	name   string // as printed: "int", "main.T", "*main.T", "struct foo"
	size   int64
	elem   *typ    // kPtr, kArray, kSlice, kChan (element), kMap (value)
	key    *typ    // kMap
	count  int64   // kArray
	fields []field // kStruct (also the raw layout of slices, strings, interfaces, maps' headers)
	union  bool
	eface  bool             // kIface: runtime.eface (no itab)
	enums  map[int64]string // kEnum
	hdr    *typ             // kMap, kChan: the runtime struct the pointer points to
	char   bool             // a C char type (char* prints as a string)
	dw     dwarf.Type       // nil for builtin and synthesized types
}

type field struct {
	name    string
	off     int64
	t       *typ
	bitSize int64 // 0 unless a bit field
	bitOff  int64 // DWARF 4 DataBitOffset, from the low bit
	embed   bool
}

func (t *typ) String() string { return t.name }

// signed reports whether integer values of t are signed.
func (t *typ) signed() bool { return t.kind == kInt || t.kind == kEnum || t.kind == kUntyped }

func (t *typ) isInteger() bool {
	return t.kind == kInt || t.kind == kUint || t.kind == kEnum
}

func (t *typ) field(name string) (field, bool) {
	for _, f := range t.fields {
		if f.name == name {
			return f, true
		}
	}
	// Go's embedded fields are promoted.
	for _, f := range t.fields {
		if f.embed && f.t.kind == kStruct {
			if g, ok := f.t.field(name); ok {
				g.off += f.off
				return g, true
			}
		}
	}
	return field{}, false
}

// align returns t's alignment as Go lays values out (maps' slots need it).
func (t *typ) align(ptrSize int64) int64 {
	switch t.kind {
	case kStruct:
		a := int64(1)
		for _, f := range t.fields {
			a = max(a, f.t.align(ptrSize))
		}
		return a
	case kArray:
		if t.elem != nil {
			return t.elem.align(ptrSize)
		}
	case kSlice, kString, kIface, kMap, kChan, kPtr, kFunc:
		return ptrSize
	case kComplex:
		return min(t.size/2, 8)
	}
	return max(1, min(t.size, 8))
}

// builtins are the Go types every expression may name, DWARF or not. int,
// uint and uintptr take the target's pointer size (see builtin).
var builtinKinds = map[string]struct {
	k    kind
	size int64 // 0: the pointer size
}{
	"bool": {kBool, 1}, "int8": {kInt, 1}, "int16": {kInt, 2}, "int32": {kInt, 4}, "int64": {kInt, 8},
	"uint8": {kUint, 1}, "uint16": {kUint, 2}, "uint32": {kUint, 4}, "uint64": {kUint, 8},
	"byte": {kUint, 1}, "rune": {kInt, 4}, "int": {kInt, 0}, "uint": {kUint, 0}, "uintptr": {kUint, 0},
	"float32": {kFloat, 4}, "float64": {kFloat, 8}, "complex64": {kComplex, 8}, "complex128": {kComplex, 16},
	"string": {kString, 0}, "unsafe.Pointer": {kPtr, 0},
}

// builtin returns the named builtin type for a target with ptrSize-byte
// pointers, or nil.
func builtin(name string, ptrSize int64) *typ {
	b, ok := builtinKinds[name]
	if !ok {
		return nil
	}
	t := &typ{kind: b.k, name: name, size: b.size}
	if t.size == 0 {
		t.size = ptrSize
	}
	switch b.k {
	case kString:
		u := builtin("uint8", ptrSize)
		t.size = 2 * ptrSize
		t.fields = []field{{name: "str", t: ptrTo(u, ptrSize)}, {name: "len", off: ptrSize, t: builtin("int", ptrSize)}}
	}
	return t
}

func ptrTo(t *typ, ptrSize int64) *typ {
	name := "*" + t.name
	if t.kind == kVoid {
		name = "unsafe.Pointer"
	}
	return &typ{kind: kPtr, name: name, size: ptrSize, elem: t}
}

func sliceOf(t *typ, ptrSize int64) *typ {
	i := builtin("int", ptrSize)
	return &typ{kind: kSlice, name: "[]" + t.name, size: 3 * ptrSize, elem: t, fields: []field{
		{name: "array", t: ptrTo(t, ptrSize)}, {name: "len", off: ptrSize, t: i}, {name: "cap", off: 2 * ptrSize, t: i}}}
}

func arrayOf(t *typ, n int64) *typ {
	return &typ{kind: kArray, name: fmt.Sprintf("[%d]%s", n, t.name), size: n * t.size, elem: t, count: n}
}

// typeCache converts DWARF types of one module; recursive types are
// handled by entering a type before converting its parts.
type typeCache struct {
	ptrSize int64
	order   binary.ByteOrder
	m       map[dwarf.Type]*typ
	// Typedefs and qualifiers copy their underlying type; one met while
	// that type is still being converted (a struct whose field points
	// back to it through the typedef Go emits for every named type) is
	// copied again when the outermost conversion ends.
	depth  int
	copies []func()
}

func (c *typeCache) conv(dt dwarf.Type) *typ {
	c.depth++
	t := c.conv1(dt)
	if c.depth--; c.depth == 0 {
		for len(c.copies) > 0 {
			fs := c.copies
			c.copies = nil
			for i := len(fs) - 1; i >= 0; i-- {
				fs[i]()
			}
		}
	}
	return t
}

// alias makes t a copy of u under t's name.
func (c *typeCache) alias(t, u *typ, dt dwarf.Type) {
	name := t.name
	copyIt := func() {
		*t = *u
		t.name, t.dw = name, dt
	}
	copyIt()
	c.copies = append(c.copies, copyIt)
}

func (c *typeCache) conv1(dt dwarf.Type) *typ {
	if dt == nil {
		return &typ{kind: kVoid, name: "void"}
	}
	if t, ok := c.m[dt]; ok {
		return t
	}
	t := &typ{dw: dt, size: dt.Size(), name: goName(dt)}
	if t.size < 0 {
		t.size = 0
	}
	c.m[dt] = t
	switch d := dt.(type) {
	case *dwarf.BoolType:
		t.kind = kBool
	case *dwarf.IntType:
		t.kind = kInt
		t.char = d.Name == "char" || d.Name == "signed char"
	case *dwarf.CharType:
		t.kind, t.char = kInt, true
	case *dwarf.UcharType:
		t.kind, t.char = kUint, true
	case *dwarf.UintType:
		t.kind = kUint
		t.char = d.Name == "unsigned char"
	case *dwarf.FloatType:
		t.kind = kFloat
	case *dwarf.ComplexType:
		t.kind = kComplex
	case *dwarf.AddrType:
		t.kind = kUint
	case *dwarf.UnspecifiedType, *dwarf.VoidType:
		t.kind = kVoid
	case *dwarf.PtrType:
		t.kind, t.size = kPtr, c.ptrSize
		if _, void := d.Type.(*dwarf.VoidType); void || d.Type == nil {
			t.elem = &typ{kind: kVoid, name: "void"}
		} else {
			t.elem = c.conv(d.Type)
		}
		if t.name == "" || t.name == "*" {
			t.name = "*" + t.elem.name
		}
	case *dwarf.FuncType:
		t.kind, t.size = kFunc, c.ptrSize
	case *dwarf.EnumType:
		t.kind = kEnum
		t.enums = map[int64]string{}
		for _, v := range d.Val {
			t.enums[v.Val] = v.Name
		}
	case *dwarf.ArrayType:
		t.kind, t.count = kArray, d.Count
		t.elem = c.conv(d.Type)
		if t.count < 0 {
			t.count = 0
		}
		if t.name == "" {
			t.name = fmt.Sprintf("[%d]%s", t.count, t.elem.name)
		}
	case *dwarf.QualType:
		t.name = dt.String()
		c.alias(t, c.conv(d.Type), dt)
	case *dwarf.TypedefType:
		c.typedef(t, d)
	case *dwarf.StructType:
		c.structType(t, d)
	default:
		t.kind = kVoid
	}
	return t
}

// typedef resolves a typedef. Go names its interface, map and channel
// types with typedefs of runtime structures (error -> runtime.iface,
// map[string]int -> *hash<string,int>, chan int -> *hchan<int>).
func (c *typeCache) typedef(t *typ, d *dwarf.TypedefType) {
	u := c.conv(d.Type)
	name := t.name
	switch {
	case strings.HasPrefix(name, "map[") && u.kind == kPtr:
		*t = typ{kind: kMap, name: name, size: c.ptrSize, hdr: u.elem, dw: d}
		c.mapTypes(t)
	case strings.HasPrefix(name, "chan ") || strings.HasPrefix(name, "<-chan ") || strings.HasPrefix(name, "chan<- "):
		*t = typ{kind: kChan, name: name, size: c.ptrSize, hdr: u.elem, dw: d}
	default:
		c.alias(t, u, d)
	}
}

// mapTypes finds a Go map's key and value types from the runtime struct
// its DWARF names: hash<K,V> (bucket maps, up to go1.23) whose buckets
// field points to bucket<K,V>, or the swiss map (go1.24+), for which the
// linker emits "map<K,V>" pointing to groups of slots.
func (c *typeCache) mapTypes(t *typ) {
	h := t.hdr
	if h == nil {
		return
	}
	if f, ok := h.field("buckets"); ok && f.t.kind == kPtr && f.t.elem != nil {
		b := f.t.elem
		if k, ok := b.field("keys"); ok && k.t.kind == kArray {
			t.key = k.t.elem
		}
		if v, ok := b.field("values"); ok && v.t.kind == kArray {
			t.elem = v.t.elem
		} else if v, ok := b.field("elems"); ok && v.t.kind == kArray {
			t.elem = v.t.elem
		}
	}
	if f, ok := h.field("dirPtr"); ok && f.t.kind == kPtr && f.t.elem != nil {
		// dirPtr's DWARF type points to the group type, whose slots
		// array holds {key, elem} structs.
		g := f.t.elem
		if g.kind == kPtr && g.elem != nil { // *table in some releases
			g = g.elem
		}
		if s, ok := g.field("slots"); ok && s.t.kind == kArray && s.t.elem != nil {
			if k, ok := s.t.elem.field("key"); ok {
				t.key = k.t
			}
			if v, ok := s.t.elem.field("elem"); ok {
				t.elem = v.t
			}
		}
	}
}

// structType converts a struct or union, recognising Go's runtime shapes.
func (c *typeCache) structType(t *typ, d *dwarf.StructType) {
	t.kind = kStruct
	t.union = d.Kind == "union"
	for _, f := range d.Field {
		ft := c.conv(f.Type)
		fl := field{name: f.Name, off: f.ByteOffset, t: ft, bitSize: f.BitSize, embed: f.Name == ft.name || strings.HasSuffix(ft.name, "."+f.Name)}
		if f.BitSize > 0 && f.BitSize <= 64 {
			c.bitField(&fl, f)
		}
		t.fields = append(t.fields, fl)
	}
	name := t.name
	switch {
	case name == "string" && len(t.fields) == 2:
		t.kind = kString
	case strings.HasPrefix(name, "[]") && len(t.fields) == 3:
		t.kind = kSlice
		t.elem = t.fields[0].t.elem
	case name == "runtime.iface" || name == "runtime.eface":
		t.kind, t.eface = kIface, name == "runtime.eface"
	case d.Kind != "struct" && d.Kind != "union":
	default:
		// Go's struct names carry a package qualifier, C's never do:
		// C structs print as "struct foo".
		if d.StructName != "" && !strings.Contains(name, ".") {
			t.name = d.Kind + " " + d.StructName
		}
	}
}

// bitField places a bit field: fl.off is the byte holding its first bit,
// fl.bitOff that bit's number in memory order (from the low bit on a
// little-endian target, from the high bit on a big-endian one, as DWARF
// 4's DW_AT_data_bit_offset counts), and fl.t is resized to the smallest
// 1, 2, 4 or 8 bytes holding all its bits.
func (c *typeCache) bitField(fl *field, f *dwarf.StructField) {
	var dbo int64
	switch {
	case f.ByteSize == 0: // DWARF 4+: DW_AT_data_bit_offset
		dbo = f.DataBitOffset
	case c.order == binary.BigEndian: // DWARF 2/3: from the storage unit's high bit
		dbo = 8*f.ByteOffset + f.BitOffset
	default:
		dbo = 8*f.ByteOffset + 8*f.ByteSize - f.BitOffset - f.BitSize
	}
	fl.off, fl.bitOff = dbo/8, dbo%8
	n := int64(1)
	for n < 8 && 8*n < fl.bitOff+f.BitSize {
		n *= 2
	}
	st := *fl.t
	st.size = n
	fl.t = &st
}

// goName is a DWARF type's name as users write it.
func goName(dt dwarf.Type) string {
	switch d := dt.(type) {
	case *dwarf.StructType:
		if d.StructName != "" {
			return d.StructName
		}
		return d.Kind + " {...}"
	case *dwarf.EnumType:
		if d.EnumName != "" {
			return d.EnumName
		}
		return "enum"
	case *dwarf.TypedefType:
		return d.Name
	}
	if n := dt.Common().Name; n != "" {
		return n
	}
	return dt.String()
}
