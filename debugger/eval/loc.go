package eval

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/taijidbg/taiji/cfi"
	"github.com/taijidbg/taiji/internal/leb128"
)

// DW_OP_* codes this file handles itself (DWARF 5, section 7.7.1); the
// stack machine proper is cfi.Eval's.
const (
	opAddr          = 0x03
	opConst1u       = 0x08
	opConst1s       = 0x09
	opConst2u       = 0x0a
	opConst2s       = 0x0b
	opConst4u       = 0x0c
	opConst4s       = 0x0d
	opConst8u       = 0x0e
	opConst8s       = 0x0f
	opConstu        = 0x10
	opConsts        = 0x11
	opPick          = 0x15
	opPlusUconst    = 0x23
	opBra           = 0x28
	opSkip          = 0x2f
	opReg0          = 0x50
	opReg31         = 0x6f
	opBreg0         = 0x70
	opBreg31        = 0x8f
	opRegx          = 0x90
	opFbreg         = 0x91
	opBregx         = 0x92
	opPiece         = 0x93
	opDerefSize     = 0x94
	opXderefSize    = 0x95
	opCallFrameCFA  = 0x9c
	opBitPiece      = 0x9d
	opImplicitValue = 0x9e
	opStackValue    = 0x9f
	opAddrx         = 0xa1
	opConstx        = 0xa2
	opEntryValue    = 0xa3
	opGNUEntryValue = 0xf3
	opGNUAddrIndex  = 0xfb
	opGNUConstIndex = 0xfc
	opFormTLS       = 0x9b
	opGNUPushTLS    = 0xe0
	opCall2         = 0x98
	opCall4         = 0x99
	opCallRef       = 0x9a
)

// pieceKind says where one piece of a variable lives.
type pieceKind uint8

const (
	inMemory pieceKind = iota
	inRegister
	isValue     // DW_OP_stack_value: the value itself, no location
	isBytes     // DW_OP_implicit_value
	isOptimized // an empty piece: the compiler kept no copy
)

type piece struct {
	kind  pieceKind
	size  int64 // bytes; 0 for the whole (single piece) value
	addr  uint64
	reg   int
	val   uint64
	bytes []byte
}

// memReader adapts Memory to io.ReaderAt for cfi.Eval.
type memReader struct{ m Memory }

func (r memReader) ReadAt(p []byte, off int64) (int, error) {
	if r.m == nil {
		return 0, io.EOF
	}
	if err := r.m.ReadMemory(uint64(off), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// locContext is what a location expression may refer to.
type locContext struct {
	sc        *Scope
	in        *info
	cu        *dwarf.Entry
	frameBase func() (uint64, error) // DW_AT_frame_base, nil outside a function
}

// evalLocation runs a DWARF location description and returns its pieces.
// DW_OP_call_frame_cfa, DW_OP_fbreg, DW_OP_addr (plus the load bias) and
// DW_OP_addrx are replaced by constants so cfi.Eval's stack machine runs
// the rest; register locations, DW_OP_stack_value, DW_OP_implicit_value
// and DW_OP_piece are handled here.
func (lc *locContext) evalLocation(expr []byte) ([]piece, error) {
	if len(expr) == 0 {
		return []piece{{kind: isOptimized}}, nil
	}
	var out []piece
	start := 0
	for off := 0; off < len(expr); {
		op := expr[off]
		n, err := opLen(expr[off:], lc.sc.ptrSize())
		if err != nil {
			return nil, err
		}
		if op == opPiece || op == opBitPiece {
			size, m := leb128.Uint(expr[off+1:])
			if op == opBitPiece {
				if size%8 != 0 {
					return nil, fmt.Errorf("bit pieces of %d bits not supported", size)
				}
				size /= 8
			}
			if m == 0 {
				return nil, fmt.Errorf("truncated DW_OP_piece")
			}
			p, err := lc.evalPiece(expr[start:off])
			if err != nil {
				return nil, err
			}
			p.size = int64(size)
			out = append(out, p)
			start = off + n
		}
		off += n
	}
	if start < len(expr) || len(out) == 0 {
		p, err := lc.evalPiece(expr[start:])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (lc *locContext) evalPiece(e []byte) (piece, error) {
	sc := lc.sc
	if len(e) == 0 {
		return piece{kind: isOptimized}, nil
	}
	switch op := e[0]; {
	case op >= opReg0 && op <= opReg31 && len(e) == 1:
		return piece{kind: inRegister, reg: int(op - opReg0)}, nil
	case op == opRegx:
		r, n := leb128.Uint(e[1:])
		if n > 0 && 1+n == len(e) {
			return piece{kind: inRegister, reg: int(min(r, 1<<16))}, nil
		}
	case op == opImplicitValue:
		l, n := leb128.Uint(e[1:])
		if n == 0 || uint64(len(e)-1-n) < l {
			return piece{}, fmt.Errorf("truncated DW_OP_implicit_value")
		}
		return piece{kind: isBytes, bytes: e[1+n : 1+n+int(l)]}, nil
	case op == opEntryValue || op == opGNUEntryValue:
		return piece{}, errOptimized("its value at entry is not recoverable here")
	}
	stackValue := false
	if e[len(e)-1] == opStackValue {
		// stack_value takes no operand, so a trailing 0x9f byte can
		// still be an operand of the op before: check by walking.
		if last, err := lastOp(e, sc.ptrSize()); err == nil && last == len(e)-1 {
			stackValue = true
			e = e[:len(e)-1]
		}
	}
	code, err := lc.rewrite(e)
	if err != nil {
		return piece{}, err
	}
	regs := sc.Regs
	v, err := cfi.Eval(code, &regs, memReader{sc.Mem}, sc.Arch)
	if err != nil {
		return piece{}, err
	}
	if stackValue {
		return piece{kind: isValue, val: v}, nil
	}
	return piece{kind: inMemory, addr: v}, nil
}

// rewrite replaces the operations cfi.Eval has no context for by constants.
func (lc *locContext) rewrite(e []byte) ([]byte, error) {
	sc := lc.sc
	var out []byte
	changed, branches := false, false
	konst := func(v uint64) {
		out = append(out, opConst8u)
		out = binary.LittleEndian.AppendUint64(out, 0)
		sc.Arch.ByteOrder.PutUint64(out[len(out)-8:], v)
	}
	for off := 0; off < len(e); {
		n, err := opLen(e[off:], sc.ptrSize())
		if err != nil {
			return nil, err
		}
		op := e[off]
		switch op {
		case opCallFrameCFA:
			cfa, err := sc.cfa()
			if err != nil {
				return nil, err
			}
			konst(cfa)
			changed = true
		case opFbreg:
			if lc.frameBase == nil {
				return nil, fmt.Errorf("DW_OP_fbreg outside a function")
			}
			fb, err := lc.frameBase()
			if err != nil {
				return nil, fmt.Errorf("frame base: %w", err)
			}
			o, _ := leb128.Int(e[off+1:])
			konst(fb + uint64(o))
			changed = true
		case opAddr:
			a := readUint(sc.Arch.ByteOrder, e[off+1:off+n])
			konst(a + sc.Bias)
			changed = true
		case opAddrx, opGNUAddrIndex, opConstx, opGNUConstIndex:
			i, _ := leb128.Uint(e[off+1:])
			a, err := lc.in.debugAddr(lc.cu, i, sc.ptrSize())
			if err != nil {
				return nil, err
			}
			if op == opAddrx || op == opGNUAddrIndex {
				a += sc.Bias
			}
			konst(a)
			changed = true
		case opFormTLS, opGNUPushTLS:
			return nil, fmt.Errorf("thread-local variables are not supported")
		case opCall2, opCall4, opCallRef, opEntryValue, opGNUEntryValue:
			return nil, errOptimized(fmt.Sprintf("DWARF operation %#x is not supported", op))
		case opBra, opSkip:
			branches = true
			out = append(out, e[off:off+n]...)
		default:
			out = append(out, e[off:off+n]...)
		}
		off += n
	}
	if changed && branches {
		return nil, fmt.Errorf("location expressions with branches and frame-relative operations are not supported")
	}
	return out, nil
}

func readUint(o binary.ByteOrder, b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(o.Uint16(b))
	case 4:
		return uint64(o.Uint32(b))
	case 8:
		return o.Uint64(b)
	}
	return 0
}

// lastOp returns the offset of e's last operation.
func lastOp(e []byte, ptrSize int) (int, error) {
	last := 0
	for off := 0; off < len(e); {
		n, err := opLen(e[off:], ptrSize)
		if err != nil {
			return 0, err
		}
		last = off
		off += n
	}
	return last, nil
}

// opLen returns the length in bytes of the operation at the start of e,
// operands included (DWARF 5 section 7.7.1 and the GNU extensions).
func opLen(e []byte, ptrSize int) (int, error) {
	op := e[0]
	uleb := func(at int) int {
		if at > len(e) {
			return -1
		}
		_, n := leb128.Uint(e[at:])
		if n == 0 {
			return -1
		}
		return n
	}
	n := 1
	switch {
	case op >= opBreg0 && op <= opBreg31:
		n += uleb(1)
	case op == opAddr:
		n += ptrSize
	case op == opConst1u, op == opConst1s, op == opPick, op == opDerefSize, op == opXderefSize:
		n++
	case op == opConst2u, op == opConst2s, op == opBra, op == opSkip, op == opCall2:
		n += 2
	case op == opConst4u, op == opConst4s, op == opCall4:
		n += 4
	case op == opConst8u, op == opConst8s:
		n += 8
	case op == opConstu, op == opConsts, op == opPlusUconst, op == opRegx, op == opFbreg, op == opPiece,
		op == opAddrx, op == opConstx, op == opGNUAddrIndex, op == opGNUConstIndex:
		n += uleb(1)
	case op == opBregx, op == opBitPiece:
		a := uleb(1)
		if a < 0 {
			return 0, fmt.Errorf("truncated DWARF expression")
		}
		b := uleb(1 + a)
		n += a + b
		if b < 0 {
			n = -1
		}
	case op == opImplicitValue, op == opEntryValue, op == opGNUEntryValue:
		// A ULEB length, then that many bytes (a value or a DWARF expression).
		a := uleb(1)
		l, _ := leb128.Uint(e[1:])
		if a < 0 || l > uint64(len(e)) {
			return 0, fmt.Errorf("truncated DWARF expression at op %#x", op)
		}
		n += a + int(l)
	case op == opCallRef:
		n += 4
	case op == 0xa4, op == 0xf4: // DW_OP_const_type: ULEB type, 1-byte size, that many bytes
		a := uleb(1)
		if a < 0 || 1+a >= len(e) {
			return 0, fmt.Errorf("truncated DWARF expression")
		}
		n += a + 1 + int(e[1+a])
	case op == 0xa5, op == 0xf5: // DW_OP_regval_type: ULEB reg, ULEB type
		a := uleb(1)
		if a < 0 {
			return 0, fmt.Errorf("truncated DWARF expression")
		}
		n += a + uleb(1+a)
	case op == 0xa6, op == 0xf6: // DW_OP_deref_type: 1 byte, ULEB
		n += 1 + uleb(2)
	case op == 0xa8, op == 0xa9, op == 0xf7, op == 0xf9: // convert, reinterpret: ULEB
		n += uleb(1)
	case op == 0xa0: // DW_OP_implicit_pointer: 4-byte ref, SLEB
		n += 4 + uleb(5)
	}
	if n <= 0 || n > len(e) {
		return 0, fmt.Errorf("truncated DWARF expression at op %#x", op)
	}
	return n, nil
}

// debugAddr reads entry i of the unit's .debug_addr table.
func (in *info) debugAddr(cu *dwarf.Entry, i uint64, ptrSize int) (uint64, error) {
	data, _, ok := in.m.SectionFrom(true, ".debug_addr")
	if !ok {
		return 0, fmt.Errorf("DW_OP_addrx without .debug_addr")
	}
	base := uint64(8)
	if cu != nil {
		if b, ok := cu.Val(dwarf.AttrAddrBase).(int64); ok {
			base = uint64(b)
		}
	}
	at := base + i*uint64(ptrSize)
	if at+uint64(ptrSize) > uint64(len(data)) || at < base {
		return 0, fmt.Errorf(".debug_addr entry %d out of range", i)
	}
	return readUint(in.order, data[at:at+uint64(ptrSize)]), nil
}

// locationExpr returns the location expression of variable e that holds
// at the file address pc: DW_AT_location's exprloc, or the entry of its
// location list (DWARF 4 .debug_loc, DWARF 5 .debug_loclists) covering pc.
// A nil slice with no error means no location covers pc: optimized out.
func (in *info) locationExpr(cu, e *dwarf.Entry, attr dwarf.Attr, pc uint64) ([]byte, error) {
	f := e.AttrField(attr)
	if f == nil {
		return nil, nil
	}
	switch v := f.Val.(type) {
	case []byte:
		return v, nil
	case int64:
		if f.Class == dwarf.ClassLocListPtr {
			return in.locList(cu, uint64(v), false, pc)
		}
		if f.Class == dwarf.ClassLocList {
			return in.locList(cu, uint64(v), true, pc)
		}
	case uint64: // DW_FORM_loclistx
		return in.locList(cu, v, true, pc)
	}
	return nil, fmt.Errorf("unsupported location form (class %v)", f.Class)
}

// cuVersion reads the DWARF version from the unit header just before the
// unit DIE (version 5 headers are 12 bytes, earlier ones 11, 32-bit DWARF).
func (in *info) cuVersion(cu *dwarf.Entry) int {
	data, _, ok := in.m.SectionFrom(true, ".debug_info")
	if !ok || cu == nil {
		return 4
	}
	off := int(cu.Offset)
	if off >= 8 && in.order.Uint16(data[off-8:]) == 5 {
		return 5
	}
	return 4
}

func (in *info) cuBase(cu *dwarf.Entry) uint64 {
	if cu == nil {
		return 0
	}
	if b, ok := cu.Val(dwarf.AttrLowpc).(uint64); ok {
		return b
	}
	return 0
}

// locList walks one location list for the entry covering pc.
func (in *info) locList(cu *dwarf.Entry, off uint64, indexed bool, pc uint64) ([]byte, error) {
	ptr := int(in.tc.ptrSize)
	base := in.cuBase(cu)
	if in.cuVersion(cu) < 5 && !indexed {
		data, _, ok := in.m.SectionFrom(true, ".debug_loc")
		if !ok {
			return nil, fmt.Errorf("location list without .debug_loc")
		}
		maxAddr := ^uint64(0) >> (64 - 8*ptr)
		for at := off; ; {
			if at+uint64(2*ptr) > uint64(len(data)) {
				return nil, fmt.Errorf(".debug_loc: list at %#x runs past the section", off)
			}
			lo := readUint(in.order, data[at:at+uint64(ptr)])
			hi := readUint(in.order, data[at+uint64(ptr):at+uint64(2*ptr)])
			at += uint64(2 * ptr)
			if lo == 0 && hi == 0 {
				return nil, nil
			}
			if lo == maxAddr {
				base = hi
				continue
			}
			if at+2 > uint64(len(data)) {
				return nil, fmt.Errorf(".debug_loc: truncated entry")
			}
			n := uint64(in.order.Uint16(data[at:]))
			at += 2
			if at+n > uint64(len(data)) {
				return nil, fmt.Errorf(".debug_loc: truncated entry")
			}
			if base+lo <= pc && pc < base+hi {
				return data[at : at+n], nil
			}
			at += n
		}
	}
	data, _, ok := in.m.SectionFrom(true, ".debug_loclists")
	if !ok {
		return nil, fmt.Errorf("location list without .debug_loclists")
	}
	if indexed {
		lb := uint64(12)
		if b, ok := cu.Val(dwarf.AttrLoclistsBase).(int64); ok {
			lb = uint64(b)
		}
		at := lb + 4*off
		if at+4 > uint64(len(data)) {
			return nil, fmt.Errorf(".debug_loclists: index %d out of range", off)
		}
		off = lb + uint64(in.order.Uint32(data[at:]))
	}
	b := &lbuf{d: data, off: off, order: in.order}
	addrx := func(i uint64) uint64 {
		a, err := in.debugAddr(cu, i, ptr)
		if err != nil {
			b.err = err
		}
		return a
	}
	for b.err == nil {
		kind := b.u8()
		var lo, hi uint64
		bounded := true
		switch kind {
		case 0: // DW_LLE_end_of_list
			return nil, b.err
		case 1: // DW_LLE_base_addressx
			base = addrx(b.uleb())
			continue
		case 2: // DW_LLE_startx_endx
			lo, hi = addrx(b.uleb()), addrx(b.uleb())
		case 3: // DW_LLE_startx_length
			lo = addrx(b.uleb())
			hi = lo + b.uleb()
		case 4: // DW_LLE_offset_pair
			lo, hi = base+b.uleb(), base+b.uleb()
		case 5: // DW_LLE_default_location
			bounded = false
		case 6: // DW_LLE_base_address
			base = b.addr(ptr)
			continue
		case 7: // DW_LLE_start_end
			lo, hi = b.addr(ptr), b.addr(ptr)
		case 8: // DW_LLE_start_length
			lo = b.addr(ptr)
			hi = lo + b.uleb()
		case 9: // DW_LLE_GNU_view_pair: location views, skipped
			b.uleb()
			b.uleb()
			continue
		default:
			return nil, fmt.Errorf(".debug_loclists: unknown entry kind %d at %#x", kind, b.off-1)
		}
		n := b.uleb()
		expr := b.bytes(n)
		if b.err != nil {
			break
		}
		if !bounded || (lo <= pc && pc < hi) {
			return expr, nil
		}
	}
	return nil, b.err
}

// lbuf reads a location list with bounds checks; the first error sticks.
type lbuf struct {
	d     []byte
	off   uint64
	order binary.ByteOrder
	err   error
}

func (b *lbuf) need(n uint64) bool {
	if b.err == nil && (b.off+n > uint64(len(b.d)) || b.off+n < b.off) {
		b.err = fmt.Errorf(".debug_loclists: list runs past the section at %#x", b.off)
	}
	return b.err == nil
}

func (b *lbuf) u8() uint8 {
	if !b.need(1) {
		return 0
	}
	b.off++
	return b.d[b.off-1]
}

func (b *lbuf) uleb() uint64 {
	if !b.need(1) {
		return 0
	}
	v, n := leb128.Uint(b.d[b.off:])
	if n == 0 {
		b.err = fmt.Errorf(".debug_loclists: truncated number at %#x", b.off)
	}
	b.off += uint64(n)
	return v
}

func (b *lbuf) addr(size int) uint64 {
	if !b.need(uint64(size)) {
		return 0
	}
	v := readUint(b.order, b.d[b.off:b.off+uint64(size)])
	b.off += uint64(size)
	return v
}

func (b *lbuf) bytes(n uint64) []byte {
	if !b.need(n) {
		return nil
	}
	v := b.d[b.off : b.off+n]
	b.off += n
	return v
}
