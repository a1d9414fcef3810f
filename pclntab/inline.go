package pclntab

// InlinedCall is one inlined call that contains a pc.
type InlinedCall struct {
	Name string // the inlined function
	File string // position inside the inlined function at the pc
	Line int
	ID   uint8 // the inlined function's funcID
}

// Location is one logical frame at a pc.
type Location struct {
	Function string
	File     string
	Line     int
	Inline   bool // an inlined call; false for the physical function
}

// inlinedCallSize is the size of the go1.20+ runtime.inlinedCall record:
// funcID uint8, _ [3]byte, nameOff int32, parentPc int32, startLine int32.
const inlinedCallSize = 16

// inlined walks the inline tree at pc: it returns the inlined calls,
// innermost first, and the pc whose file:line is the physical function's
// position (the call site of the outermost inlined call, or pc itself).
func (t *Table) inlined(f *Func, pc uint64) ([]InlinedCall, uint64) {
	if f == nil || t.gofunc == nil || t.ver < ver120 {
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
		if uint64(ix+1)*inlinedCallSize > uint64(len(tree)) {
			break // corrupt index: keep what we have
		}
		rec := tree[int(ix)*inlinedCallSize:]
		name, ok := cstring(t.funcnametab, uint64(t.order.Uint32(rec[4:])))
		if !ok {
			name = "?"
		}
		file, line, _ := t.Line(f, pc)
		calls = append(calls, InlinedCall{Name: name, File: file, Line: line, ID: rec[0]})
		// parentPc is an instruction whose position is the call site; it
		// is inside the same physical function.
		next := f.Entry + uint64(int64(int32(t.order.Uint32(rec[8:]))))
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
		locs = append(locs, Location{Function: c.Name, File: c.File, Line: c.Line, Inline: true})
	}
	file, line, _ := t.Line(f, outer)
	return append(locs, Location{Function: f.Name, File: file, Line: line})
}
