package goabi

import (
	"debug/dwarf"
	"fmt"
	"reflect"
	"strings"
)

// Builtin returns the predeclared Go type with the given name (int64,
// string, []byte, error, ...) for pointer size ptr, or nil.
func Builtin(name string, ptr int64) *Type {
	scalar := func(k reflect.Kind, size int64) *Type {
		return &Type{Name: name, Kind: k, Size: size, Align: min(size, ptr)}
	}
	switch name {
	case "bool":
		return scalar(reflect.Bool, 1)
	case "int8":
		return scalar(reflect.Int8, 1)
	case "uint8", "byte":
		return scalar(reflect.Uint8, 1)
	case "int16":
		return scalar(reflect.Int16, 2)
	case "uint16":
		return scalar(reflect.Uint16, 2)
	case "int32", "rune":
		return scalar(reflect.Int32, 4)
	case "uint32":
		return scalar(reflect.Uint32, 4)
	case "int64":
		return scalar(reflect.Int64, 8)
	case "uint64":
		return scalar(reflect.Uint64, 8)
	case "int":
		return scalar(reflect.Int, ptr)
	case "uint":
		return scalar(reflect.Uint, ptr)
	case "uintptr":
		return scalar(reflect.Uintptr, ptr)
	case "float32":
		return scalar(reflect.Float32, 4)
	case "float64":
		return scalar(reflect.Float64, 8)
	case "complex64":
		return &Type{Name: name, Kind: reflect.Complex64, Size: 8, Align: 4}
	case "complex128":
		return &Type{Name: name, Kind: reflect.Complex128, Size: 16, Align: 8}
	case "string":
		return &Type{Name: name, Kind: reflect.String, Size: 2 * ptr, Align: ptr}
	case "error", "any", "interface{}":
		return &Type{Name: name, Kind: reflect.Interface, Size: 2 * ptr, Align: ptr}
	case "unsafe.Pointer":
		return scalar(reflect.UnsafePointer, ptr)
	}
	return nil
}

// IsEmptyInterface reports whether an interface type has no methods (its
// first word is the dynamic type itself, not an itab).
func (t *Type) IsEmptyInterface() bool {
	return t.Kind == reflect.Interface && (t.Name == "any" || t.Name == "interface {}" || t.Name == "interface{}" ||
		t.Name == "runtime.eface")
}

// FromDWARF converts the DWARF type at off. Go types carry DW_AT_go_kind;
// C types are classified from their DWARF tags and encodings.
func FromDWARF(d *dwarf.Data, off dwarf.Offset, ptr int64) (t *Type, err error) {
	defer func() {
		if r := recover(); r != nil { // debug/dwarf on corrupt input
			t, err = nil, fmt.Errorf("goabi: DWARF type at %#x: %v", off, r)
		}
	}()
	c := &conv{d: d, ptr: ptr, seen: map[dwarf.Offset]*Type{}}
	return c.typ(off, 0, 0)
}

const (
	attrGoKind        dwarf.Attr = 0x2900
	attrGoRuntimeType dwarf.Attr = 0x2904
	attrGoElem        dwarf.Attr = 0x2902
)

type conv struct {
	d    *dwarf.Data
	ptr  int64
	seen map[dwarf.Offset]*Type
}

// The type graph is walked to a bounded depth; recursive types are cut by
// seen. Behind MaxIndirect pointers (or slice, map, chan elements) a type
// is Elided: a value printer reads memory at most a few pointers deep, so
// what lies further is never shown, and the ABI needs only the values
// passed, not what they point to. Value nesting (fields, arrays) is what
// the ABI assigns, and is followed up to maxNest levels, beyond which only
// corrupt DWARF goes.
const (
	MaxIndirect = 4
	maxNest     = 100
)

// elided stands for the type of entry e where the walk stops: its name and
// size, nothing of its structure.
func elided(e *dwarf.Entry, ptr int64) *Type {
	t := &Type{Elided: true}
	t.Name, _ = e.Val(dwarf.AttrName).(string)
	t.Size, _ = e.Val(dwarf.AttrByteSize).(int64)
	t.Align = min(max(t.Size, 1), ptr)
	return t
}

func (c *conv) entry(off dwarf.Offset) (*dwarf.Entry, *dwarf.Reader, error) {
	r := c.d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil {
		return nil, nil, err
	}
	if e == nil {
		return nil, nil, fmt.Errorf("goabi: no DWARF entry at %#x", off)
	}
	return e, r, nil
}

// typ converts the type at off, reached through ind indirections and depth
// levels of nesting in all.
func (c *conv) typ(off dwarf.Offset, ind, depth int) (*Type, error) {
	if t, ok := c.seen[off]; ok {
		return t, nil
	}
	if depth > maxNest {
		return nil, fmt.Errorf("goabi: DWARF type at %#x nests more than %d levels deep", off, maxNest)
	}
	e, r, err := c.entry(off)
	if err != nil {
		return nil, err
	}
	if ind > MaxIndirect {
		// Not cached in seen: a shorter path may reach the same type.
		return elided(e, c.ptr), nil
	}
	t := &Type{}
	c.seen[off] = t
	t.Name, _ = e.Val(dwarf.AttrName).(string)
	size, _ := e.Val(dwarf.AttrByteSize).(int64)
	t.Size = size
	if rt, ok := e.Val(attrGoRuntimeType).(uint64); ok {
		t.RuntimeType = rt
	}
	kind, isGo := e.Val(attrGoKind).(int64)
	ref, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
	// sub converts a type held by value (a field, an array element, what
	// a typedef names); elem one reached through a pointer.
	sub := func(o dwarf.Offset) (*Type, error) {
		if o == 0 {
			return nil, nil
		}
		return c.typ(o, ind, depth+1)
	}
	elem := func(o dwarf.Offset) (*Type, error) {
		if o == 0 {
			return nil, nil
		}
		return c.typ(o, ind+1, depth+1)
	}
	switch e.Tag {
	case dwarf.TagTypedef, dwarf.TagConstType, dwarf.TagVolatileType, dwarf.TagRestrictType:
		under, err := sub(ref)
		if err != nil {
			return nil, err
		}
		if under == nil {
			return nil, fmt.Errorf("goabi: DWARF typedef %s at %#x has no type", t.Name, off)
		}
		name := t.Name
		*t = *under
		// ".param0" and friends are a shaped function's type parameters:
		// the shape (go.shape.int) says more.
		if name != "" && e.Tag == dwarf.TagTypedef && !strings.HasPrefix(name, ".") {
			t.Name = name
		}
		if t.Name == "error" || (t.Kind == reflect.Struct && (under.Name == "runtime.iface" || under.Name == "runtime.eface")) {
			t.Kind, t.Fields = reflect.Interface, nil
		}
		// A map or chan is a typedef (with its Go kind) of a pointer to the
		// runtime's header: runtime.hmap before go1.24, a swiss-table
		// internal/runtime/maps.Map since, runtime.hchan. What a caller
		// shows is the pointer and the element count, which is the first
		// word of each header (hmap.count, Map.used, hchan.qcount), not
		// the header's fields.
		if isGo && (reflect.Kind(kind) == reflect.Map || reflect.Kind(kind) == reflect.Chan) {
			t.Kind, t.Size, t.Align, t.Fields, t.Elem = reflect.Kind(kind), c.ptr, c.ptr, nil, nil
		}
		return t, nil
	case dwarf.TagBaseType:
		enc, _ := e.Val(dwarf.AttrEncoding).(int64)
		t.Align = min(max(size, 1), c.ptr)
		if isGo {
			t.Kind = reflect.Kind(kind)
			return t, nil
		}
		switch enc {
		case 0x2: // boolean
			t.Kind = reflect.Bool
		case 0x4: // float
			t.Kind = map[int64]reflect.Kind{4: reflect.Float32, 8: reflect.Float64}[size]
		case 0x5, 0x6, 0xd: // signed, signed_char
			t.Kind = map[int64]reflect.Kind{1: reflect.Int8, 2: reflect.Int16, 4: reflect.Int32, 8: reflect.Int64}[size]
		case 0x7, 0x8, 0x10: // unsigned, unsigned_char, UTF
			t.Kind = map[int64]reflect.Kind{1: reflect.Uint8, 2: reflect.Uint16, 4: reflect.Uint32, 8: reflect.Uint64}[size]
		}
		return t, nil
	case dwarf.TagPointerType:
		t.Kind, t.Size, t.Align = reflect.Pointer, c.ptr, c.ptr
		if isGo && reflect.Kind(kind) == reflect.UnsafePointer {
			t.Kind = reflect.UnsafePointer
		}
		if t.Name == "" {
			t.Name = "*"
		}
		if t.Elem, err = elem(ref); err != nil {
			return nil, err
		}
		if t.Name == "*" && t.Elem != nil {
			t.Name = "*" + t.Elem.Name
		}
		return t, nil
	case dwarf.TagArrayType:
		t.Kind = reflect.Array
		if t.Elem, err = sub(ref); err != nil {
			return nil, err
		}
		if t.Elem == nil {
			return nil, fmt.Errorf("goabi: DWARF array at %#x has no element type", off)
		}
		t.Align = t.Elem.Align
		if e.Children {
			for {
				ce, err := r.Next()
				if err != nil || ce == nil || ce.Tag == 0 {
					break
				}
				if ce.Tag == dwarf.TagSubrangeType {
					if n, ok := ce.Val(dwarf.AttrCount).(int64); ok {
						t.Len = n
					} else if ub, ok := ce.Val(dwarf.AttrUpperBound).(int64); ok {
						t.Len = ub + 1
					}
				}
			}
		}
		if t.Size == 0 {
			t.Size = t.Len * t.Elem.Size
		}
		return t, nil
	case dwarf.TagStructType, dwarf.TagUnionType:
		t.Kind = reflect.Struct
		if isGo {
			t.Kind = reflect.Kind(kind)
		}
		var fields []Field
		var refs []dwarf.Offset
		if e.Children {
			for {
				ce, err := r.Next()
				if err != nil {
					return nil, err
				}
				if ce == nil || ce.Tag == 0 {
					break
				}
				if ce.Tag != dwarf.TagMember {
					if ce.Children {
						r.SkipChildren()
					}
					continue
				}
				name, _ := ce.Val(dwarf.AttrName).(string)
				fo, _ := ce.Val(dwarf.AttrDataMemberLoc).(int64)
				fref, _ := ce.Val(dwarf.AttrType).(dwarf.Offset)
				fields = append(fields, Field{Name: name, Offset: fo})
				refs = append(refs, fref)
			}
		}
		// Resolve field types after the member walk: resolving moves readers.
		for i := range fields {
			ft, err := sub(refs[i])
			if err != nil {
				return nil, err
			}
			if ft == nil {
				return nil, fmt.Errorf("goabi: DWARF member %s at %#x has no type", fields[i].Name, off)
			}
			fields[i].Type = ft
			t.Align = max(t.Align, ft.Align)
		}
		t.Align = max(t.Align, 1)
		switch {
		case t.Kind == reflect.String || t.Name == "string":
			t.Kind = reflect.String
		case t.Kind == reflect.Slice || strings.HasPrefix(t.Name, "[]"):
			t.Kind = reflect.Slice
			if len(fields) > 0 && fields[0].Type.Elem != nil {
				t.Elem = fields[0].Type.Elem
			}
		case t.Kind == reflect.Interface || t.Name == "runtime.iface" || t.Name == "runtime.eface":
			t.Kind = reflect.Interface
		default:
			t.Fields = fields
		}
		return t, nil
	case dwarf.TagSubroutineType:
		t.Kind, t.Size, t.Align = reflect.Func, c.ptr, c.ptr
		return t, nil
	case dwarf.TagEnumerationType:
		t.Kind = map[int64]reflect.Kind{1: reflect.Int8, 2: reflect.Int16, 4: reflect.Int32, 8: reflect.Int64}[size]
		t.Align = max(size, 1)
		return t, nil
	}
	if isGo {
		// Go's DWARF describes maps, chans and funcs as typedefs of
		// pointers; the kind alone says what the ABI needs.
		t.Kind = reflect.Kind(kind)
		switch t.Kind {
		case reflect.Map, reflect.Chan, reflect.Func, reflect.Pointer, reflect.UnsafePointer:
			t.Size, t.Align = c.ptr, c.ptr
		}
		return t, nil
	}
	return nil, fmt.Errorf("goabi: unsupported DWARF type tag %v at %#x", e.Tag, off)
}
