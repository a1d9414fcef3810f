// Package goabi says where a function's arguments and results live at its
// entry and at its return: which registers and stack slots hold each value,
// under Go's ABIInternal (cmd/compile/abi-internal.md), Go's older
// stack-only ABI0, or the platform C ABI (integer classes only).
//
// Types come from DWARF (FromDWARF) or from a signature the user writes
// (ParseSig), so stripped binaries can be decoded too. The assignment does
// not use DWARF location lists: at a function's entry of an optimized build
// they are often empty, while the ABI is exact.
package goabi

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/taijidbg/taiji/arch"
)

// Type is a value type as the ABI and a value printer see it. Kind uses
// reflect's numbering, which is also DWARF's DW_AT_go_kind.
type Type struct {
	Name   string
	Kind   reflect.Kind
	Size   int64
	Align  int64
	Elem   *Type   // Pointer, Slice, Array, Chan, Map (value)
	Len    int64   // Array
	Fields []Field // Struct
	// RuntimeType is the link-time address of the Go runtime's type
	// descriptor (DW_AT_go_runtime_type), 0 if unknown.
	RuntimeType uint64
	// Elided marks a type the DWARF walk did not enter, beyond MaxIndirect
	// pointers: Name and Size are known, Kind is reflect.Invalid and
	// nothing of its structure is. Values of it are shown as elided.
	Elided bool
}

// Field is one field of a struct type.
type Field struct {
	Name   string
	Type   *Type
	Offset int64
}

func (t *Type) String() string {
	if t == nil {
		return "?"
	}
	return t.Name
}

// Param is one argument or result.
type Param struct {
	Name string
	Type *Type
}

// Piece is part of a value held in one register or one stack slot.
type Piece struct {
	Reg    int   // DWARF register number, or -1 for the stack
	Stack  int64 // stack pieces: offset from SP at entry (and at RET)
	Offset int64 // where this piece starts within the value
	Size   int64
	Float  bool // in a floating-point register
}

// Loc is where a whole value lives: several registers, or one stack range.
type Loc struct {
	Pieces []Piece
}

// OnStack reports whether the value was assigned to the stack.
func (l Loc) OnStack() bool { return len(l.Pieces) == 1 && l.Pieces[0].Reg < 0 }

// ABI names a calling convention.
type ABI int

const (
	ABIInternal ABI = iota // Go 1.17+ register ABI (where the arch has one)
	ABI0                   // Go's stack ABI
	ABIC                   // the platform C ABI, integer and pointer classes
)

// Assign computes the locations of args and results under abi on arch a.
func Assign(a *arch.Arch, abi ABI, args, results []Param) (argLocs, resLocs []Loc, err error) {
	for _, p := range append(append([]Param{}, args...), results...) {
		if p.Type == nil {
			return nil, nil, fmt.Errorf("goabi: parameter %s has no type", p.Name)
		}
	}
	switch abi {
	case ABIC:
		return assignC(a, args, results)
	case ABI0:
		return assignGo(a, nil, nil, args, results)
	}
	return assignGo(a, a.GoIntArgs, a.GoFloatArgs, args, results)
}

// assignGo implements abi-internal.md's algorithm; with no registers it is
// ABI0 (every value on the stack, same alignment rules).
func assignGo(a *arch.Arch, ints, floats []int, args, results []Param) ([]Loc, []Loc, error) {
	ptr := int64(a.PtrSize)
	var stack int64 // offset in the stack sequence S
	assign := func(ps []Param) []Loc {
		var locs []Loc
		var st state
		st.ints, st.floats, st.ptr = ints, floats, ptr
		for _, p := range ps {
			saveI, saveF := st.i, st.f
			st.pieces = nil
			if p.Type.Size > 0 && st.reg(p.Type, 0) {
				locs = append(locs, Loc{Pieces: st.pieces})
				continue
			}
			st.i, st.f = saveI, saveF
			stack = alignUp(stack, p.Type.Align)
			locs = append(locs, Loc{Pieces: []Piece{{Reg: -1, Stack: a.GoStackArgs + stack, Size: p.Type.Size}}})
			stack += p.Type.Size
		}
		stack = alignUp(stack, ptr)
		return locs
	}
	argLocs := assign(args)
	resLocs := assign(results)
	return argLocs, resLocs, nil
}

type state struct {
	ints, floats []int
	i, f         int
	ptr          int64
	pieces       []Piece
}

// reg register-assigns a value of type t found at offset off of the
// whole value; false means it does not fit (the caller resets I and FP).
func (s *state) reg(t *Type, off int64) bool {
	switch t.Kind {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Chan, reflect.Func:
		for n := int64(0); n < t.Size; n += s.ptr { // two registers for int64 on 32-bit
			if !s.intReg(off+n, min(s.ptr, t.Size-n)) {
				return false
			}
		}
		return true
	case reflect.Float32, reflect.Float64:
		return s.floatReg(off, t.Size)
	case reflect.Complex64, reflect.Complex128:
		return s.floatReg(off, t.Size/2) && s.floatReg(off+t.Size/2, t.Size/2)
	case reflect.String, reflect.Interface:
		return s.intReg(off, s.ptr) && s.intReg(off+s.ptr, s.ptr)
	case reflect.Slice:
		return s.intReg(off, s.ptr) && s.intReg(off+s.ptr, s.ptr) && s.intReg(off+2*s.ptr, s.ptr)
	case reflect.Struct:
		for _, f := range t.Fields {
			if f.Type == nil || !s.reg(f.Type, off+f.Offset) {
				return false
			}
		}
		return true
	case reflect.Array:
		switch t.Len {
		case 0:
			return true
		case 1:
			return t.Elem != nil && s.reg(t.Elem, off)
		}
		return false
	}
	return false
}

func (s *state) intReg(off, size int64) bool {
	if s.i >= len(s.ints) {
		return false
	}
	s.pieces = append(s.pieces, Piece{Reg: s.ints[s.i], Offset: off, Size: size})
	s.i++
	return true
}

func (s *state) floatReg(off, size int64) bool {
	if s.f >= len(s.floats) {
		return false
	}
	s.pieces = append(s.pieces, Piece{Reg: s.floats[s.f], Offset: off, Size: size, Float: true})
	s.f++
	return true
}

// assignC handles the integer class of the C ABIs (System V x86-64,
// AAPCS64): scalars and pointers up to a register each, in order. Values
// of other classes end the assignment: they and what follows get no Loc
// (an empty Pieces list), shown as unavailable rather than guessed.
func assignC(a *arch.Arch, args, results []Param) ([]Loc, []Loc, error) {
	one := func(ps []Param, regs []int) []Loc {
		locs := make([]Loc, len(ps))
		i := 0
		for k, p := range ps {
			if !cInteger(p.Type) || i >= len(regs) {
				break
			}
			locs[k] = Loc{Pieces: []Piece{{Reg: regs[i], Size: p.Type.Size}}}
			i++
		}
		return locs
	}
	return one(args, a.CIntArgs), one(results, a.CIntResults), nil
}

func cInteger(t *Type) bool {
	switch t.Kind {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Pointer, reflect.UnsafePointer:
		return t.Size <= 8
	}
	return false
}

func alignUp(n, a int64) int64 {
	if a <= 1 {
		return n
	}
	return (n + a - 1) / a * a
}

// Describe renders a location for people: "rax", "rdi+rsi", "8(SP)".
func Describe(a *arch.Arch, l Loc) string {
	if len(l.Pieces) == 0 {
		return "unavailable"
	}
	var s []string
	for _, p := range l.Pieces {
		if p.Reg < 0 {
			s = append(s, fmt.Sprintf("%d(SP)", p.Stack))
		} else {
			s = append(s, a.RegName(p.Reg))
		}
	}
	return strings.Join(s, "+")
}
