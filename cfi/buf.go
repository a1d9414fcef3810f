package cfi

import (
	"encoding/binary"

	"github.com/taijidbg/taiji/internal/leb128"
)

// buf reads one section's bytes with bounds checks. Like debug/dwarf's buf
// the first error is sticky: after it every read returns zero, so parsing
// code checks err once at the end of a record instead of after each field.
type buf struct {
	sec   string
	data  []byte // the whole section
	off   int    // current offset in data
	end   int    // reads stop here (end of the current record)
	order binary.ByteOrder
	err   *FormatError
}

func newBuf(sec string, data []byte, off, end int, order binary.ByteOrder) buf {
	b := buf{sec: sec, data: data, off: off, end: end, order: order}
	if off < 0 || end > len(data) || off > end {
		b.error("out of bounds")
	}
	return b
}

func (b *buf) error(msg string) {
	if b.err == nil {
		b.err = &FormatError{Section: b.sec, Offset: int64(b.off), Msg: msg}
	}
	b.off = b.end
}

// need reports whether n more bytes are available, recording an error if not.
func (b *buf) need(n int) bool {
	if b.err != nil {
		return false
	}
	if n < 0 || b.end-b.off < n {
		b.error("unexpected end of data")
		return false
	}
	return true
}

func (b *buf) u8() uint8 {
	if !b.need(1) {
		return 0
	}
	v := b.data[b.off]
	b.off++
	return v
}

func (b *buf) u16() uint16 {
	if !b.need(2) {
		return 0
	}
	v := b.order.Uint16(b.data[b.off:])
	b.off += 2
	return v
}

func (b *buf) u32() uint32 {
	if !b.need(4) {
		return 0
	}
	v := b.order.Uint32(b.data[b.off:])
	b.off += 4
	return v
}

func (b *buf) u64() uint64 {
	if !b.need(8) {
		return 0
	}
	v := b.order.Uint64(b.data[b.off:])
	b.off += 8
	return v
}

// uint reads an unsigned integer of size 1, 2, 4 or 8 bytes.
func (b *buf) uint(size int) uint64 {
	switch size {
	case 1:
		return uint64(b.u8())
	case 2:
		return uint64(b.u16())
	case 4:
		return uint64(b.u32())
	case 8:
		return b.u64()
	}
	b.error("unsupported integer size")
	return 0
}

func (b *buf) uleb() uint64 {
	if b.err != nil {
		return 0
	}
	v, n := leb128.Uint(b.data[b.off:b.end])
	if n == 0 {
		b.error("unexpected end of data")
		return 0
	}
	b.off += n
	return v
}

func (b *buf) sleb() int64 {
	if b.err != nil {
		return 0
	}
	v, n := leb128.Int(b.data[b.off:b.end])
	if n == 0 {
		b.error("unexpected end of data")
		return 0
	}
	b.off += n
	return v
}

// bytes returns the next n bytes (aliasing data).
func (b *buf) bytes(n uint64) []byte {
	if n > uint64(b.end-b.off) {
		b.error("block extends past end of record")
		return nil
	}
	if !b.need(int(n)) {
		return nil
	}
	v := b.data[b.off : b.off+int(n) : b.off+int(n)]
	b.off += int(n)
	return v
}

// cstring reads a NUL-terminated string.
func (b *buf) cstring() string {
	if b.err != nil {
		return ""
	}
	for i := b.off; i < b.end; i++ {
		if b.data[i] == 0 {
			s := string(b.data[b.off:i])
			b.off = i + 1
			return s
		}
	}
	b.error("unterminated string")
	return ""
}

// Pointer encodings (DW_EH_PE_*), from the LSB "Linux Standard Base Core
// Specification", section "DWARF Extensions".
const (
	peAbsptr  = 0x00
	peUleb128 = 0x01
	peUdata2  = 0x02
	peUdata4  = 0x03
	peUdata8  = 0x04
	peSigned  = 0x08
	peSleb128 = 0x09
	peSdata2  = 0x0a
	peSdata4  = 0x0b
	peSdata8  = 0x0c

	pePcrel   = 0x10
	peTextrel = 0x20
	peDatarel = 0x30
	peFuncrel = 0x40
	peAligned = 0x50

	peIndirect = 0x80
	peOmit     = 0xff
)

// ptrBases are the base addresses the DW_EH_PE applications are relative to.
type ptrBases struct {
	secAddr uint64 // link address of data[0], for pcrel
	text    uint64 // textrel
	data    uint64 // datarel
	fn      uint64 // funcrel: the start of the current function
	ptrSize int
}

// encSize returns the fixed size of an encoding's value format, or 0 when
// the format has variable length (LEB128) or is invalid.
func encSize(enc uint8, ptrSize int) int {
	switch enc & 0x0f {
	case peAbsptr, peSigned:
		return ptrSize
	case peUdata2, peSdata2:
		return 2
	case peUdata4, peSdata4:
		return 4
	case peUdata8, peSdata8:
		return 8
	}
	return 0
}

// value reads the value part of an encoded pointer (no application).
func (b *buf) encValue(enc uint8, ptrSize int) uint64 {
	switch enc & 0x0f {
	case peAbsptr:
		return b.uint(ptrSize)
	case peSigned:
		return signExtend(b.uint(ptrSize), ptrSize)
	case peUleb128:
		return b.uleb()
	case peUdata2:
		return uint64(b.u16())
	case peUdata4:
		return uint64(b.u32())
	case peUdata8:
		return b.u64()
	case peSleb128:
		return uint64(b.sleb())
	case peSdata2:
		return uint64(int64(int16(b.u16())))
	case peSdata4:
		return uint64(int64(int32(b.u32())))
	case peSdata8:
		return b.u64()
	}
	b.error("unknown pointer encoding")
	return 0
}

func signExtend(v uint64, size int) uint64 {
	switch size {
	case 1:
		return uint64(int64(int8(v)))
	case 2:
		return uint64(int64(int16(v)))
	case 4:
		return uint64(int64(int32(v)))
	}
	return v
}

// ptr reads a pointer encoded with enc and applies its base. Indirect
// pointers are returned undereferenced together with indirect=true: the
// only indirect pointer in CFI is the personality routine, which an
// unwinder skips, so no target memory is needed here.
func (b *buf) ptr(enc uint8, bases *ptrBases) (v uint64, indirect bool) {
	if enc == peOmit {
		return 0, false
	}
	if enc&0x70 == peAligned {
		// Aligned to the pointer size in the address space.
		addr := bases.secAddr + uint64(b.off)
		ps := uint64(bases.ptrSize)
		if pad := (ps - addr%ps) % ps; pad > 0 {
			b.bytes(pad)
		}
		v = b.uint(bases.ptrSize)
		return v, enc&peIndirect != 0
	}
	fieldAddr := bases.secAddr + uint64(b.off)
	v = b.encValue(enc, bases.ptrSize)
	switch enc & 0x70 {
	case peAbsptr:
	case pePcrel:
		v += fieldAddr
	case peTextrel:
		v += bases.text
	case peDatarel:
		v += bases.data
	case peFuncrel:
		v += bases.fn
	default:
		b.error("unknown pointer encoding application")
	}
	if bases.ptrSize == 4 {
		v &= 0xffffffff
	}
	return v, enc&peIndirect != 0
}
