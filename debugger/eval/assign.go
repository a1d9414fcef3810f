package eval

import (
	"fmt"
	"math"
	"strings"
)

// Assign sets lhs = rhs. lhs is a variable (in memory, or in one register
// of frame 0), memory through a conversion (*(*uint32)(0x7bf6c)), or a
// $register (frame 0, through Scope.SetReg). rhs is any expression,
// converted to lhs's type as Go would an untyped constant: integers are
// truncated to lhs's size and written in the target's byte order (so a
// big-endian target gets its bytes right). Memory is written with
// Scope.Mem.WriteMemory, which keeps breakpoints planted over the bytes.
func Assign(sc *Scope, lhs, rhs string) (err error) {
	if sc == nil || sc.Arch == nil {
		return fmt.Errorf("no scope to assign in")
	}
	le, err := parse(lhs)
	if err != nil {
		return err
	}
	re, err := parse(rhs)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("set %s = %s: internal error: %v", lhs, rhs, p)
		}
	}()
	dst, err := sc.eval(le)
	if err != nil {
		return err
	}
	if dst.err != nil {
		return dst.err
	}
	src, err := sc.eval(re)
	if err != nil {
		return err
	}
	lhs = strings.TrimSpace(lhs)
	b, err := sc.encode(src, dst.t)
	if err != nil {
		return fmt.Errorf("cannot assign %s to %s (%s): %v", strings.TrimSpace(rhs), lhs, dst.t.name, err)
	}
	switch {
	case dst.bits != nil:
		return fmt.Errorf("cannot assign to %s: setting bit fields is not supported", lhs)
	case dst.partial:
		return fmt.Errorf("cannot assign to %s: part of it is optimized out", lhs)
	case dst.isPC || dst.inReg:
		if sc.SetReg == nil {
			return fmt.Errorf("cannot assign to %s: registers of this frame are read-only (only frame 0's can be set)", lhs)
		}
		if len(b) > 8 {
			return fmt.Errorf("cannot assign to %s: %d bytes do not fit a register", lhs, len(b))
		}
		var r [8]byte
		u := uint64(0)
		copy(r[:], b)
		switch len(b) {
		case 1:
			u = uint64(b[0])
		case 2:
			u = uint64(sc.order().Uint16(b))
		case 4:
			u = uint64(sc.order().Uint32(b))
		case 8:
			u = sc.order().Uint64(b)
		}
		// A variable narrower than its register keeps the register's
		// upper bits, as gdb does.
		if !dst.isPC && len(b) < 8 {
			old, _ := sc.reg(dst.reg)
			mask := uint64(1)<<(8*len(b)) - 1
			u = old&^mask | u&mask
		}
		reg := dst.reg
		if dst.isPC {
			reg = -1 // the PC, not a DWARF-numbered register on every arch
			if sc.Arch.PC != 0 {
				reg = sc.Arch.PC
			}
		}
		if err := sc.SetReg(reg, u); err != nil {
			return fmt.Errorf("set %s: %v", lhs, err)
		}
		if dst.isPC {
			sc.Regs.PC = u
		} else {
			sc.Regs.Set(reg, u)
		}
		return nil
	case dst.Addr != 0:
		if err := sc.Mem.WriteMemory(dst.Addr, b); err != nil {
			return fmt.Errorf("cannot write %d bytes at %#x: %s", len(b), dst.Addr, memReason(err))
		}
		return nil
	}
	return fmt.Errorf("cannot assign to %s: it is neither in memory nor in a register", lhs)
}

// encode returns the bytes of src as a value of type t.
func (sc *Scope) encode(src *Value, t *typ) ([]byte, error) {
	switch t.kind {
	case kInt, kUint, kEnum, kBool, kPtr, kChan, kMap, kFunc:
		if t.kind == kBool && src.t.kind != kBool {
			return nil, fmt.Errorf("need a bool")
		}
		if t.kind != kBool && src.t.kind == kBool {
			return nil, fmt.Errorf("a bool is not a number")
		}
		if src.t.kind == kString || src.t.kind == kStruct || src.t.kind == kArray || src.t.kind == kSlice {
			return nil, fmt.Errorf("mismatched types %s and %s", src.t.name, t.name)
		}
		var u uint64
		var err error
		if src.t.kind == kFloat {
			f, ferr := src.float()
			u, err = uint64(int64(f)), ferr
		} else {
			u, err = src.uint()
		}
		if err != nil {
			return nil, err
		}
		if t.size > 8 || t.size <= 0 {
			return nil, fmt.Errorf("%d-byte integers are not supported", t.size)
		}
		return uintBytes(u, t.size, sc.Arch), nil
	case kFloat:
		f, err := src.float()
		if err != nil {
			return nil, err
		}
		if t.size == 4 {
			return uintBytes(uint64(math.Float32bits(float32(f))), 4, sc.Arch), nil
		}
		return uintBytes(math.Float64bits(f), 8, sc.Arch), nil
	}
	if src.t.name == t.name && src.t.size == t.size && src.lit == nil {
		return src.bytes()
	}
	return nil, fmt.Errorf("only numbers, booleans, pointers and values of the same type can be assigned")
}
