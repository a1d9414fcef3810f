package pclntab

import "slices"

// InlinedCall is one inlined call that contains a pc.
type InlinedCall struct {
	Name string // the inlined function
	File string // position inside the inlined function at the pc
	Line int
	ID   uint8 // the inlined function's funcID
	// Site tells the call from the function's other inlined calls: its
	// index in the function's inline tree, plus one (calls on one line
	// may share their parentPc).
	Site uint64
}

// Location is one logical frame at a pc.
type Location struct {
	Function string
	File     string
	Line     int
	Inline   bool   // an inlined call; false for the physical function
	Site     uint64 // an inlined call: InlinedCall.Site; 0 otherwise
}

// inlineLayout is where the fields of one FUNCDATA_InlTree entry
// (runtime.inlinedCall) are, per pclntab generation.
type inlineLayout struct {
	size     int // bytes per entry
	funcID   int // offset of the uint8 funcID
	nameOff  int // offset of the int32 name offset into funcnametab
	parentPc int // offset of the int32 parentPc (from the function's entry)
}

var (
	// go1.12-go1.19 (runtime/symtab.go): parent int16, funcID uint8, _ byte,
	// file int32, line int32, func_ int32, parentPc int32. file and line
	// repeat the call site; the runtime reads it from parentPc's position,
	// as go1.20+ must, and so do we.
	inlineLayout118 = inlineLayout{size: 20, funcID: 2, nameOff: 12, parentPc: 16}
	// go1.20+ (runtime/symtabinl.go since go1.21): funcID uint8, _ [3]byte,
	// nameOff int32, parentPc int32, startLine int32.
	inlineLayout120 = inlineLayout{size: 16, funcID: 0, nameOff: 4, parentPc: 8}
)

// inlineLayout returns the layout of the table's inline tree entries, false
// for formats whose FUNCDATA are not go:func offsets (before go1.18).
func (t *Table) inlineLayout() (inlineLayout, bool) {
	switch t.ver {
	case ver118:
		return inlineLayout118, true
	case ver120:
		return inlineLayout120, true
	}
	return inlineLayout{}, false
}

// inlined walks the inline tree at pc: it returns the inlined calls,
// innermost first, and the pc whose file:line is the physical function's
// position (the call site of the outermost inlined call, or pc itself).
func (t *Table) inlined(f *Func, pc uint64) ([]InlinedCall, uint64) {
	lay, ok := t.inlineLayout()
	if f == nil || t.gofunc == nil || !ok {
		return nil, pc
	}
	treeOff, ok := t.funcdataOff(f, funcdataInlTree)
	if !ok || uint64(treeOff) >= uint64(len(t.gofunc)) {
		return nil, pc
	}
	tree := t.gofunc[treeOff:]
	var calls []InlinedCall
	ix := t.pcdata(f, pcdataInlTreeIndex, pc)
	for ix >= 0 && len(calls) < maxInlineDepth {
		if uint64(ix+1)*uint64(lay.size) > uint64(len(tree)) {
			break // corrupt index: keep what we have
		}
		rec := tree[int(ix)*lay.size:]
		name, ok := cstring(t.funcnametab, uint64(t.order.Uint32(rec[lay.nameOff:])))
		if !ok {
			name = "?"
		}
		file, line, _ := t.Line(f, pc)
		// parentPc is an instruction whose position is the call site; it
		// is inside the same physical function.
		next := f.Entry + uint64(int64(int32(t.order.Uint32(rec[lay.parentPc:]))))
		calls = append(calls, InlinedCall{Name: name, File: file, Line: line, ID: rec[lay.funcID], Site: uint64(ix) + 1})
		if next < f.Entry || next >= f.End {
			break
		}
		pc = next
		ix = t.pcdata(f, pcdataInlTreeIndex, pc)
	}
	return calls, pc
}

// Inline returns the inlined calls that contain pc, innermost first, each
// with its name and the file:line inside it at pc. The physical function's
// own position at pc is the call site of the last entry. It returns nil when
// pc is not in inlined code or the inline tree is unavailable
// (HasInlineTree).
func (t *Table) Inline(f *Func, pc uint64) []InlinedCall {
	if f == nil || pc < f.Entry || pc >= f.End {
		return nil
	}
	calls, _ := t.inlined(f, pc)
	return calls
}

// Frames expands pc into its logical frames, innermost first: the inlined
// calls, then the physical function last. For a return address, pass pc-1
// (as the runtime does) so the position is that of the call instruction.
// Names are spelled as in the table, as runtime.FuncForPC spells them. It
// returns nil if no function contains pc.
func (t *Table) Frames(pc uint64) []Location {
	f, ok := t.Lookup(pc)
	if !ok {
		return nil
	}
	calls, outer := t.inlined(f, pc)
	locs := make([]Location, 0, len(calls)+1)
	for _, c := range calls {
		locs = append(locs, Location{Function: c.Name, File: c.File, Line: c.Line, Inline: true, Site: c.Site})
	}
	file, line, _ := t.Line(f, outer)
	return append(locs, Location{Function: f.Name, File: file, Line: line})
}

// InlinedCopies returns where the calls that the compiler inlined into f
// begin, by the inlined function's name: for every call (an entry of f's
// inline tree, at any depth), the lowest pc whose chain of inlined calls
// holds it, lowest first. It returns nil when f has no inlined calls or
// the inline tree is unavailable (HasInlineTree).
func (t *Table) InlinedCopies(f *Func) map[string][]uint64 {
	lay, ok := t.inlineLayout()
	if f == nil || t.gofunc == nil || !ok || f.npcdata <= pcdataInlTreeIndex {
		return nil
	}
	treeOff, ok := t.funcdataOff(f, funcdataInlTree)
	if !ok || uint64(treeOff) >= uint64(len(t.gofunc)) {
		return nil
	}
	tree := t.gofunc[treeOff:]
	at := uint64(f.off) + uint64(f.fixed) + 4*uint64(pcdataInlTreeIndex)
	if at+4 > uint64(len(t.funcdata)) {
		return nil
	}
	it, ok := t.pcvalues(t.order.Uint32(t.funcdata[at:]), f.Entry)
	if !ok {
		return nil
	}
	first := map[int32]uint64{} // inline tree index -> lowest pc
	for it.next() {
		// The chain of calls at [it.lo, it.pc): each entry's parent is
		// the tree index at its parentPc.
		for ix, n := it.val, 0; ix >= 0 && n < maxInlineDepth; n++ {
			if uint64(ix+1)*uint64(lay.size) > uint64(len(tree)) {
				break
			}
			if pc, seen := first[ix]; !seen || it.lo < pc {
				first[ix] = it.lo
			}
			rec := tree[int(ix)*lay.size:]
			parent := f.Entry + uint64(int64(int32(t.order.Uint32(rec[lay.parentPc:]))))
			if parent < f.Entry || parent >= f.End {
				break
			}
			ix = t.pcdata(f, pcdataInlTreeIndex, parent)
		}
	}
	if len(first) == 0 {
		return nil
	}
	out := map[string][]uint64{}
	for ix, pc := range first {
		rec := tree[int(ix)*lay.size:]
		if name, ok := cstring(t.funcnametab, uint64(t.order.Uint32(rec[lay.nameOff:]))); ok {
			out[name] = append(out[name], pc)
		}
	}
	for _, pcs := range out {
		slices.Sort(pcs)
	}
	return out
}
