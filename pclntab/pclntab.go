// Package pclntab reads Go's pclntab, the function table the Go runtime
// itself uses for tracebacks. It is kept even in binaries stripped with
// -ldflags='-s -w', so it names and unwinds Go frames when there is no DWARF:
// function ranges and names, SP deltas, file:line, and the inline tree.
//
// The formats of Go 1.2 through the current release are read (the header
// magic names the generation: 1.2, 1.16, 1.18, 1.20). The inline tree is
// decoded for the 1.18 generation (go1.18, go1.19) and 1.20 (go1.20 on),
// whose FUNCDATA are offsets into go:func.*; older tables hold absolute
// FUNCDATA pointers and are read without inline frames.
//
// All addresses are link-time (file) addresses: a caller looking up a PC of a
// running PIE subtracts the load bias first.
package pclntab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/taijidbg/taiji/internal/errs"
)

// ErrNotGo is returned by Open for binaries that carry no Go pclntab.
var ErrNotGo = errors.New("no Go pclntab")

// A FormatError reports that the table is malformed: the section, the byte
// offset within it, what is wrong and the cause, if any (see Unwrap). Its
// message follows internal/errs: "pclntab: .gopclntab at offset 0x7: msg".
type FormatError struct {
	Section string // ".gopclntab" (also for a table found through runtime.pclntab)
	Offset  int64  // byte offset within Section
	Msg     string
	Err     error // the cause, or nil
}

func (e *FormatError) Error() string {
	return errs.Format("pclntab", "", e.Section, e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Section: ".gopclntab", Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// version is the pclntab format generation.
type version int

const (
	ver12 version = iota + 1
	ver116
	ver118
	ver120
)

func (v version) String() string {
	switch v {
	case ver12:
		return "1.2"
	case ver116:
		return "1.16"
	case ver118:
		return "1.18"
	case ver120:
		return "1.20"
	}
	return "unknown"
}

// Header magics, as in internal/abi.
const (
	go12Magic  = 0xfffffffb
	go116Magic = 0xfffffffa
	go118Magic = 0xfffffff0
	go120Magic = 0xfffffff1
)

// Indexes of the tables the runtime (and we) care about; see
// internal/abi/symtab.go.
const (
	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
)

// Function flags (internal/abi.FuncFlag, go1.17+).
const (
	FlagTopFrame = 1 << 0
	FlagSPWrite  = 1 << 1
	FlagAsm      = 1 << 2
)

// maxInlineDepth bounds an inline chain so a corrupt tree with a cycle
// cannot loop forever. Real chains are far shorter.
const maxInlineDepth = 1000

// A Table is a parsed pclntab. It is safe for concurrent use.
type Table struct {
	data      []byte
	order     binary.ByteOrder
	ptrSize   int
	quantum   uint32
	ver       version
	textStart uint64
	// typesStart is moduledata.types (0: unknown), set by Open.
	typesStart uint64

	nfunc       int
	fieldSize   int // size of one functab field: 4 for go1.18+, else ptrSize
	funcnametab []byte
	cutab       []byte
	filetab     []byte
	pctab       []byte
	funcdata    []byte // base that functab's func offsets are relative to
	functab     []byte
	nfiletab    uint32 // go1.2 format only

	// gofunc is the module's go:func.* data starting at moduledata.gofunc,
	// which FUNCDATA offsets are relative to; nil when unknown.
	gofunc []byte

	cache []atomic.Pointer[Func] // per functab index, filled lazily

	allOnce sync.Once
	allDone atomic.Bool // all and byName are built
	all     []*Func
	byName  map[string]*Func

	wrapperOnce sync.Once
	wrapperID   int // -1: unknown
}

// Func is one function of the table.
type Func struct {
	Entry, End uint64 // [Entry, End) covers the function's code
	Name       string
	ID         uint8 // internal/abi.FuncID; the numbering changes between Go releases (see WrapperID)
	Flag       uint8 // internal/abi.FuncFlag (go1.17+); 0 in older tables
	StartLine  int32 // line of the func keyword (go1.20+), else 0

	args        int32
	deferreturn uint32
	pcsp        uint32
	pcfile      uint32
	pcln        uint32
	npcdata     uint32
	cuOffset    uint32
	nfuncdata   uint8
	fixed       int // offset of the pcdata array within the _func record
	off         int // offset of the _func record in Table.funcdata
	top         bool
}

// TopFrame reports whether the unwinder stops at this function (the bottom of
// a goroutine or thread stack: goexit, mstart, rt0_go, ...). It uses the
// TOPFRAME flag of go1.17+ tables and, for older tables whose funcIDs were
// numbered differently, the function's name.
func (f *Func) TopFrame() bool { return f.Flag&FlagTopFrame != 0 || f.top }

// SPWrite reports whether the function writes SP arbitrarily (systemstack,
// mcall, ...): its pcsp table does not describe its frame everywhere, so
// unwinding past it is not reliable.
func (f *Func) SPWrite() bool { return f.Flag&FlagSPWrite != 0 }

// Args returns the size in bytes of the function's arguments and results
// (-0x80000000 when unknown, as for assembly functions without a declaration).
func (f *Func) Args() int32 { return f.args }

// legacyTopFrames are the functions older runtimes (before funcFlag_TOPFRAME,
// go1.17) treated as the top of a stack, by name since funcIDs changed.
var legacyTopFrames = map[string]bool{
	"runtime.goexit":                true,
	"runtime.mstart":                true,
	"runtime.rt0_go":                true,
	"runtime.mcall":                 true,
	"runtime.morestack":             true,
	"runtime.externalthreadhandler": true,
}

// Parse parses the bytes of a .gopclntab section. textStart is the module's
// text address (moduledata.text; runtime.text), which go1.18+ entry offsets
// are relative to; 0 takes the header's (set only by go1.18-go1.22 linkers,
// and unrelocated in PIE). ptrSize and order are the target's; the header's
// pointer size must agree (ptrSize 0 accepts it), and a magic read in the
// wrong byte order is rejected.
func Parse(data []byte, textStart uint64, ptrSize int, order binary.ByteOrder) (t *Table, err error) {
	defer func() {
		// Last line of defense: every access below is bounds-checked, so a
		// panic here is a bug, but a bad binary must not take the caller down.
		if r := recover(); r != nil {
			t, err = nil, formatErr(0, "internal error: %v", r)
		}
	}()
	return parse(data, textStart, ptrSize, order)
}

func parse(data []byte, textStart uint64, ptrSize int, order binary.ByteOrder) (*Table, error) {
	if len(data) < 16 {
		return nil, formatErr(0, "header truncated (%d bytes)", len(data))
	}
	if order == nil {
		order = binary.LittleEndian
	}
	t := &Table{data: data, order: order, textStart: textStart}
	switch order.Uint32(data) {
	case go12Magic:
		t.ver = ver12
	case go116Magic:
		t.ver = ver116
	case go118Magic:
		t.ver = ver118
	case go120Magic:
		t.ver = ver120
	default:
		return nil, formatErr(0, "bad magic %#x", order.Uint32(data))
	}
	if data[4] != 0 || data[5] != 0 {
		return nil, formatErr(4, "bad header padding")
	}
	t.quantum = uint32(data[6])
	if t.quantum != 1 && t.quantum != 2 && t.quantum != 4 {
		return nil, formatErr(6, "bad pc quantum %d", t.quantum)
	}
	t.ptrSize = int(data[7])
	if t.ptrSize != 4 && t.ptrSize != 8 {
		return nil, formatErr(7, "bad pointer size %d", t.ptrSize)
	}
	if ptrSize != 0 && ptrSize != t.ptrSize {
		return nil, formatErr(7, "pointer size %d, want %d", t.ptrSize, ptrSize)
	}
	t.fieldSize = t.ptrSize
	if t.ver >= ver118 {
		t.fieldSize = 4
	}

	// word returns header word i (after the 8-byte fixed part).
	word := func(i int) (uint64, error) {
		off := 8 + i*t.ptrSize
		if off+t.ptrSize > len(data) {
			return 0, formatErr(int64(off), "header truncated")
		}
		return t.uintptr(data[off:]), nil
	}
	// sub returns the table starting at the offset in header word i.
	sub := func(i int) ([]byte, error) {
		off, err := word(i)
		if err != nil {
			return nil, err
		}
		if off > uint64(len(data)) {
			return nil, formatErr(int64(8+i*t.ptrSize), "table offset %#x beyond end %#x", off, len(data))
		}
		return data[off:], nil
	}

	nfunc, err := word(0)
	if err != nil {
		return nil, err
	}
	// Each function needs at least two functab fields: bound nfunc by the
	// data size before allocating anything from it.
	if nfunc > uint64(len(data)/(2*t.fieldSize)) {
		return nil, formatErr(8, "function count %d too large for %d bytes", nfunc, len(data))
	}
	t.nfunc = int(nfunc)

	var functab []byte
	switch t.ver {
	case ver118, ver120:
		// Word 2 was textStart; it is unrelocated (0) in PIE and unused
		// since go1.23, so the caller's textStart wins.
		if t.textStart == 0 {
			ts, err := word(2)
			if err != nil {
				return nil, err
			}
			t.textStart = ts
		}
		if t.funcnametab, err = sub(3); err != nil {
			return nil, err
		}
		if t.cutab, err = sub(4); err != nil {
			return nil, err
		}
		if t.filetab, err = sub(5); err != nil {
			return nil, err
		}
		if t.pctab, err = sub(6); err != nil {
			return nil, err
		}
		if t.funcdata, err = sub(7); err != nil {
			return nil, err
		}
		functab = t.funcdata
	case ver116:
		if t.funcnametab, err = sub(2); err != nil {
			return nil, err
		}
		if t.cutab, err = sub(3); err != nil {
			return nil, err
		}
		if t.filetab, err = sub(4); err != nil {
			return nil, err
		}
		if t.pctab, err = sub(5); err != nil {
			return nil, err
		}
		if t.funcdata, err = sub(6); err != nil {
			return nil, err
		}
		functab = t.funcdata
	case ver12:
		t.funcnametab = data
		t.pctab = data
		t.funcdata = data
		functab = data[8+t.ptrSize:]
	}
	size := (2*t.nfunc + 1) * t.fieldSize
	if size > len(functab) {
		return nil, formatErr(int64(len(data)-len(functab)), "functab of %d functions truncated", t.nfunc)
	}
	t.functab = functab[:size]
	if t.ver == ver12 {
		// The file table offset follows the functab.
		if size+4 > len(functab) {
			return nil, formatErr(int64(len(data)-len(functab)+size), "file table offset truncated")
		}
		fileoff := t.order.Uint32(functab[size:])
		if uint64(fileoff)+4 > uint64(len(data)) {
			return nil, formatErr(int64(len(data)-len(functab)+size), "file table offset %#x out of range", fileoff)
		}
		t.filetab = data[fileoff:]
		t.nfiletab = t.order.Uint32(t.filetab)
		if uint64(t.nfiletab)*4 > uint64(len(t.filetab)) {
			return nil, formatErr(int64(fileoff), "file table of %d entries truncated", t.nfiletab)
		}
		t.filetab = t.filetab[:t.nfiletab*4]
	}
	t.cache = make([]atomic.Pointer[Func], t.nfunc)
	return t, nil
}

func (t *Table) uintptr(b []byte) uint64 {
	if t.ptrSize == 4 {
		return uint64(t.order.Uint32(b))
	}
	return t.order.Uint64(b)
}

// GoVersion returns the pclntab format generation named by the header magic:
// "1.2", "1.16", "1.18" or "1.20". It is not the toolchain's version: a
// go1.26 binary reports "1.20".
func (t *Table) GoVersion() string { return t.ver.String() }

// TextStart returns the text address go1.18+ entry offsets are relative to.
func (t *Table) TextStart() uint64 { return t.textStart }

// TypesStart returns moduledata.types, the link-time address that runtime
// type descriptors' name and type offsets count from (runtime.types), as
// Open found it without symbols; 0 if it did not find runtime.moduledata.
func (t *Table) TypesStart() uint64 { return t.typesStart }

// PtrSize returns the target's pointer size from the header.
func (t *Table) PtrSize() int { return t.ptrSize }

// Quantum returns the target's minimum instruction size (the pc quantum).
func (t *Table) Quantum() int { return int(t.quantum) }

// NumFuncs returns the number of functions in the table.
func (t *Table) NumFuncs() int { return t.nfunc }

// SetGoFunc supplies the module's go:func.* data, starting at the address
// moduledata.gofunc holds. FUNCDATA (the inline tree) is found there. Open
// calls it when it can locate that data; callers with their own loader may
// call it before using the Table concurrently.
func (t *Table) SetGoFunc(data []byte) { t.gofunc = data }

// HasInlineTree reports whether Inline can decode inlined calls.
func (t *Table) HasInlineTree() bool {
	_, ok := t.inlineLayout()
	return t.gofunc != nil && ok
}

// pcAt returns the pc of functab field 2*i (entry i; i == nfunc is the end).
func (t *Table) pcAt(i int) uint64 {
	off := 2 * i * t.fieldSize
	if t.ver >= ver118 {
		return t.textStart + uint64(t.order.Uint32(t.functab[off:]))
	}
	return t.uintptr(t.functab[off:])
}

// funcOffAt returns the _func record offset of entry i.
func (t *Table) funcOffAt(i int) uint64 {
	off := (2*i + 1) * t.fieldSize
	if t.ver >= ver118 {
		return uint64(t.order.Uint32(t.functab[off:]))
	}
	return t.uintptr(t.functab[off:])
}

// Lookup returns the function whose code contains pc.
func (t *Table) Lookup(pc uint64) (*Func, bool) {
	if t.nfunc == 0 || pc < t.pcAt(0) || pc >= t.pcAt(t.nfunc) {
		return nil, false
	}
	// The first entry with pc < entry, minus one. sort.Search is a plain
	// bisection: it does not need the table to be sorted to terminate.
	i := sort.Search(t.nfunc, func(i int) bool { return pc < t.pcAt(i) }) - 1
	if i < 0 {
		return nil, false
	}
	f, err := t.funcAt(i)
	if err != nil || pc < f.Entry || pc >= f.End {
		return nil, false
	}
	return f, true
}

// funcAt decodes (once) the function at functab index i.
func (t *Table) funcAt(i int) (*Func, error) {
	if f := t.cache[i].Load(); f != nil {
		return f, nil
	}
	f, err := t.decodeFunc(i)
	if err != nil {
		return nil, err
	}
	if !t.cache[i].CompareAndSwap(nil, f) {
		f = t.cache[i].Load()
	}
	return f, nil
}

// decodeFunc reads the _func record of functab entry i.
func (t *Table) decodeFunc(i int) (*Func, error) {
	off := t.funcOffAt(i)
	base := int64(len(t.data) - len(t.funcdata))
	// Layout of _func: entry (uintptr before go1.18, uint32 offset after),
	// then uint32 nameOff, args, deferreturn, pcsp, pcfile, pcln, npcdata,
	// cuOffset (go1.16+), startLine (go1.20+), then funcID, flag, pad,
	// nfuncdata bytes.
	entrySize := t.ptrSize
	if t.ver >= ver118 {
		entrySize = 4
	}
	nwords := 7
	switch t.ver {
	case ver116, ver118:
		nwords = 8
	case ver120:
		nwords = 9
	}
	fixed := entrySize + 4*nwords + 4
	if off > uint64(len(t.funcdata)) || uint64(len(t.funcdata))-off < uint64(fixed) {
		return nil, formatErr(base+int64(off), "func record %d out of range", i)
	}
	b := t.funcdata[off:]
	u32 := func(k int) uint32 { return t.order.Uint32(b[entrySize+4*k:]) }
	f := &Func{
		Entry:       t.pcAt(i),
		End:         t.pcAt(i + 1),
		args:        int32(u32(1)),
		deferreturn: u32(2),
		pcsp:        u32(3),
		pcfile:      u32(4),
		pcln:        u32(5),
		npcdata:     u32(6),
		fixed:       fixed,
		off:         int(off),
	}
	if t.ver >= ver116 {
		f.cuOffset = u32(7)
	}
	if t.ver >= ver120 {
		f.StartLine = int32(u32(8))
	}
	tail := b[entrySize+4*nwords:]
	f.ID, f.Flag, f.nfuncdata = tail[0], tail[1], tail[3]
	if t.ver == ver12 {
		// No flags before the go1.16 format; the byte is padding.
		f.Flag = 0
	}
	if f.End < f.Entry {
		return nil, formatErr(base+int64(off), "func %d ends (%#x) before it starts (%#x)", i, f.End, f.Entry)
	}
	name, ok := cstring(t.funcnametab, uint64(u32(0)))
	if !ok {
		return nil, formatErr(base+int64(off)+int64(entrySize), "func %d: bad name offset %#x", i, u32(0))
	}
	f.Name = name
	if t.ver < ver118 {
		f.top = legacyTopFrames[name]
	}
	return f, nil
}

// cstring returns the NUL-terminated string at off in b.
func cstring(b []byte, off uint64) (string, bool) {
	if off >= uint64(len(b)) {
		return "", false
	}
	s := b[off:]
	for i, c := range s {
		if c == 0 {
			return string(s[:i]), true
		}
	}
	return "", false
}

// Funcs returns all functions in address order. Records that fail to decode
// are left out. The slice is shared: callers must not modify it.
func (t *Table) Funcs() []*Func {
	t.allOnce.Do(func() {
		t.all = make([]*Func, 0, t.nfunc)
		t.byName = make(map[string]*Func, t.nfunc)
		for i := 0; i < t.nfunc; i++ {
			f, err := t.funcAt(i)
			if err != nil {
				continue
			}
			t.all = append(t.all, f)
			if _, dup := t.byName[f.Name]; !dup {
				t.byName[f.Name] = f
			}
		}
		t.allDone.Store(true)
	})
	return t.all
}

// ByName returns the function with the given name (as the table spells it,
// e.g. "main.main", "runtime.gopark", "main.(*T).M"). If several functions
// share a name, the lowest-addressed one is returned.
// Unless Funcs was called, it compares the name with each record's in
// place rather than decode every function: a large binary has hundreds of
// thousands, and its callers ask for a handful of names.
func (t *Table) ByName(name string) (*Func, bool) {
	if t.allDone.Load() {
		f, ok := t.byName[name]
		return f, ok
	}
	entrySize := t.ptrSize
	if t.ver >= ver118 {
		entrySize = 4
	}
	for i := 0; i < t.nfunc; i++ {
		off := t.funcOffAt(i) + uint64(entrySize) // the nameOff field
		if off > uint64(len(t.funcdata)) || uint64(len(t.funcdata))-off < 4 {
			continue
		}
		no := uint64(t.order.Uint32(t.funcdata[off:]))
		if no > uint64(len(t.funcnametab)) || uint64(len(t.funcnametab))-no <= uint64(len(name)) ||
			t.funcnametab[no+uint64(len(name))] != 0 || string(t.funcnametab[no:no+uint64(len(name))]) != name {
			continue
		}
		if f, err := t.funcAt(i); err == nil {
			return f, true
		}
	}
	return nil, false
}

// WrapperID returns the funcID the table's Go release gives autogenerated
// code (method and go-statement wrappers, equality functions), which the
// runtime leaves out of tracebacks: 21 in go1.18-go1.21, 22 in go1.22-go1.23,
// 23 in go1.26-go1.27, as internal/abi (runtime/symtab.go before go1.21)
// numbers them. Since go1.18 the list is sorted and ends with
// systemstack_switch, wrapper: the ID is the one after
// runtime.systemstack_switch's. ok is false when the table cannot tell
// (before go1.18, or without that function).
func (t *Table) WrapperID() (id uint8, ok bool) {
	t.wrapperOnce.Do(func() {
		t.wrapperID = -1
		if f, ok := t.ByName("runtime.systemstack_switch"); ok && t.ver >= ver118 && f.ID != 0 && f.ID < 0xff {
			t.wrapperID = int(f.ID) + 1
		}
	})
	return uint8(t.wrapperID), t.wrapperID >= 0
}

// IsWrapper reports whether f is autogenerated code the Go runtime hides
// from its tracebacks (see WrapperID); false when the table cannot tell.
func (t *Table) IsWrapper(f *Func) bool {
	id, ok := t.WrapperID()
	return ok && f != nil && f.ID == id
}

// readUvarint32 decodes an unsigned LEB128 value of at most 32 bits.
func readUvarint32(p []byte) (v uint32, n int) {
	var shift uint
	for i, b := range p {
		if i == 5 {
			return 0, -1
		}
		v |= uint32(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, -1
}

// pcvalue returns the value of the pc-value table at pctab offset off for
// targetpc in the function starting at entry. The table is a sequence of
// (value delta, pc delta) varint pairs; each value holds up to (not
// including) the pc it was advanced to.
func (t *Table) pcvalue(off uint32, entry, targetpc uint64) (int32, bool) {
	it, ok := t.pcvalues(off, entry)
	if !ok {
		return -1, false
	}
	for it.next() {
		if targetpc < it.pc {
			return it.val, true
		}
	}
	return -1, false // end of table, targetpc not covered
}

// pcvalueIter walks a pc-value table (see pcvalue): after each next, val
// holds over [lo, pc).
type pcvalueIter struct {
	t       *Table
	p       []byte
	entry   uint64
	lo, pc  uint64
	val     int32
	started bool
}

// pcvalues starts a walk of the table at pctab offset off of the function
// at entry; false if there is none.
func (t *Table) pcvalues(off uint32, entry uint64) (pcvalueIter, bool) {
	if off == 0 || uint64(off) >= uint64(len(t.pctab)) {
		return pcvalueIter{}, false
	}
	return pcvalueIter{t: t, p: t.pctab[off:], entry: entry, pc: entry, val: -1}, true
}

// next reads the next (value, pc) pair: false at the table's end or a
// corrupt pair. Every step consumes at least two bytes, so a walk ends.
func (it *pcvalueIter) next() bool {
	uv, n := readUvarint32(it.p)
	if n < 0 || uv == 0 && it.started {
		return false
	}
	it.started = true
	it.p = it.p[n:]
	if uv&1 != 0 {
		uv = ^(uv >> 1)
	} else {
		uv >>= 1
	}
	pcd, n := readUvarint32(it.p)
	if n < 0 {
		return false
	}
	it.p = it.p[n:]
	it.val += int32(uv)
	it.lo = it.pc
	it.pc += uint64(pcd) * uint64(it.t.quantum)
	return true
}

// SPDelta returns the pcsp table value at pc: how far SP is below its value
// at function entry (after the CALL pushed the return address, on x86) —
// the frame size the unwinder adds to SP to find the return address.
func (t *Table) SPDelta(f *Func, pc uint64) (int64, bool) {
	if f == nil || pc < f.Entry || pc >= f.End {
		return 0, false
	}
	v, ok := t.pcvalue(f.pcsp, f.Entry, pc)
	return int64(v), ok
}

// Line returns the file and line of the instruction at pc in f. For inlined
// code this is the position inside the innermost inlined function.
func (t *Table) Line(f *Func, pc uint64) (file string, line int, ok bool) {
	if f == nil || pc < f.Entry || pc >= f.End {
		return "", 0, false
	}
	fno, ok := t.pcvalue(f.pcfile, f.Entry, pc)
	if !ok || fno < 0 {
		return "", 0, false
	}
	ln, ok := t.pcvalue(f.pcln, f.Entry, pc)
	if !ok {
		return "", 0, false
	}
	file, ok = t.fileName(f, uint32(fno))
	if !ok {
		return "", 0, false
	}
	return file, int(ln), true
}

// fileName resolves a pcfile value to a path.
func (t *Table) fileName(f *Func, fno uint32) (string, bool) {
	if t.ver == ver12 {
		// filetab[0] is the count; entries index the whole table.
		if fno == 0 || fno >= t.nfiletab {
			return "", false
		}
		return cstring(t.data, uint64(t.order.Uint32(t.filetab[4*fno:])))
	}
	idx := uint64(f.cuOffset) + uint64(fno)
	if 4*idx+4 > uint64(len(t.cutab)) {
		return "", false
	}
	off := t.order.Uint32(t.cutab[4*idx:])
	if off == ^uint32(0) {
		return "", false
	}
	return cstring(t.filetab, uint64(off))
}

// pcdata returns the value of f's PCDATA table i at pc, or -1.
func (t *Table) pcdata(f *Func, i uint32, pc uint64) int32 {
	if i >= f.npcdata {
		return -1
	}
	at := uint64(f.off) + uint64(f.fixed) + 4*uint64(i)
	if at+4 > uint64(len(t.funcdata)) {
		return -1
	}
	off := t.order.Uint32(t.funcdata[at:])
	v, ok := t.pcvalue(off, f.Entry, pc)
	if !ok {
		return -1
	}
	return v
}

// funcdataOff returns the go:func offset of f's FUNCDATA i (go1.18+).
func (t *Table) funcdataOff(f *Func, i uint8) (uint32, bool) {
	if t.ver < ver118 || i >= f.nfuncdata {
		return 0, false
	}
	at := uint64(f.off) + uint64(f.fixed) + 4*uint64(f.npcdata) + 4*uint64(i)
	if at+4 > uint64(len(t.funcdata)) {
		return 0, false
	}
	off := t.order.Uint32(t.funcdata[at:])
	if off == ^uint32(0) {
		return 0, false
	}
	return off, true
}
