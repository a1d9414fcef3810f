package module

// Split DWARF (DWARF 5 section 3.1.3 and appendix F; for DWARF 4 the GNU
// extension gcc -gdwarf-4 -gsplit-dwarf writes, gcc.gnu.org/wiki/DebugFission):
// the binary keeps a skeleton unit per compile unit (its PC ranges, its line
// table, DW_AT_addr_base) and the rest of the unit -- functions, inlined
// calls, names -- lives in a .dwo file named by DW_AT_dwo_name (relative to
// DW_AT_comp_dir), or in a .dwp package of many .dwo files, indexed by DWO id
// in .debug_cu_index. gdb reads them the same way.
//
// debug/dwarf reads a DWARF 5 split unit, given the right sections, but not
// the pieces that live elsewhere: the skeleton's .debug_addr at its
// addr_base, the implicit bases of .debug_str_offsets.dwo and
// .debug_rnglists.dwo, the GNU forms DW_FORM_GNU_addr_index and
// DW_FORM_GNU_str_index, range lists relative to the skeleton's base address.
// So each split unit gets a dwarf.Data of its own, made of those sections
// cut at their bases and an abbreviation table with the GNU forms renamed to
// their DWARF 5 equivalents (same encoding), and its ranges are decoded here.

import (
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// GNU split-DWARF attributes and forms (DWARF 4 extension).
const (
	attrGNUDwoName    dwarf.Attr = 0x2130
	attrGNUDwoID      dwarf.Attr = 0x2131
	attrGNURangesBase dwarf.Attr = 0x2132
	attrGNUAddrBase   dwarf.Attr = 0x2133

	formAddrx         = 0x1b
	formStrx          = 0x1a
	formImplicitConst = 0x21
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
)

// splitUnit is the split half of a skeleton unit, loaded.
type splitUnit struct {
	d     *dwarf.Data
	entry *dwarf.Entry // its unit DIE
	vers  int
	base  uint64 // the skeleton's base address (DW_AT_low_pc)
	addr  []byte // the skeleton's .debug_addr from its addr_base
	// rng holds the range lists: DWARF 5, .debug_rnglists.dwo past its
	// header (rnglistx values index it); DWARF 4, the binary's
	// .debug_ranges from DW_AT_GNU_ranges_base.
	rng     []byte
	order   binary.ByteOrder
	names   map[dwarf.Offset]string
	infoLen int // bounds DIE walks in corrupt files
}

// dwoFile is an opened .dwo or .dwp file, its sections by short name
// ("info", "abbrev", "str", "str_offsets", "rnglists", "cu_index").
type dwoFile struct {
	path  string
	sec   map[string][]byte
	index map[uint64]dwpRow // .dwp only: by DWO id
}

// dwpRow is one unit's contribution to each section of a .dwp, by short
// section name: offset and size.
type dwpRow map[string][2]uint64

// splitState is what a module keeps of its split DWARF: the .dwp (looked
// for once) and the .dwo files opened, by path.
type splitState struct {
	mu      sync.Mutex
	dwpDone bool
	dwp     *dwoFile
	dwos    map[string]*dwoFile
	missing bool // a note about a missing .dwo was made
}

// splitFor loads the split unit of the skeleton unit cu, or returns nil
// (with a warning on the module, once) when it cannot be found or read:
// names then come from the symbol table, lines from the skeleton.
func (ix *dwarfIndex) splitFor(cu *cuInfo) *splitUnit {
	e := cu.entry
	name, _ := e.Val(dwarf.AttrDwoName).(string)
	if name == "" {
		name, _ = e.Val(attrGNUDwoName).(string)
	}
	if name == "" || ix.m == nil {
		return nil
	}
	id, ok := ix.dwoID(cu)
	if !ok {
		ix.m.warnf("split DWARF: the skeleton unit for %s has no DWO id", name)
		return nil
	}
	compDir, _ := e.Val(dwarf.AttrCompDir).(string)
	s, err := ix.m.loadSplit(ix, cu, name, compDir, id)
	if err != nil {
		if !errors.Is(err, errSaid) {
			ix.m.warnf("split DWARF: %v", err)
		}
		return nil
	}
	return s
}

// dwoID returns the DWO id of a skeleton unit: in the DWARF 5 unit header,
// just before the unit DIE, or DW_AT_GNU_dwo_id.
func (ix *dwarfIndex) dwoID(cu *cuInfo) (uint64, bool) {
	if v, ok := cu.entry.Val(attrGNUDwoID).(int64); ok {
		return uint64(v), true
	}
	if v, ok := cu.entry.Val(attrGNUDwoID).(uint64); ok {
		return v, true
	}
	if cu.entry.Tag != dwarf.TagSkeletonUnit {
		return 0, false
	}
	off := uint64(cu.base) + uint64(cu.entry.Offset)
	info := ix.sec["info"]
	if off < 8 || off > uint64(len(info)) {
		return 0, false
	}
	return ix.order.Uint64(info[off-8:]), true
}

// loadSplit finds the unit with DWO id id: in the module's .dwp if there is
// one, else in the .dwo file name.
func (m *Module) loadSplit(ix *dwarfIndex, cu *cuInfo, name, compDir string, id uint64) (*splitUnit, error) {
	st := &m.split
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.dwpDone {
		st.dwpDone = true
		st.dwp = m.openDWP()
	}
	if st.dwp != nil {
		if row, ok := st.dwp.index[id]; ok {
			return ix.newSplit(cu, st.dwp, row, id)
		}
	}
	path := name
	if !filepath.IsAbs(path) && compDir != "" {
		path = filepath.Join(compDir, path)
	}
	cands := []string{path, filepath.Join(filepath.Dir(m.Path), filepath.Base(name))}
	if st.dwos == nil {
		st.dwos = map[string]*dwoFile{}
	}
	var openErr error
	for _, p := range cands {
		f, ok := st.dwos[p]
		if !ok {
			var err error
			f, err = m.openDWO(p)
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) && openErr == nil {
					openErr = err
				}
				continue
			}
			st.dwos[p] = f
		}
		return ix.newSplit(cu, f, nil, id)
	}
	if openErr != nil {
		return nil, openErr
	}
	if st.missing {
		return nil, errSaid
	}
	st.missing = true
	dwp := m.Path + ".dwp"
	return nil, fmt.Errorf("%s not found (nor %s): no inline frames for its code, whose names come from the symbol table", path, dwp)
}

// errSaid is a failure already reported once.
var errSaid = errors.New("said")

// openDWO opens a .dwo file (through Root) and reads its sections.
func (m *Module) openDWO(path string) (*dwoFile, error) {
	fh, err := os.Open(m.opts.rooted(path))
	if err != nil {
		return nil, err
	}
	f, img, closer, err := openMapped(path, fh)
	if err != nil {
		return nil, err
	}
	// The sections are used in place, so the mapping lives as long as
	// the module.
	m.addImage(f, img, closer)
	d := &dwoFile{path: path, sec: map[string][]byte{}}
	for _, n := range []string{"info", "abbrev", "str", "str_offsets", "rnglists", "cu_index"} {
		name := ".debug_" + n + ".dwo"
		if n == "cu_index" {
			name = ".debug_cu_index" // .dwp only
		}
		data, _, ok, err := m.sectionData1(f, name)
		if err != nil {
			return nil, &FormatError{File: path, Section: name, Offset: -1, Err: err}
		}
		if ok {
			d.sec[n] = data
		}
	}
	if d.sec["info"] == nil || d.sec["abbrev"] == nil {
		return nil, &FormatError{File: path, Offset: -1, Msg: "no .debug_info.dwo or .debug_abbrev.dwo"}
	}
	return d, nil
}

// openDWP opens the module's .dwp package, next to the binary (or to its
// debug file), as gdb looks for it; nil if there is none.
func (m *Module) openDWP() *dwoFile {
	cands := []string{m.Path + ".dwp"}
	if m.DebugPath != "" {
		cands = append(cands, m.DebugPath+".dwp", trimExt(m.DebugPath, ".debug")+".dwp")
	}
	for _, p := range cands {
		d, err := m.openDWO(p)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				m.warnf("split DWARF package %s: %v", p, err)
			}
			continue
		}
		d.index, err = parseCUIndex(d.sec["cu_index"], m.File.ByteOrder)
		if err != nil {
			m.warnf("%v", &FormatError{File: p, Section: ".debug_cu_index", Offset: -1, Err: err})
			continue
		}
		return d
	}
	return nil
}

func trimExt(p, ext string) string {
	if filepath.Ext(p) == ext {
		return p[:len(p)-len(ext)]
	}
	return p
}

// parseCUIndex reads a .dwp's .debug_cu_index (DWARF 5 section 7.3.5;
// version 2 is the GNU DWARF 4 format, with other section numbers).
func parseCUIndex(sec []byte, bo binary.ByteOrder) (map[uint64]dwpRow, error) {
	if len(sec) < 16 {
		return nil, errors.New("missing or truncated")
	}
	b := lineBuf{b: sec, bo: bo}
	ver := b.u32()
	if bo.Uint16(sec) == 5 {
		ver = 5 // a uhalf version and a uhalf of padding
	}
	var names map[uint64]string
	switch ver {
	case 2:
		names = map[uint64]string{1: "info", 3: "abbrev", 4: "line", 6: "str_offsets"}
	case 5:
		names = map[uint64]string{1: "info", 3: "abbrev", 4: "line", 6: "str_offsets", 8: "rnglists"}
	default:
		return nil, fmt.Errorf("unsupported version %d", ver)
	}
	ncol, nunit, nslot := b.u32(), b.u32(), b.u32()
	// Every count is bounded by the section's size before anything is
	// allocated from it.
	if b.err != nil || ncol == 0 || ncol > 64 || nslot > uint64(len(sec))/12 || nunit > nslot {
		return nil, fmt.Errorf("bad header (%d columns, %d units, %d slots)", ncol, nunit, nslot)
	}
	sigs := make([]uint64, nslot)
	for i := range sigs {
		sigs[i] = b.u64()
	}
	rows := make([]uint64, nslot)
	for i := range rows {
		rows[i] = b.u32()
	}
	cols := make([]uint64, ncol)
	for i := range cols {
		cols[i] = b.u32()
	}
	if b.err != nil || nunit*ncol*8 > uint64(len(sec)-b.off) {
		return nil, errors.New("truncated")
	}
	offs, sizes := b.off, b.off+int(nunit*ncol*4)
	out := make(map[uint64]dwpRow, nunit)
	for i, r := range rows {
		if r == 0 {
			continue
		}
		if r > nunit {
			return nil, fmt.Errorf("slot %d names row %d of %d", i, r, nunit)
		}
		row := dwpRow{}
		for c, id := range cols {
			if n, ok := names[id]; ok {
				at := uint64((r-1)*ncol + uint64(c))
				row[n] = [2]uint64{uint64(bo.Uint32(sec[uint64(offs)+4*at:])), uint64(bo.Uint32(sec[uint64(sizes)+4*at:]))}
			}
		}
		out[sigs[i]] = row
	}
	return out, nil
}

// contribution returns the part of section name that row gives the unit,
// or all of it for a .dwo (row nil).
func (f *dwoFile) contribution(name string, row dwpRow) ([]byte, error) {
	sec := f.sec[name]
	if row == nil {
		return sec, nil
	}
	c, ok := row[name]
	if !ok {
		return nil, nil
	}
	if c[0] > uint64(len(sec)) || c[1] > uint64(len(sec))-c[0] {
		return nil, &FormatError{File: f.path, Section: ".debug_" + name + ".dwo", Offset: int64(c[0]), Msg: fmt.Sprintf("contribution of %#x bytes runs past the section", c[1])}
	}
	return sec[c[0] : c[0]+c[1]], nil
}

// newSplit builds the Data of the split unit with DWO id id in f.
func (ix *dwarfIndex) newSplit(cu *cuInfo, f *dwoFile, row dwpRow, id uint64) (*splitUnit, error) {
	fail := func(sec string, msg string, args ...any) error {
		return &FormatError{File: f.path, Section: sec, Offset: -1, Msg: fmt.Sprintf(msg, args...)}
	}
	var secs [4][]byte
	for i, name := range []string{"info", "abbrev", "str_offsets", "rnglists"} {
		var err error
		if secs[i], err = f.contribution(name, row); err != nil {
			return nil, err
		}
	}
	info, abbrev, strOff, rnglists := secs[0], secs[1], secs[2], secs[3]
	hs, err := unitHeaders(info, ix.order)
	if err != nil {
		return nil, fail(".debug_info.dwo", "%v", err)
	}
	// The split compile unit: DWARF 5 says which by its type and id,
	// DWARF 4 has only compile units (and checks its id below).
	var h *unitHeader
	for i := range hs {
		if t := hs[i].unitType; t == utSplitCompile && hs[i].dwoID == id || hs[i].version < 5 && t == utCompile {
			h = &hs[i]
			break
		}
	}
	if h == nil {
		return nil, fail(".debug_info.dwo", "no split unit with DWO id %#x (is it from another build?)", id)
	}
	abbrev, err = gnuAbbrevs(abbrev, h.abbrevOff)
	if err != nil {
		return nil, fail(".debug_abbrev.dwo", "%v", err)
	}
	unit := append([]byte(nil), info[h.off:h.end]...)
	// The abbreviation table now starts at 0.
	ao := 6 // unit_length (4), version (2)
	if h.dwarf64 {
		ao += 8
	}
	if h.version >= 5 {
		ao += 2 // unit_type, address_size
	}
	if h.dwarf64 {
		ix.order.PutUint64(unit[ao:], 0)
	} else {
		ix.order.PutUint32(unit[ao:], 0)
	}
	if h.version >= 5 {
		// The implicit bases of a split unit: past each section's
		// header (DWARF 5 sections 7.26 and 7.28).
		hdr := 8
		if h.dwarf64 {
			hdr = 16
		}
		if len(strOff) >= hdr {
			strOff = strOff[hdr:]
		}
		if len(rnglists) >= hdr+4 {
			rnglists = rnglists[hdr+4:]
		}
	}
	d, err := dwarf.New(abbrev, nil, nil, unit, nil, nil, nil, f.sec["str"])
	if err != nil {
		return nil, fail(".debug_info.dwo", "%v", err)
	}
	sk := cu.entry
	addrBase, ok := sk.Val(dwarf.AttrAddrBase).(int64)
	if !ok {
		addrBase, _ = sk.Val(attrGNUAddrBase).(int64)
	}
	addr := ix.sec["addr"]
	if addrBase < 0 || uint64(addrBase) > uint64(len(addr)) {
		return nil, &FormatError{File: ix.file, Section: ".debug_addr", Offset: addrBase, Msg: "the skeleton's addr_base is past the section"}
	}
	addr = addr[addrBase:]
	for _, s := range []struct {
		name string
		b    []byte
	}{{".debug_str_offsets", strOff}, {".debug_addr", addr}, {".debug_rnglists", rnglists}} {
		if s.b != nil {
			if err := d.AddSection(s.name, s.b); err != nil {
				return nil, fail(s.name+".dwo", "%v", err)
			}
		}
	}
	e, err := d.Reader().Next()
	if err != nil || e == nil || e.Tag != dwarf.TagCompileUnit {
		return nil, fail(".debug_info.dwo", "no split compile unit DIE (%v)", err)
	}
	if h.version < 5 {
		if got, ok := e.Val(attrGNUDwoID).(int64); ok && uint64(got) != id {
			return nil, fail(".debug_info.dwo", "DWO id %#x, the binary wants %#x (is it from another build?)", uint64(got), id)
		}
	}
	s := &splitUnit{d: d, entry: e, vers: h.version, addr: addr, order: ix.order, names: map[dwarf.Offset]string{}, infoLen: len(unit)}
	s.base, _ = sk.Val(dwarf.AttrLowpc).(uint64)
	if h.version >= 5 {
		s.rng = rnglists
	} else if rb, ok := sk.Val(attrGNURangesBase).(int64); ok && rb >= 0 && uint64(rb) <= uint64(len(ix.sec["ranges"])) {
		s.rng = ix.sec["ranges"][rb:]
	} else {
		s.rng = ix.sec["ranges"]
	}
	return s, nil
}

// gnuAbbrevs returns the abbreviation table at off of abbrev, alone, with
// DW_FORM_GNU_addr_index and DW_FORM_GNU_str_index renamed DW_FORM_addrx
// and DW_FORM_strx: the same ULEB128 operand, forms debug/dwarf reads.
// (binary.AppendUvarint writes ULEB128.)
func gnuAbbrevs(abbrev []byte, off uint64) ([]byte, error) {
	if off >= uint64(len(abbrev)) {
		return nil, fmt.Errorf("table offset %#x is past the section", off)
	}
	b := lineBuf{b: abbrev, off: int(off), bo: binary.LittleEndian}
	var out []byte
	for {
		code := b.uleb()
		out = binary.AppendUvarint(out, code)
		if code == 0 || b.err != nil {
			break
		}
		out = binary.AppendUvarint(out, b.uleb()) // tag
		out = append(out, byte(b.u8()))           // children
		for b.err == nil {
			at, form := b.uleb(), b.uleb()
			switch form {
			case formGNUAddrIndex:
				form = formAddrx
			case formGNUStrIndex:
				form = formStrx
			}
			out = binary.AppendUvarint(out, at)
			out = binary.AppendUvarint(out, form)
			if form == formImplicitConst {
				// The SLEB128 value, copied as it is.
				at := b.off
				b.sleb()
				if b.err == nil {
					out = append(out, abbrev[at:b.off]...)
				}
			}
			if at == 0 && form == 0 {
				break
			}
		}
	}
	if b.err != nil {
		return nil, fmt.Errorf("table at %#x: %v", off, b.err)
	}
	return out, nil
}

// ranges returns the PC ranges of a DIE of the split unit. Its
// DW_AT_ranges are read here: debug/dwarf would take the base address from
// the split unit, which has none (it is the skeleton's).
func (s *splitUnit) ranges(e *dwarf.Entry) ([][2]uint64, error) {
	f := e.AttrField(dwarf.AttrRanges)
	if f == nil {
		return s.d.Ranges(e)
	}
	var off uint64
	switch v := f.Val.(type) {
	case int64:
		off = uint64(v)
	case uint64:
		off = v
	default:
		return nil, fmt.Errorf("DW_AT_ranges of class %v", f.Class)
	}
	return s.rangeList(off)
}

// rangeList decodes the range list at off of s.rng.
func (s *splitUnit) rangeList(off uint64) ([][2]uint64, error) {
	if off > uint64(len(s.rng)) {
		return nil, fmt.Errorf("range list offset %#x is past the section", off)
	}
	b := lineBuf{b: s.rng, off: int(off), bo: s.order}
	addrx := func(i uint64) uint64 {
		if i >= uint64(len(s.addr))/8 {
			b.err = fmt.Errorf("address index %d is past .debug_addr", i)
			return 0
		}
		return s.order.Uint64(s.addr[8*i:])
	}
	var out [][2]uint64
	base := s.base
	for n := 0; b.err == nil && n < 1<<16; n++ {
		if s.vers < 5 {
			// DWARF 4 .debug_ranges: pairs of offsets from the base,
			// a base selection entry, or the (0, 0) end.
			lo, hi := b.u64(), b.u64()
			switch {
			case b.err != nil, lo == 0 && hi == 0:
				return out, b.err
			case lo == ^uint64(0):
				base = hi
			default:
				out = append(out, [2]uint64{base + lo, base + hi})
			}
			continue
		}
		// DWARF 5 .debug_rnglists entries (section 7.25).
		var lo, hi uint64
		switch kind := b.u8(); kind {
		case 0: // end_of_list
			return out, b.err
		case 1: // base_addressx
			base = addrx(b.uleb())
			continue
		case 2: // startx_endx
			lo, hi = addrx(b.uleb()), 0
			hi = addrx(b.uleb())
		case 3: // startx_length
			lo = addrx(b.uleb())
			hi = lo + b.uleb()
		case 4: // offset_pair
			lo = base + b.uleb()
			hi = base + b.uleb()
		case 5: // base_address
			base = b.u64()
			continue
		case 6: // start_end
			lo, hi = b.u64(), b.u64()
		case 7: // start_length
			lo = b.u64()
			hi = lo + b.uleb()
		default:
			return nil, fmt.Errorf("range list entry kind %#x", kind)
		}
		if hi > lo {
			out = append(out, [2]uint64{lo, hi})
		}
	}
	return out, b.err
}
