package goruntime

import (
	"encoding/binary"
	"fmt"
	"io"
)

// tflagExtraStar is internal/abi.TFlagExtraStar: the name is stored with a
// leading '*' (shared with the pointer type's), which is not part of it.
const tflagExtraStar = 1 << 1

// TypeName returns the name of the Go type whose runtime type descriptor
// (internal/abi.Type; runtime._type before go1.21) is at addr in mem, as
// reflect.Type.String gives it ("*errors.errorString", "main.MyError").
// types is moduledata.types, the base the descriptor's name offset
// (nameOff) counts from. It needs no DWARF and no symbols: a stripped
// binary's interfaces are named with it.
//
// The descriptor's layout has not changed since go1.14 (internal/abi/type.go):
// Size_ and PtrBytes (uintptr each), Hash (uint32), TFlag, Align_,
// FieldAlign_ and Kind_ (a byte each), Equal and GCData (pointers), Str
// (int32 nameOff), PtrToThis. A name (internal/abi.Name) is a flags byte,
// the length as a uvarint (go1.17+), then the bytes. The error says what
// could not be read or does not look like a name.
func TypeName(mem io.ReaderAt, addr, types uint64, ptrSize int, order binary.ByteOrder) (string, error) {
	if ptrSize != 4 && ptrSize != 8 {
		return "", fmt.Errorf("goruntime: pointer size %d", ptrSize)
	}
	tflagAt := 2*ptrSize + 4
	strAt := 4*ptrSize + 8
	hdr := make([]byte, strAt+4)
	if _, err := mem.ReadAt(hdr, int64(addr)); err != nil {
		return "", fmt.Errorf("goruntime: type descriptor at %#x: %v", addr, err)
	}
	off := int32(order.Uint32(hdr[strAt:]))
	if off <= 0 {
		return "", fmt.Errorf("goruntime: type descriptor at %#x has name offset %d", addr, off)
	}
	name := make([]byte, 1+binary.MaxVarintLen32)
	at := types + uint64(off)
	if n, err := mem.ReadAt(name, int64(at)); n < 2 {
		return "", fmt.Errorf("goruntime: type name at %#x: %v", at, err)
	}
	size, k := binary.Uvarint(name[1:])
	if k <= 0 || size == 0 || size > 1<<12 {
		return "", fmt.Errorf("goruntime: no type name at %#x", at)
	}
	s := make([]byte, size)
	if _, err := mem.ReadAt(s, int64(at)+1+int64(k)); err != nil {
		return "", fmt.Errorf("goruntime: type name at %#x: %v", at, err)
	}
	if hdr[tflagAt]&tflagExtraStar != 0 && s[0] == '*' {
		s = s[1:]
	}
	if !printable(string(s)) {
		return "", fmt.Errorf("goruntime: no type name at %#x", at)
	}
	return string(s), nil
}
