package module

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Location is one source-level frame at an address.
type Location struct {
	Function string // demangled, with parameters for C++
	File     string // "" if unknown
	Line     int    // 0 if unknown
	Inline   bool   // an inlined call, not a real (physical) frame
	// Site tells an inlined call from the function's other inlined calls
	// of the same function (the address its code begins at); 0 for a
	// physical frame.
	Site uint64
}

// attrMIPSLinkageName is DW_AT_MIPS_linkage_name, which older GCCs emit
// instead of DW_AT_linkage_name.
const attrMIPSLinkageName dwarf.Attr = 0x2007

// dwarfIndex is the lazily built view of one file's DWARF: the compile
// units and their PC ranges, from .debug_aranges when it is complete, else
// from the unit DIEs. Everything below a unit is loaded on first use of
// that unit, through a dwarf.Data holding that unit alone (see aranges.go).
type dwarfIndex struct {
	file   string // the file the DWARF came from, for messages
	elf    *elf.File
	sec    map[string][]byte // "info", "abbrev", ...: the sections read
	units  []*cuInfo
	ranges []pcRange // unit ranges, sorted by lo

	// Raw sections for re-reading line table file names.
	lineSec, lineStrSec, strSec []byte
	order                       binary.ByteOrder
	infoLen                     int // bounds DIE walks in corrupt files

	// The Data of every unit, built only when asked for (DWARF) or
	// when a unit refers outside itself.
	fullOnce sync.Once
	fullData *dwarf.Data
	fullErr  error

	nameMu sync.Mutex
	names  map[dwarf.Offset]string // by .debug_info offset

	m *Module // for split DWARF: opening .dwo files, warnings
}

// pcRange maps [lo, hi) to an index (of a unit or of a function node).
type pcRange struct {
	lo, hi uint64
	idx    int
}

// cuInfo is one compile unit and what has been loaded of it.
type cuInfo struct {
	hdr unitHeader // zero when the unit came from the full Data

	openOnce sync.Once
	d        *dwarf.Data  // this unit alone, or the full Data
	base     dwarf.Offset // add to d's offsets to get .debug_info offsets
	entry    *dwarf.Entry // the unit DIE; nil if it could not be read

	lineOnce sync.Once
	lines    []lineRow
	files    []string // line-table file names by file index

	// split is the split unit of a skeleton unit (split.go), where its
	// functions and inlined calls are; nil for other units and when it
	// could not be loaded.
	splitOnce sync.Once
	split     *splitUnit

	treeOnce sync.Once
	nodes    []fnNode
	funcs    []pcRange // physical functions (subprogram nodes), sorted by lo
}

// lineRow is one row of a line table.
type lineRow struct {
	addr uint64
	file int32
	line int32
	end  bool // end_sequence: no code from here
	stmt bool // is_stmt: a recommended breakpoint location
}

// fnNode is a DW_TAG_subprogram or DW_TAG_inlined_subroutine with code.
type fnNode struct {
	off      dwarf.Offset // the DIE, for its name
	ranges   [][2]uint64
	inlined  bool   // a DW_TAG_inlined_subroutine
	entry    uint64 // inlined subroutines: the first instruction run
	callFile int    // inlined subroutines: where the call was
	callLine int
	children []int32 // inlined subroutines directly within this node
}

func (n *fnNode) contains(pc uint64) bool {
	for _, r := range n.ranges {
		if pc >= r[0] && pc < r[1] {
			return true
		}
	}
	return false
}

// DWARF returns the module's DWARF data: the debug file's if it has any,
// else the binary's.
func (m *Module) DWARF() (*dwarf.Data, error) {
	ix := m.dwarfIndex()
	if ix == nil {
		return nil, m.dwErr
	}
	return ix.full()
}

// full returns the Data of every unit, building it on first use.
func (ix *dwarfIndex) full() (*dwarf.Data, error) {
	ix.fullOnce.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				ix.fullData, ix.fullErr = nil, &FormatError{File: ix.file, Section: ".debug_info", Offset: -1, Msg: fmt.Sprintf("malformed DWARF (%v)", p)}
			}
		}()
		d, err := newDWARF(ix.elf, ix.get)
		if err != nil {
			err = &FormatError{File: ix.file, Section: ".debug_info", Offset: -1, Err: err}
		}
		ix.fullData, ix.fullErr = d, err
	})
	return ix.fullData, ix.fullErr
}

func (ix *dwarfIndex) get(name string) []byte { return ix.sec[name] }

// unitData builds a Data holding only the unit h: dwarf.New then parses one
// abbreviation table and one unit DIE instead of thousands.
func (ix *dwarfIndex) unitData(h unitHeader) (*dwarf.Data, error) {
	info := ix.sec["info"][h.off:h.end:h.end]
	d, err := dwarf.New(ix.get("abbrev"), nil, nil, info, ix.get("line"), nil, ix.get("ranges"), ix.get("str"))
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := ix.get(name); b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
}

// open finds the Data and the unit DIE of a unit indexed from
// .debug_aranges: its own Data when its DIEs refer only within the unit,
// else the full one.
func (ix *dwarfIndex) open(cu *cuInfo) {
	cu.openOnce.Do(func() {
		if cu.d != nil {
			return
		}
		defer func() {
			if recover() != nil {
				cu.d, cu.entry = nil, nil
			}
		}()
		if selfContained(ix.get("abbrev"), cu.hdr.abbrevOff) {
			if d, err := ix.unitData(cu.hdr); err == nil {
				if e, err := d.Reader().Next(); err == nil && e != nil && isUnitTag(e.Tag) {
					cu.d, cu.base, cu.entry = d, dwarf.Offset(cu.hdr.off), e
					return
				}
			}
		}
		d, err := ix.full()
		if err != nil {
			return
		}
		r := d.Reader()
		r.Seek(dwarf.Offset(cu.hdr.dieOff))
		if e, err := r.Next(); err == nil && e != nil && isUnitTag(e.Tag) {
			cu.d, cu.base, cu.entry = d, 0, e
		}
	})
}

func isUnitTag(t dwarf.Tag) bool {
	return t == dwarf.TagCompileUnit || t == dwarf.TagPartialUnit || t == dwarf.TagSkeletonUnit
}

func (m *Module) dwarfIndex() *dwarfIndex {
	m.dwarfOnce.Do(func() {
		m.dw, m.dwErr = m.loadDWARF()
		if m.dwErr != nil {
			m.dw = nil
		}
	})
	return m.dw
}

// newDWARF builds f's dwarf.Data from only the sections symbolization and
// type decoding need. elf.File.DWARF would decompress every .debug_*
// section, and location lists alone are often the largest: skipping them
// halves the cold cost of a distribution's compressed debug file.
// Relocatable objects, which need relocations applied, still go through
// elf.File.DWARF.
func newDWARF(f *elf.File, get func(name string) []byte) (*dwarf.Data, error) {
	if f.Type == elf.ET_REL {
		return f.DWARF()
	}
	d, err := dwarf.New(get("abbrev"), nil, nil, get("info"), get("line"), nil, get("ranges"), get("str"))
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"addr", "line_str", "str_offsets", "rnglists"} {
		if b := get(name); b != nil {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, err
			}
		}
	}
	if b := get("types"); b != nil {
		if err := d.AddTypes(".debug_types", b); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func hasDWARF(f *elf.File) bool {
	if f == nil {
		return false
	}
	for _, name := range []string{".debug_info", ".zdebug_info"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			return true
		}
	}
	return false
}

func (m *Module) loadDWARF() (ix *dwarfIndex, err error) {
	f, path := m.Debug, m.DebugPath
	if !hasDWARF(f) {
		f, path = m.File, m.Path
	}
	if !hasDWARF(f) {
		return nil, fmt.Errorf("module: %s: no DWARF debug information", m.Path)
	}
	defer func() {
		if p := recover(); p != nil {
			ix, err = nil, &FormatError{File: path, Section: ".debug_info", Offset: -1, Msg: fmt.Sprintf("malformed DWARF (%v)", p)}
			m.warnf("%v", err)
		}
	}()
	// Sections come from the one file the DWARF is in, never mixed.
	// Distributions compress debug sections, and inflating them is most
	// of the cold cost: inflate the sections we use in parallel.
	names := []string{"abbrev", "info", "line", "ranges", "str", "addr", "line_str", "str_offsets", "rnglists", "types", "aranges"}
	got := make(map[string][]byte, len(names))
	var (
		wg  sync.WaitGroup
		gmu sync.Mutex
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, _, err := m.sectionData1(f, ".debug_"+name)
			if err != nil {
				m.warnf("%v", &FormatError{File: path, Section: ".debug_" + name, Offset: -1, Err: err})
			}
			gmu.Lock()
			got[name] = d
			gmu.Unlock()
		}()
	}
	wg.Wait()
	ix = &dwarfIndex{file: path, elf: f, sec: got, names: make(map[dwarf.Offset]string), order: f.ByteOrder, m: m}
	ix.lineSec, ix.lineStrSec, ix.strSec = got["line"], got["line_str"], got["str"]
	ix.infoLen = len(got["info"])
	// Relocatable objects need relocations applied to .debug_info,
	// which only elf.File.DWARF does; .debug_types units are reached by
	// signature from other units.
	if f.Type != elf.ET_REL && got["types"] == nil {
		err := ix.indexAranges()
		if err == nil {
			return ix, nil
		}
		if err != errNoAranges && err != errUnitsMissing {
			m.warnf("%v", &FormatError{File: path, Section: ".debug_aranges", Offset: -1, Msg: "unusable, indexing every unit instead", Err: err})
		}
	}
	d, err := ix.full()
	if err != nil {
		m.warnf("%v", err)
		return nil, err
	}
	ix.indexUnits(d, m.warnf)
	return ix, nil
}

// indexAranges indexes the units from .debug_aranges. The table must name
// only real unit starts. Units it leaves out (compilers need not describe
// every unit there) are read one by one, unless they are many: then
// reading them all at once is cheaper, and errUnitsMissing says so.
func (ix *dwarfIndex) indexAranges() error {
	sets, err := parseAranges(ix.get("aranges"), ix.order)
	if err != nil {
		return err
	}
	hs, err := unitHeaders(ix.get("info"), ix.order)
	if err != nil {
		return err
	}
	byOff := make(map[uint64]int, len(hs))
	for i, h := range hs {
		byOff[h.off] = i
	}
	cus := make([]*cuInfo, len(hs)) // by header index, only units with code
	covered := make([]bool, len(hs))
	for _, s := range sets {
		i, ok := byOff[s.infoOff]
		if !ok {
			return fmt.Errorf("a set names .debug_info offset %#x, which starts no unit", s.infoOff)
		}
		if t := hs[i].unitType; t != utCompile && t != utPartial && t != utSkeleton {
			return fmt.Errorf("a set names the unit at %#x, of type %#x", s.infoOff, t)
		}
		covered[i] = true
		if len(s.ranges) == 0 {
			continue
		}
		if cus[i] == nil {
			cus[i] = &cuInfo{hdr: hs[i]}
		}
		for _, r := range s.ranges {
			ix.ranges = append(ix.ranges, pcRange{r[0], r[1], i})
		}
	}
	var missing []int
	for i, h := range hs {
		if !covered[i] && (h.unitType == utCompile || h.unitType == utPartial || h.unitType == utSkeleton) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 16 && len(missing) > len(hs)/8 {
		ix.ranges = nil
		return errUnitsMissing
	}
	for _, i := range missing {
		cu := &cuInfo{hdr: hs[i]}
		ix.open(cu)
		if cu.entry == nil {
			continue
		}
		if rs, err := cu.d.Ranges(cu.entry); err == nil && len(rs) > 0 {
			cus[i] = cu
			for _, r := range rs {
				if r[1] > r[0] {
					ix.ranges = append(ix.ranges, pcRange{r[0], r[1], i})
				}
			}
		}
	}
	// Renumber the ranges from header indices to ix.units indices.
	idx := make([]int, len(hs))
	for i, cu := range cus {
		if cu != nil {
			idx[i] = len(ix.units)
			ix.units = append(ix.units, cu)
		}
	}
	for i := range ix.ranges {
		ix.ranges[i].idx = idx[ix.ranges[i].idx]
	}
	sortRanges(ix.ranges)
	return nil
}

var errUnitsMissing = errors.New(".debug_aranges leaves out many units")

// indexUnits indexes every unit of d by the ranges of its unit DIE.
func (ix *dwarfIndex) indexUnits(d *dwarf.Data, warnf func(string, ...any)) {
	path := ix.file
	r := d.Reader()
	var next dwarf.Offset
	// Every DIE takes at least a byte: more entries than bytes means a
	// corrupt sibling link has sent the reader round in a loop.
	for budget := ix.infoLen + 1; ; budget-- {
		if budget <= 0 {
			warnf("%v", &FormatError{File: path, Section: ".debug_info", Offset: -1, Msg: "DIE chain loops (bad DW_AT_sibling?)"})
			break
		}
		e, err := r.Next()
		if err != nil {
			// Keep the units read so far: a corrupt unit late in
			// the file should not hide the good ones before it.
			warnf("%v", &FormatError{File: path, Section: ".debug_info", Offset: -1, Err: err})
			break
		}
		if e == nil {
			break
		}
		// Offsets only grow in well-formed DWARF; a DW_AT_sibling
		// pointing backwards would otherwise loop for ever.
		if e.Offset < next && e.Tag != 0 {
			warnf("%v", &FormatError{File: path, Section: ".debug_info", Offset: int64(e.Offset), Msg: "DIE offsets go backwards (bad DW_AT_sibling?)"})
			break
		}
		next = e.Offset + 1
		if isUnitTag(e.Tag) {
			rs, err := d.Ranges(e)
			if err == nil && len(rs) > 0 {
				idx := len(ix.units)
				ix.units = append(ix.units, &cuInfo{d: d, entry: e})
				for _, r := range rs {
					if r[1] > r[0] {
						ix.ranges = append(ix.ranges, pcRange{r[0], r[1], idx})
					}
				}
			}
		}
		r.SkipChildren()
	}
	sortRanges(ix.ranges)
}

func sortRanges(rs []pcRange) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].lo != rs[j].lo {
			return rs[i].lo < rs[j].lo
		}
		return rs[i].hi < rs[j].hi
	})
}

// lookupRange returns the index of the range containing pc. Ranges rarely
// nest or overlap; a short walk back from the nearest start handles those
// that do, preferring the innermost (latest-starting) range.
func lookupRange(rs []pcRange, pc uint64) (int, bool) {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].lo > pc }) - 1
	for j := i; j >= 0 && j > i-16; j-- {
		if pc < rs[j].hi {
			return rs[j].idx, true
		}
	}
	return 0, false
}

// Frames returns the source-level frames at the link-time address addr,
// innermost first: inlined calls (Inline true), then the function they were
// inlined into. The innermost frame's file:line is the line-table row for
// addr; each outer frame's is the call site of the inlined call it contains,
// as gdb and addr2line -i show. Without DWARF it returns one frame holding
// the symbol name, or nil if there is none. noSource skips the line table
// (names only), which is much faster on first use of a compile unit.
// SubprogramAt returns the .debug_info offset, for use with DWARF, of the
// DW_TAG_subprogram whose code holds addr (a link-time address). Only the
// unit whose ranges hold addr is read, so a caller after a few functions
// of a large program does not page in its whole .debug_info. ok is false
// when no unit holds addr, when its unit is split (its DIEs are in a .dwo
// file, not in DWARF's data) and when the DWARF is malformed.
func (m *Module) SubprogramAt(addr uint64) (off dwarf.Offset, ok bool) {
	defer func() {
		if recover() != nil {
			off, ok = 0, false
		}
	}()
	ix := m.dwarfIndex()
	if ix == nil {
		return 0, false
	}
	ci, ok := lookupRange(ix.ranges, addr)
	if !ok {
		return 0, false
	}
	cu := ix.units[ci]
	if ix.open(cu); cu.entry == nil || cu.entry.Val(dwarf.AttrDwoName) != nil || cu.entry.Val(attrGNUDwoName) != nil {
		return 0, false
	}
	cu.treeOnce.Do(func() { ix.loadTree(cu) })
	fi, ok := lookupRange(cu.funcs, addr)
	if !ok {
		return 0, false
	}
	return cu.base + cu.nodes[fi].off, true
}

func (m *Module) Frames(addr uint64, noSource bool) (locs []Location) {
	defer func() {
		if p := recover(); p != nil {
			m.warnf("%v", &FormatError{File: m.Path, Section: ".debug_info", Offset: -1, Msg: fmt.Sprintf("malformed DWARF at address %#x (%v)", addr, p)})
			locs = m.symbolFrame(addr)
		}
	}()
	ix, cu := m.unitAt(addr, !noSource)
	if cu == nil {
		return m.symbolFrame(addr)
	}
	chain := cu.chain(addr)
	file, line := "", 0
	if !noSource {
		file, line = cu.lineFor(addr)
	}
	if len(chain) == 0 {
		name, _, ok := m.Symbol(addr)
		if !ok && file == "" {
			return nil
		}
		return []Location{{Function: name, File: file, Line: line}}
	}
	locs = make([]Location, 0, len(chain))
	for i := len(chain) - 1; i >= 0; i-- {
		n := chain[i]
		loc := Location{Function: ix.name(cu, n.off), File: file, Line: line, Inline: i > 0}
		if loc.Inline {
			loc.Site = n.entry
		}
		locs = append(locs, loc)
		if !noSource {
			file, line = cu.fileName(n.callFile), n.callLine
		}
	}
	if locs[len(locs)-1].Function == "" {
		locs[len(locs)-1].Function, _, _ = m.Symbol(addr)
	}
	return locs
}

// unitAt returns the compile unit with code at addr (a link-time address),
// its functions and inlined calls read, and its line table too if lines is
// set; nil if none holds addr.
func (m *Module) unitAt(addr uint64, lines bool) (*dwarfIndex, *cuInfo) {
	ix := m.dwarfIndex()
	if ix == nil {
		return nil, nil
	}
	ci, ok := lookupRange(ix.ranges, addr)
	if !ok {
		return nil, nil
	}
	cu := ix.units[ci]
	if !ix.prepare(cu, lines) {
		return nil, nil
	}
	return ix, cu
}

// prepare reads unit cu's functions and inlined calls, and its line table
// if lines is set; false if its unit DIE cannot be read.
func (ix *dwarfIndex) prepare(cu *cuInfo, lines bool) bool {
	if ix.open(cu); cu.entry == nil {
		return false
	}
	cu.splitOnce.Do(func() {
		if cu.entry.Val(dwarf.AttrDwoName) != nil || cu.entry.Val(attrGNUDwoName) != nil {
			cu.split = ix.splitFor(cu)
		}
	})
	cu.treeOnce.Do(func() { ix.loadTree(cu) })
	if lines {
		cu.lineOnce.Do(func() { ix.loadLines(cu) })
	}
	return true
}

// InlinedCopies returns where each call of function name inlined into
// another function begins (link-time addresses, lowest first): the entry
// of every DW_TAG_inlined_subroutine whose DW_AT_abstract_origin is name
// (DW_AT_entry_pc, else the start of its first range), as gdb places a
// breakpoint on an inlined function. name is the DWARF name, or the
// demangled name with or without its parameters. Every unit's DIEs are
// read. Malformed DWARF ends the search with what was found.
func (m *Module) InlinedCopies(name string) (out []uint64) {
	defer func() {
		recover()
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	}()
	ix := m.dwarfIndex()
	if ix == nil {
		return nil
	}
	for _, cu := range ix.units {
		if !ix.prepare(cu, false) {
			continue
		}
		for i := range cu.nodes {
			n := &cu.nodes[i]
			if !n.inlined {
				continue
			}
			full := ix.name(cu, n.off)
			if base, _, _ := strings.Cut(full, "("); full == name || base == name {
				out = append(out, n.entry)
			}
		}
	}
	return out
}

// chain returns the function and inlined-call nodes containing addr,
// outermost first.
func (cu *cuInfo) chain(addr uint64) []*fnNode {
	var chain []*fnNode
	if fi, ok := lookupRange(cu.funcs, addr); ok {
		n := &cu.nodes[fi]
		chain = append(chain, n)
	descend:
		for len(chain) < 256 { // bounds a corrupt, cyclic tree
			for _, c := range n.children {
				if cn := &cu.nodes[c]; cn.contains(addr) {
					n = cn
					chain = append(chain, n)
					continue descend
				}
			}
			break
		}
	}
	return chain
}

// InlineEntries returns how many of the innermost inlined calls at addr (a
// link-time address; Frames lists them first) begin there: addr is their
// DW_AT_entry_pc, else the start of their first range. A debugger stopped
// there shows the call site rather than the inlined body not yet run, as
// gdb does. Malformed DWARF gives 0.
func (m *Module) InlineEntries(addr uint64) (n int) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	_, cu := m.unitAt(addr, false)
	if cu == nil {
		return 0
	}
	chain := cu.chain(addr)
	for i := len(chain) - 1; i > 0 && chain[i].entry == addr; i-- {
		n++
	}
	return n
}

// StmtLine returns the file and line a debugger stops on at addr (a
// link-time address): the line-table row covering addr, except that a row
// not marked is_stmt yields to the last is_stmt row at the same address,
// as gdb chooses (Frames follows binutils: the last row, whatever its
// mark). ok is false when no row covers addr.
func (m *Module) StmtLine(addr uint64) (file string, line int, ok bool) {
	defer func() {
		if recover() != nil {
			file, line, ok = "", 0, false
		}
	}()
	_, cu := m.unitAt(addr, true)
	if cu == nil {
		return "", 0, false
	}
	rs := cu.lines
	i := sort.Search(len(rs), func(i int) bool { return rs[i].addr > addr }) - 1
	if i < 0 || rs[i].end {
		return "", 0, false
	}
	for j := i; j >= 0 && rs[j].addr == rs[i].addr && !rs[j].end; j-- {
		if rs[j].stmt {
			i = j
			break
		}
	}
	return cu.fileName(int(rs[i].file)), int(rs[i].line), true
}

func (m *Module) symbolFrame(addr uint64) []Location {
	name, _, ok := m.Symbol(addr)
	if !ok {
		return nil
	}
	return []Location{{Function: name}}
}

func (cu *cuInfo) fileName(i int) string {
	if i < 0 || i >= len(cu.files) {
		return ""
	}
	return cu.files[i]
}

// lineFor returns the file and line of the line-table row covering pc. As
// binutils does, of several rows at one address the last one wins.
func (cu *cuInfo) lineFor(pc uint64) (string, int) {
	rs := cu.lines
	i := sort.Search(len(rs), func(i int) bool { return rs[i].addr > pc }) - 1
	if i < 0 || rs[i].end {
		return "", 0
	}
	return cu.fileName(int(rs[i].file)), int(rs[i].line)
}

// loadLines reads the unit's line table into an address-sorted slice.
func (ix *dwarfIndex) loadLines(cu *cuInfo) {
	defer func() {
		if recover() != nil {
			cu.lines = nil // a corrupt table: no lines rather than a crash
		}
	}()
	lr, err := cu.d.LineReader(cu.entry)
	if err != nil || lr == nil {
		return
	}
	lf := lr.Files()
	fileIdx := make(map[*dwarf.LineFile]int32, len(lf))
	cu.files = make([]string, len(lf))
	for i, f := range lf {
		if f != nil {
			cu.files[i] = f.Name
			if _, ok := fileIdx[f]; !ok {
				fileIdx[f] = int32(i)
			}
		}
	}
	// Prefer binutils' spelling of the file names (see linefiles.go).
	if off, ok := cu.entry.Val(dwarf.AttrStmtList).(int64); ok && ix.lineSec != nil {
		compDir, _ := cu.entry.Val(dwarf.AttrCompDir).(string)
		if names, err := lineFileNames(ix.lineSec, off, ix.order, compDir, ix.lineStrSec, ix.strSec); err == nil && len(names) == len(cu.files) {
			copy(cu.files, names)
		}
	}
	var rows []lineRow
	var le dwarf.LineEntry
	for {
		if err := lr.Next(&le); err != nil {
			break
		}
		fi, ok := fileIdx[le.File]
		if !ok && le.File != nil {
			// A file defined by DW_LNE_define_file, after Files().
			fi = int32(len(cu.files))
			cu.files = append(cu.files, le.File.Name)
			fileIdx[le.File] = fi
		}
		rows = append(rows, lineRow{addr: le.Address, file: fi, line: int32(le.Line), end: le.EndSequence, stmt: le.IsStmt})
	}
	// Sequences may come in any order. Within one address, an end of
	// sequence sorts first so that a sequence starting where another ends
	// wins; otherwise the rows keep their table order and the last wins.
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].addr != rows[j].addr {
			return rows[i].addr < rows[j].addr
		}
		return rows[i].end && !rows[j].end
	})
	cu.lines = rows
}

// loadTree reads the unit's functions and their inlined calls. DIEs that
// cannot contain code (types, declarations, abstract instances) are
// skipped without decoding their children.
func (ix *dwarfIndex) loadTree(cu *cuInfo) {
	defer func() {
		if recover() != nil {
			cu.nodes, cu.funcs = nil, nil
		}
	}()
	d, top, size := cu.d, cu.entry, ix.infoLen
	ranges := d.Ranges
	if s := cu.split; s != nil {
		d, top, ranges, size = s.d, s.entry, s.ranges, s.infoLen
	}
	r := d.Reader()
	r.Seek(top.Offset)
	if e, err := r.Next(); err != nil || e == nil || !e.Children {
		return
	}
	// stack holds, per open DIE with children, the innermost enclosing
	// function node (-1 for none).
	stack := []int32{-1}
	next := top.Offset + 1
	for budget := size + 1; len(stack) > 0 && budget > 0; budget-- { // see loadDWARF
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 { // (null entries carry no offset)
			stack = stack[:len(stack)-1]
			continue
		}
		if e.Offset < next {
			break // corrupt: offsets never go backwards
		}
		next = e.Offset + 1
		parent := stack[len(stack)-1]
		cur := parent
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			rs, _ := ranges(e)
			if len(rs) == 0 || (e.Tag == dwarf.TagInlinedSubroutine && parent < 0) {
				r.SkipChildren()
				continue
			}
			idx := int32(len(cu.nodes))
			n := fnNode{off: e.Offset, ranges: rs}
			if e.Tag == dwarf.TagInlinedSubroutine {
				if v, ok := e.Val(dwarf.AttrCallFile).(int64); ok {
					n.callFile = int(v)
				}
				if v, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
					n.callLine = int(v)
				}
				n.inlined, n.entry = true, rs[0][0]
				switch v := e.Val(dwarf.AttrEntrypc).(type) {
				case uint64:
					n.entry = v
				case int64: // DWARF 5: an offset from the base address
					if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
						n.entry = lo + uint64(v)
					}
				}
				cu.nodes[parent].children = append(cu.nodes[parent].children, idx)
			} else {
				for _, r := range rs {
					if r[1] > r[0] {
						cu.funcs = append(cu.funcs, pcRange{r[0], r[1], int(idx)})
					}
				}
			}
			cu.nodes = append(cu.nodes, n)
			cur = idx
		case dwarf.TagLexDwarfBlock, dwarf.TagNamespace, dwarf.TagModule,
			dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			// May hold code-bearing DIEs.
		default:
			r.SkipChildren()
			continue
		}
		if e.Children {
			stack = append(stack, cur)
		}
	}
	sortRanges(cu.funcs)
}

// name returns the display name of the function DIE at off: its linkage
// name demangled if it (or the DIE it refers to by DW_AT_abstract_origin
// or DW_AT_specification) has one, else its DW_AT_name.
func (ix *dwarfIndex) name(cu *cuInfo, off dwarf.Offset) string {
	key, names, d := cu.base+off, ix.names, cu.d
	if s := cu.split; s != nil {
		key, names, d = off, s.names, s.d
	}
	ix.nameMu.Lock()
	s, ok := names[key]
	ix.nameMu.Unlock()
	if ok {
		return s
	}
	s = resolveName(d, off)
	ix.nameMu.Lock()
	names[key] = s
	ix.nameMu.Unlock()
	return s
}

func resolveName(d *dwarf.Data, off dwarf.Offset) string {
	r := d.Reader()
	plain := ""
	seen := 0
	for seen < 8 { // bounds a reference cycle in corrupt DWARF
		seen++
		r.Seek(off)
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		for _, a := range []dwarf.Attr{dwarf.AttrLinkageName, attrMIPSLinkageName} {
			if ln, ok := e.Val(a).(string); ok && ln != "" {
				return demangleName(ln)
			}
		}
		if n, ok := e.Val(dwarf.AttrName).(string); ok && plain == "" {
			plain = n
		}
		next, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			next, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			break
		}
		off = next
	}
	return plain
}
