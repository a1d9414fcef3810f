package eval

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/taijidbg/taiji/cfi"
	"github.com/taijidbg/taiji/module"
)

// Go's DWARF extensions (cmd/internal/dwarf).
const (
	attrGoKey         dwarf.Attr = 0x2901 // a map's key type
	attrGoElem        dwarf.Attr = 0x2902 // a map's value or a channel's element type
	attrGoRuntimeType dwarf.Attr = 0x2904 // the *_type of a DWARF type, as an offset from runtime.types
)

// info is what the evaluator indexes of one module's DWARF: its package
// level variables and named types, and the Go runtime type addresses of
// DWARF types (to name an interface's dynamic type). Built once per module.
type info struct {
	m       *module.Module
	d       *dwarf.Data
	err     error
	globals map[string]dwarf.Offset    // variable name ("main.counter", C "counter") -> DIE
	types   map[string]dwarf.Offset    // type name ("main.T", "struct foo", "foo") -> DIE
	rtypes  map[uint64]dwarf.Offset    // runtime._type offset from runtime.types -> DIE
	mapKV   map[string][2]dwarf.Offset // Go map type name -> key, value type DIEs
	cus     map[dwarf.Offset]*dwarf.Entry
	order   binary.ByteOrder

	mu sync.Mutex
	tc typeCache
	// funcs caches function() by PC: a breakpoint condition is
	// evaluated at the same PC many times.
	funcs map[uint64]*frameInfo

	cfiOnce      sync.Once
	eh, dbgFrame *cfi.Table // the module's CFI, for frames given without a CFA
}

var infos sync.Map // *module.Module -> *info

// Release drops what the evaluator indexed of m (its variables, types and
// CFI); call it when closing m.
func Release(m *module.Module) {
	infos.Delete(m)
	dataSymCache.Delete(m)
}

var errNoDWARF = errors.New("no DWARF")

func moduleInfo(m *module.Module, ptrSize int64) *info {
	if v, ok := infos.Load(m); ok {
		return v.(*info)
	}
	in := &info{m: m, globals: map[string]dwarf.Offset{}, types: map[string]dwarf.Offset{},
		rtypes: map[uint64]dwarf.Offset{}, mapKV: map[string][2]dwarf.Offset{}, cus: map[dwarf.Offset]*dwarf.Entry{},
		funcs: map[uint64]*frameInfo{}, tc: typeCache{ptrSize: ptrSize, order: m.File.ByteOrder, m: map[dwarf.Type]*typ{}}, order: m.File.ByteOrder}
	if _, _, ok := m.SectionFrom(true, ".debug_info"); !ok {
		in.err = errNoDWARF
	} else if in.d, in.err = m.DWARF(); in.d == nil && in.err == nil {
		in.err = errNoDWARF
	}
	if in.err == nil {
		in.index()
	}
	v, _ := infos.LoadOrStore(m, in)
	return v.(*info)
}

// index walks every unit's top-level DIEs once.
func (in *info) index() {
	defer func() {
		if p := recover(); p != nil { // debug/dwarf on corrupt input
			in.err = fmt.Errorf("malformed DWARF (%v)", p)
		}
	}()
	r := in.d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			in.err = err
			return
		}
		if e == nil {
			return
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == dwarf.TagPartialUnit {
			in.cus[e.Offset] = e
			continue
		}
		if e.Tag == 0 {
			continue
		}
		if a, ok := e.Val(attrGoRuntimeType).(uint64); ok && a != 0 {
			in.rtypes[a] = e.Offset
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if k, ok := e.Val(attrGoKey).(dwarf.Offset); ok {
			if v, ok := e.Val(attrGoElem).(dwarf.Offset); ok {
				in.mapKV[name] = [2]dwarf.Offset{k, v}
			}
		}
		switch e.Tag {
		case dwarf.TagVariable:
			if name != "" {
				if _, has := e.Val(dwarf.AttrLocation).([]byte); has || in.globals[name] == 0 {
					in.globals[name] = e.Offset
				}
			}
		case dwarf.TagBaseType, dwarf.TagTypedef, dwarf.TagStructType, dwarf.TagUnionType,
			dwarf.TagEnumerationType, dwarf.TagPointerType, dwarf.TagArrayType:
			if name != "" && !isDecl(e) {
				in.types[name] = e.Offset
				switch e.Tag {
				case dwarf.TagStructType:
					in.typeAlias("struct "+name, e.Offset)
				case dwarf.TagUnionType:
					in.typeAlias("union "+name, e.Offset)
				case dwarf.TagEnumerationType:
					in.typeAlias("enum "+name, e.Offset)
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
}

func (in *info) typeAlias(name string, off dwarf.Offset) {
	if _, ok := in.types[name]; !ok {
		in.types[name] = off
	}
}

func isDecl(e *dwarf.Entry) bool {
	b, _ := e.Val(dwarf.AttrDeclaration).(bool)
	return b
}

// typeAt converts the DWARF type at off.
func (in *info) typeAt(off dwarf.Offset) (t *typ, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed DWARF type at %#x (%v)", off, p)
		}
	}()
	dt, err := in.d.Type(off)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tc.conv(dt), nil
}

// typeNamed returns the DWARF type of that name, or nil.
func (in *info) typeNamed(name string) *typ {
	if in.err != nil {
		return nil
	}
	off, ok := in.types[name]
	if !ok {
		return nil
	}
	t, err := in.typeAt(off)
	if err != nil {
		return nil
	}
	return t
}

// entry reads the DIE at off.
func (in *info) entry(off dwarf.Offset) (*dwarf.Entry, error) {
	r := in.d.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err == nil && e == nil {
		err = fmt.Errorf("no DIE at %#x", off)
	}
	return e, err
}

// cuOf returns the unit holding off.
func (in *info) cuOf(off dwarf.Offset) *dwarf.Entry {
	var best *dwarf.Entry
	for o, e := range in.cus {
		if o <= off && (best == nil || o > best.Offset) {
			best = e
		}
	}
	return best
}

// frameInfo is the DWARF of the function holding a PC: its DIE, frame
// base, the variables in scope (innermost block first) and its CU.
type frameInfo struct {
	fn    *dwarf.Entry
	name  string
	cu    *dwarf.Entry
	vars  []*dwarf.Entry // formal parameters and locals whose scope holds pc
	depth []int          // nesting depth of each var's scope (higher is inner)
}

// function finds the subprogram holding the file address pc, descending
// into the lexical blocks and inlined calls that hold it.
func (in *info) function(pc uint64) (fi *frameInfo, err error) {
	if in.err != nil {
		return nil, in.err
	}
	in.mu.Lock()
	fi, ok := in.funcs[pc]
	in.mu.Unlock()
	if ok {
		return fi, nil
	}
	defer func() {
		if err == nil {
			in.mu.Lock()
			if len(in.funcs) >= 4096 {
				clear(in.funcs)
			}
			in.funcs[pc] = fi
			in.mu.Unlock()
		}
	}()
	defer func() {
		if p := recover(); p != nil {
			fi, err = nil, fmt.Errorf("malformed DWARF (%v)", p)
		}
	}()
	r := in.d.Reader()
	cu, err := r.SeekPC(pc)
	if err != nil {
		// No unit claims pc through its ranges: scan them all (some
		// producers omit DW_AT_ranges on units).
		r.Seek(0)
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				return nil, fmt.Errorf("no function at %#x in the DWARF", pc)
			}
			if e.Tag == dwarf.TagCompileUnit {
				cu = e
				continue
			}
			if e.Tag == dwarf.TagSubprogram && in.contains(e, pc) {
				return in.walkFunction(r, cu, e, pc)
			}
			if e.Children && e.Tag != dwarf.TagCompileUnit {
				r.SkipChildren()
			}
		}
	}
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil || e.Tag == 0 || e.Tag == dwarf.TagCompileUnit {
			return nil, fmt.Errorf("no function at %#x in the DWARF", pc)
		}
		if e.Tag == dwarf.TagSubprogram && in.contains(e, pc) {
			return in.walkFunction(r, cu, e, pc)
		}
		if e.Children && e.Tag != dwarf.TagNamespace && e.Tag != dwarf.TagModule {
			r.SkipChildren()
		}
	}
}

func (in *info) contains(e *dwarf.Entry, pc uint64) bool {
	rs, err := in.d.Ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range rs {
		if rg[0] <= pc && pc < rg[1] {
			return true
		}
	}
	return false
}

// walkFunction collects the variables of fn visible at pc; r is positioned
// at fn's first child.
func (in *info) walkFunction(r *dwarf.Reader, cu, fn *dwarf.Entry, pc uint64) (*frameInfo, error) {
	fi := &frameInfo{fn: fn, cu: cu, name: in.dieName(fn)}
	if !fn.Children {
		return fi, nil
	}
	depth := 1
	// visible[d] says whether the scope at depth d holds pc.
	visible := []bool{true, true}
	for depth > 0 {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			visible = visible[:depth+1]
			continue
		}
		in := visible[depth] && in.scopeHolds(e, pc)
		switch e.Tag {
		case dwarf.TagFormalParameter, dwarf.TagVariable:
			if visible[depth] {
				fi.vars = append(fi.vars, e)
				fi.depth = append(fi.depth, depth)
			}
		}
		if e.Children {
			depth++
			visible = append(visible, in && (e.Tag == dwarf.TagLexDwarfBlock || e.Tag == dwarf.TagInlinedSubroutine))
		}
	}
	return fi, nil
}

// scopeHolds reports whether a block or inlined call covers pc; other DIEs
// are not scopes.
func (in *info) scopeHolds(e *dwarf.Entry, pc uint64) bool {
	if e.Tag != dwarf.TagLexDwarfBlock && e.Tag != dwarf.TagInlinedSubroutine {
		return false
	}
	if e.Val(dwarf.AttrLowpc) == nil && e.Val(dwarf.AttrRanges) == nil {
		return true // a block without ranges spans its parent
	}
	return in.contains(e, pc)
}

// origin returns the DIE that e's DW_AT_abstract_origin names (inlined
// and out-of-line copies keep name and type there), or e.
func (in *info) origin(e *dwarf.Entry) *dwarf.Entry {
	for i := 0; i < 4; i++ {
		o, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			if o, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset); !ok {
				return e
			}
		}
		oe, err := in.entry(o)
		if err != nil {
			return e
		}
		e = oe
	}
	return e
}

func (in *info) dieName(e *dwarf.Entry) string {
	if n, ok := e.Val(dwarf.AttrName).(string); ok {
		return n
	}
	if n, ok := in.origin(e).Val(dwarf.AttrName).(string); ok {
		return n
	}
	return "?"
}

// dieType returns the type of a variable DIE.
func (in *info) dieType(e *dwarf.Entry) (*typ, error) {
	off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
	if !ok {
		off, ok = in.origin(e).Val(dwarf.AttrType).(dwarf.Offset)
	}
	if !ok {
		return nil, fmt.Errorf("variable %s has no type in the DWARF", in.dieName(e))
	}
	return in.typeAt(off)
}
