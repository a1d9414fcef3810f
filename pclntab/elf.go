package pclntab

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// A Source gives OpenSource the contents of a binary's sections and the
// values of its symbols. module.Module is one: it slices sections from a
// mapping of the file and scans the symbol table in place, so reading a
// large binary's pclntab costs the pages looked at, not copies of its
// .gopclntab, .rodata and symbol table.
type Source interface {
	// SectionData returns the contents of s, a section of the file
	// given to OpenSource. The slice is not modified.
	SectionData(s *elf.Section) ([]byte, error)
	// SymbolValue returns the value of the named .symtab symbol, 0 if
	// there is none (as in a stripped binary).
	SymbolValue(name string) uint64
}

// Open reads the pclntab of an ELF Go binary: plain, PIE, externally linked
// (cgo) and stripped ones. It determines the text start and, where possible,
// the module's go:func data so Inline works. It returns ErrNotGo for
// binaries without a Go pclntab. The sections it uses are read into memory
// (see OpenSource).
func Open(f *elf.File) (t *Table, err error) {
	return OpenSource(f, &fileSource{f: f})
}

// fileSource is a Source that reads f's sections and symbols.
type fileSource struct {
	f    *elf.File
	once bool
	syms []elf.Symbol
}

func (s *fileSource) SectionData(sec *elf.Section) ([]byte, error) { return sec.Data() }

func (s *fileSource) SymbolValue(name string) uint64 {
	if !s.once {
		s.once = true
		s.syms, _ = s.f.Symbols() // absent in stripped binaries; that is fine
	}
	for i := range s.syms {
		if s.syms[i].Name == name {
			return s.syms[i].Value
		}
	}
	return 0
}

// OpenSource is Open, taking the contents of f's sections and its symbols
// from src.
func OpenSource(f *elf.File, src Source) (t *Table, err error) {
	defer func() {
		// debug/elf can panic on some malformed files; report, don't crash.
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("pclntab: reading ELF: %v", r)
		}
	}()
	data, addr, err := findPclntab(f, src)
	if err != nil {
		return nil, err
	}
	ptrSize := 8
	if f.Class == elf.ELFCLASS32 {
		ptrSize = 4
	}

	// Parse once without a text start to learn the format; entry offsets
	// are only interpreted on lookups, so fixing textStart afterwards is safe.
	t, err = Parse(data, 0, ptrSize, f.ByteOrder)
	if err != nil {
		return nil, err
	}
	var md *moduledata
	if t.ver >= ver118 {
		md = findModuledata(f, src, t, addr)
	}
	if t.ver >= ver118 {
		switch {
		case md != nil && md.text != 0:
			t.textStart = md.text
		case src.SymbolValue("runtime.text") != 0:
			t.textStart = src.SymbolValue("runtime.text")
		case t.textStart != 0:
			// go1.18-go1.22 non-PIE headers carry it.
		default:
			if s := f.Section(".text"); s != nil {
				t.textStart = s.Addr
			}
		}
	}

	if md != nil {
		t.typesStart = md.types
	}

	// go:func.* holds FUNCDATA: moduledata says where, else the symbol
	// (named go.func.* before go1.20). moduledata comes first because
	// it is found without the symbol table, whose pages (tens of
	// megabytes in a large binary) a lookup would touch.
	var gofunc uint64
	if md != nil {
		gofunc = md.gofunc
	}
	if gofunc == 0 {
		gofunc = src.SymbolValue("go:func.*")
	}
	if gofunc == 0 {
		gofunc = src.SymbolValue("go.func.*")
	}
	if gofunc != 0 {
		if b := sectionBytesAt(f, src, gofunc); b != nil {
			t.SetGoFunc(b)
		}
	}
	return t, nil
}

// findPclntab returns the pclntab bytes and their link-time address.
func findPclntab(f *elf.File, src Source) ([]byte, uint64, error) {
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			b, err := src.SectionData(s)
			if err != nil {
				return nil, 0, fmt.Errorf("pclntab: reading %s: %w", name, err)
			}
			return b, s.Addr, nil
		}
	}
	// Some linkers merge the table into another section; the symbol (in
	// unstripped binaries) still marks it.
	if v := src.SymbolValue("runtime.pclntab"); v != 0 {
		if b := sectionBytesAt(f, src, v); b != nil {
			return b, v, nil
		}
	}
	if b, addr, ok := scanPclntab(f, src); ok {
		return b, addr, nil
	}
	return nil, 0, ErrNotGo
}

// scanPclntab finds the table by its header in the read-only data of a
// binary that has neither the section nor the symbol: an external linker
// building a PIE merges .gopclntab into .data.rel.ro, and stripping
// removes runtime.pclntab (every release before go1.26 that way). The
// header is pointer-aligned: a go1.16+ magic, two zero bytes, the PC
// quantum and the pointer size; a candidate counts only if the whole table
// parses and names functions.
func scanPclntab(f *elf.File, src Source) ([]byte, uint64, bool) {
	ptrSize := 8
	if f.Class == elf.ELFCLASS32 {
		ptrSize = 4
	}
	var magics [][]byte
	for _, m := range []uint32{go120Magic, go118Magic, go116Magic} {
		b := make([]byte, 4)
		f.ByteOrder.PutUint32(b, m)
		magics = append(magics, b)
	}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_EXECINSTR != 0 || s.Type != elf.SHT_PROGBITS {
			continue
		}
		data, err := src.SectionData(s)
		if err != nil {
			continue
		}
		for _, magic := range magics {
			for i := 0; ; {
				j := bytes.Index(data[i:], magic)
				if j < 0 {
					break
				}
				at := i + j
				i = at + 1
				if at%ptrSize != 0 || len(data)-at < 16 {
					continue
				}
				h := data[at:]
				if h[4] != 0 || h[5] != 0 || (h[6] != 1 && h[6] != 2 && h[6] != 4) || int(h[7]) != ptrSize {
					continue
				}
				if t, err := Parse(h, 0, ptrSize, f.ByteOrder); err == nil && t.NumFuncs() > 0 {
					return h, s.Addr + uint64(at), true
				}
			}
		}
	}
	return nil, 0, false
}

// sectionBytesAt returns the contents of the allocated section holding
// addr, from addr to the section's end.
func sectionBytesAt(f *elf.File, src Source, addr uint64) []byte {
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS || addr < s.Addr || addr-s.Addr >= s.Size {
			continue
		}
		b, err := src.SectionData(s)
		if err != nil || addr-s.Addr >= uint64(len(b)) {
			return nil
		}
		return b[addr-s.Addr:]
	}
	return nil
}

// moduledata holds the runtime.moduledata fields Open uses.
type moduledata struct {
	text, gofunc, types uint64
}

// Word indexes in runtime.moduledata (go1.16+): pcHeader, then five
// slices (funcnametab, cutab, filetab, pctab, pclntable) and ftab, each
// three words, then findfunctab, minpc, maxpc, text, etext, ...
const (
	mdPCHeader    = 0
	mdFuncnametab = 1
	mdText        = 22
	// gofunc follows rodata; go1.20 added covctrs/ecovctrs before it, and
	// go1.27 typedesclen, itaboffset and itabsize. go1.26 added epclntab
	// right after gofunc: where that word holds the pclntab's end, the word
	// before it is gofunc, whatever fields came before.
	mdGofunc118    = 38
	mdGofunc120    = 40
	mdGofuncMaxIdx = 48 // how far to look for gofunc, epclntab
	// types follows end, gcdata and gcbss in every release since go1.16;
	// go1.20's covctrs and ecovctrs come before those.
	mdTypes118 = 35
	mdTypes120 = 37
)

// findModuledata locates runtime.firstmoduledata: from its symbol, or by
// scanning the data sections for a pointer to the pclntab header whose next
// word points at the function name table.
func findModuledata(f *elf.File, src Source, t *Table, pclnAddr uint64) *moduledata {
	ps := uint64(t.ptrSize)
	gofuncIdx := uint64(mdGofunc120)
	if t.ver == ver118 {
		gofuncIdx = mdGofunc118
	}
	size := (gofuncIdx + 1) * ps
	if t.ver >= ver120 {
		size = (mdGofuncMaxIdx + 2) * ps
	}
	nameOff := pclnAddr + uint64(len(t.data)-len(t.funcnametab))
	pclnEnd := pclnAddr + uint64(len(t.data))
	// The relocations are decoded only when a slot is found zero: a
	// large PIE has hundreds of thousands of them, and Go's own linker
	// stores the pointers in place as well.
	var (
		relocs     map[uint64]uint64
		relocsDone bool
	)
	getRelocs := func() map[uint64]uint64 {
		if !relocsDone && f.Type == elf.ET_DYN {
			relocs = relativeRelocs(f, src, t.order, ps)
		}
		relocsDone = true
		return relocs
	}

	// word reads a pointer from section data, applying a relative dynamic
	// relocation when the linker left the slot zero (PIE).
	word := func(b []byte, addr uint64) uint64 {
		v := t.uintptr(b)
		if v == 0 && f.Type == elf.ET_DYN {
			v = getRelocs()[addr]
		}
		return v
	}
	try := func(s *elf.Section, b []byte, off uint64) *moduledata {
		if off+size > uint64(len(b)) {
			return nil
		}
		at := s.Addr + off
		if word(b[off+mdPCHeader*ps:], at) != pclnAddr ||
			word(b[off+mdFuncnametab*ps:], at+mdFuncnametab*ps) != nameOff {
			return nil
		}
		field := func(i uint64) uint64 { return word(b[off+i*ps:], at+i*ps) }
		md := &moduledata{text: field(mdText), gofunc: field(gofuncIdx), types: field(mdTypes118)}
		if t.ver >= ver120 {
			md.types = field(mdTypes120)
		}
		if t.ver >= ver120 {
			for i := uint64(mdGofunc120); i <= mdGofuncMaxIdx; i++ {
				if field(i+1) == pclnEnd {
					md.gofunc = field(i)
					break
				}
			}
		}
		return md
	}

	// go1.26 puts moduledata in its own section; older linkers in one of
	// the data sections.
	for _, name := range []string{".go.module", ".noptrdata", ".data", ".data.rel.ro"} {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := src.SectionData(s)
		if err != nil {
			continue
		}
		var key [8]byte
		if ps == 4 {
			t.order.PutUint32(key[:], uint32(pclnAddr))
		} else {
			t.order.PutUint64(key[:], pclnAddr)
		}
		// Fast path: the pointer is stored in place.
		for i := 0; ; {
			j := bytes.Index(b[i:], key[:ps])
			if j < 0 {
				break
			}
			off := uint64(i + j)
			if off%ps == 0 {
				if md := try(s, b, off); md != nil {
					return md
				}
			}
			i += j + 1
		}
		// PIE linked with a linker that leaves relocated slots zero.
		for addr, v := range getRelocs() {
			if v == pclnAddr && addr >= s.Addr && addr-s.Addr < uint64(len(b)) {
				if md := try(s, b, addr-s.Addr); md != nil {
					return md
				}
			}
		}
	}
	// Where the pointer is nowhere in place, the symbol (in unstripped
	// binaries) says where moduledata is. The data sections come first:
	// they are found without reading the symbol table.
	if v := src.SymbolValue("runtime.firstmoduledata"); v != 0 {
		for _, s := range f.Sections {
			if s.Type == elf.SHT_NOBITS || v < s.Addr || v-s.Addr >= s.Size {
				continue
			}
			if b, err := src.SectionData(s); err == nil {
				if md := try(s, b, v-s.Addr); md != nil {
					return md
				}
			}
		}
	}
	return nil
}

// relativeRelocs returns the addends of the file's relative dynamic
// relocations (symbol 0: "base + addend"), keyed by the slot they patch.
// Only RELA sections carry addends; with REL the value is stored in place.
func relativeRelocs(f *elf.File, src Source, order binary.ByteOrder, ps uint64) map[uint64]uint64 {
	var m map[uint64]uint64
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		b, err := src.SectionData(s)
		if err != nil {
			continue
		}
		entSize := 3 * ps
		for off := uint64(0); off+entSize <= uint64(len(b)); off += entSize {
			var addr, info, addend uint64
			if ps == 8 {
				addr, info, addend = order.Uint64(b[off:]), order.Uint64(b[off+8:]), order.Uint64(b[off+16:])
				info >>= 32 // symbol index
			} else {
				addr, info, addend = uint64(order.Uint32(b[off:])), uint64(order.Uint32(b[off+4:])), uint64(order.Uint32(b[off+8:]))
				info >>= 8
			}
			if info != 0 {
				continue
			}
			if m == nil {
				m = make(map[uint64]uint64)
			}
			m[addr] = addend
		}
	}
	return m
}
