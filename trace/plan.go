package trace

import (
	"encoding/binary"
	"reflect"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goabi"
)

// Layout of an event, shared with bpf/trace.c.
const (
	hdrBytes   = 80
	regsWords  = 44 // the largest PTREGS_WORDS: ppc64's user_pt_regs
	stackBytes = 256
	regsOff    = hdrBytes
	stackOff   = regsOff + regsWords*8
	dataOff    = stackOff + stackBytes
	maxItems   = 16
	itemMax    = 1024
	lenConst   = 0xff
	lenCStr    = 0xfe

	bufRegs  = 0
	bufStack = 1

	kindEntry  = 0
	kindReturn = 1

	flagUnmatched = 1
	flagUstack    = 2
	flagKstack    = 4
)

// item is one memory capture the BPF program performs at a probe: read
// min(len*elem, max) bytes at a pointer, where the pointer and the length
// are words found in the saved registers, the stack copy, or an earlier
// item's bytes. Mirrors struct item in bpf/trace.c.
type item struct {
	PtrBuf, LenBuf uint8
	PtrOff, LenOff uint16
	Elem           uint16
	LenConst, Max  uint32
}

// source says where the bytes of a value are: in registers (pieces), in
// the stack copy, or in an item's captured bytes, starting at base.
type source struct {
	buf    int
	pieces []goabi.Piece
	base   int64
}

// loc finds the buffer and offset of the size bytes at offset off of the
// value; ok is false if they are not in one readable place (a float
// register, beyond the stack copy).
func (s source) loc(a *arch.Arch, off, size int64) (buf int, at int64, ok bool) {
	off += s.base
	switch {
	case s.buf == bufRegs:
		for _, p := range s.pieces {
			if off < p.Offset || off+size > p.Offset+p.Size {
				continue
			}
			if p.Reg < 0 {
				at = p.Stack + off - p.Offset
				return bufStack, at, at >= 0 && at+size <= stackBytes
			}
			r, ok := a.PtRegs[p.Reg]
			if p.Float || !ok {
				return 0, 0, false
			}
			// A piece narrower than the register is its low-order
			// bytes: the first of the register's word on a
			// little-endian arch, the last on a big-endian one (s390x).
			if a.ByteOrder == binary.BigEndian {
				off += int64(a.PtrSize) - p.Size
			}
			return bufRegs, int64(r) + off - p.Offset, true
		}
		return 0, 0, false
	case s.buf == bufStack:
		return bufStack, off, off >= 0 && off+size <= stackBytes
	}
	return s.buf, off, off >= 0 && off+size <= itemMax
}

func (s source) shift(d int64) source { s.base += d; return s }

// planner builds the capture items of one probe site. The decoder walks
// the same types and finds each item again by its path.
type planner struct {
	a        *arch.Arch
	c        bool // C function: char * is a NUL-terminated string
	maxBytes uint32
	items    []item
	paths    map[string]int
}

// maxElems is how many elements of a slice or array are shown.
const maxElems = 8

func (p *planner) add(path string, it item) (int, bool) {
	if len(p.items) >= maxItems {
		return 0, false
	}
	p.items = append(p.items, it)
	p.paths[path] = len(p.items) - 1
	return len(p.items) - 1, true
}

// ref returns an item field pair for the word at off of the value.
func (p *planner) word(s source, off int64) (uint8, uint16, bool) {
	buf, at, ok := s.loc(p.a, off, int64(p.a.PtrSize))
	// bpf/trace.c reads words 8-aligned (word's mask): pointers and
	// lengths always are; anything else is not captured.
	if !ok || at > 0xffff || at%8 != 0 {
		return 0, 0, false
	}
	return uint8(buf), uint16(at), true
}

// memory adds an item reading the bytes a pointer word points to; length is
// a word of the value (lenOff >= 0) times elem, or the constant n.
func (p *planner) memory(path string, s source, ptrOff, lenOff int64, elem, n, max uint32) (source, bool) {
	pb, po, ok := p.word(s, ptrOff)
	if !ok {
		return source{}, false
	}
	it := item{PtrBuf: pb, PtrOff: po, Elem: uint16(elem), Max: min(max, itemMax), LenBuf: lenConst, LenConst: n}
	if lenOff >= 0 {
		lb, lo, ok := p.word(s, lenOff)
		if !ok {
			return source{}, false
		}
		it.LenBuf, it.LenOff = lb, lo
	}
	k, ok := p.add(path, it)
	if !ok {
		return source{}, false
	}
	return source{buf: 2 + k}, true
}

// value plans the captures a value of type t needs.
func (p *planner) value(path string, t *goabi.Type, s source, depth int) {
	if t == nil || depth > 3 {
		return
	}
	ptr := int64(p.a.PtrSize)
	switch t.Kind {
	case reflect.String:
		p.memory(path, s, 0, ptr, 1, 0, p.maxBytes)
	case reflect.Slice:
		if t.Elem == nil || t.Elem.Size == 0 {
			return
		}
		if t.Elem.Size == 1 {
			p.memory(path, s, 0, ptr, 1, 0, p.maxBytes)
			return
		}
		es := uint32(t.Elem.Size)
		m := min(uint32(maxElems)*es, max(p.maxBytes, es*4))
		if inner, ok := p.memory(path, s, 0, ptr, es, 0, m); ok {
			for i := int64(0); i < 4 && i*t.Elem.Size < int64(m); i++ {
				p.value(path+"["+itoa(i)+"]", t.Elem, inner.shift(i*t.Elem.Size), depth+1)
			}
		}
	case reflect.Array:
		if t.Elem == nil {
			return
		}
		for i := int64(0); i < min(t.Len, maxElems); i++ {
			p.value(path+"["+itoa(i)+"]", t.Elem, s.shift(i*t.Elem.Size), depth+1)
		}
	case reflect.Struct:
		for _, f := range t.Fields {
			p.value(path+"."+f.Name, f.Type, s.shift(f.Offset), depth+1)
		}
	case reflect.Pointer:
		if p.c && isCChar(t.Elem) {
			if pb, po, ok := p.word(s, 0); ok {
				// Two bytes more than shown: the read returns all of
				// them (NUL included) exactly when the string is longer.
				n := min(p.maxBytes+2, itemMax)
				p.add(path+"#cstr", item{PtrBuf: pb, PtrOff: po, LenBuf: lenCStr, Elem: 1, LenConst: n, Max: n})
			}
			return
		}
		if t.Elem != nil && !t.Elem.Elided && t.Elem.Size > 0 && t.Elem.Size <= itemMax && depth < 2 && !isShape(t) &&
			t.Elem.Kind != reflect.Func && t.Elem.Kind != reflect.UnsafePointer {
			if inner, ok := p.memory(path+"*", s, 0, -1, 1, uint32(t.Elem.Size), uint32(t.Elem.Size)); ok {
				p.value(path+"*", t.Elem, inner, depth+1)
			}
		}
	case reflect.Map, reflect.Chan:
		// Both runtime structures start with their element count.
		p.memory(path+"#len", s, 0, -1, 1, uint32(ptr), uint32(ptr))
	case reflect.Interface:
		if !t.IsEmptyInterface() {
			// itab: inter, _type.
			p.memory(path+"#itab", s, 0, -1, 1, uint32(2*ptr), uint32(2*ptr))
		}
		// The dynamic value is unknown until run time: capture the start
		// of what the data word points to, and a string its first two
		// words may describe (errors.errorString and friends).
		if data, ok := p.memory(path+"#data", s, ptr, -1, 1, 64, 64); ok {
			p.memory(path+"#str", data, 0, ptr, 1, 0, p.maxBytes)
		}
	}
}

// isShape reports whether t is a generic function's shape type for
// pointers (go.shape.*uint8 stands for every pointer type argument): what
// it points to is not a uint8, so it is shown as an address.
func isShape(t *goabi.Type) bool {
	return strings.HasPrefix(t.Name, "go.shape.")
}

// isCChar reports whether t is C's char (const stripped), whose pointers
// are shown as strings.
func isCChar(t *goabi.Type) bool {
	return t != nil && t.Size == 1 && t.Name == "char"
}

func itoa(i int64) string {
	if i < 10 && i >= 0 {
		return string(rune('0' + i))
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// sitePlan is the plan of one probe site, with what the decoder needs.
type sitePlan struct {
	fn     *Func
	fnIdx  int
	kind   uint8
	items  []item
	paths  map[string]int
	params []goabi.Param
	locs   []goabi.Loc
}

func buildPlan(a *arch.Arch, f *Func, fnIdx int, kind uint8, maxBytes uint32) *sitePlan {
	sp := &sitePlan{fn: f, fnIdx: fnIdx, kind: kind}
	sp.params, sp.locs = f.Args, f.ArgLocs
	if kind == kindReturn {
		sp.params, sp.locs = f.Results, f.ResultLocs
	}
	p := &planner{a: a, c: !f.Go, maxBytes: maxBytes, paths: map[string]int{}}
	for i, prm := range sp.params {
		if i < len(sp.locs) && len(sp.locs[i].Pieces) > 0 {
			p.value(prm.Name, prm.Type, source{buf: bufRegs, pieces: sp.locs[i].Pieces}, 0)
		}
	}
	sp.items, sp.paths = p.items, p.paths
	return sp
}
