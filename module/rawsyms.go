package module

import (
	"bytes"
	"debug/elf"
)

// rawSym is one ELF symbol as stored (Elf32_Sym, Elf64_Sym), its name
// still bytes of the string table: reading a table this way allocates
// nothing, where elf.File.Symbols makes a Go string and struct of each of
// a large binary's hundreds of thousands of symbols.
type rawSym struct {
	name        []byte // in the mapped or read string table; do not keep
	nameOff     uint32 // of name in strs
	strs        []byte // the string table
	info, other uint8
	shndx       elf.SectionIndex
	value, size uint64
}

// eachSymbol calls fn with every symbol of f's table of type typ
// (SHT_SYMTAB or SHT_DYNSYM), skipping the null symbol 0, until fn returns
// false. A malformed table ends the walk early.
func (m *Module) eachSymbol(f *elf.File, typ elf.SectionType, fn func(s *rawSym) bool) {
	if f == nil {
		return
	}
	var sec *elf.Section
	for _, s := range f.Sections {
		if s.Type == typ {
			sec = s
			break
		}
	}
	if sec == nil || sec.Link == 0 || int(sec.Link) >= len(f.Sections) {
		return
	}
	data, err := m.sectionBytes(f, sec)
	if err != nil {
		return
	}
	strs, err := m.sectionBytes(f, f.Sections[sec.Link])
	if err != nil {
		return
	}
	size := 24
	if f.Class == elf.ELFCLASS32 {
		size = 16
	}
	bo := f.ByteOrder
	s := rawSym{strs: strs}
	for off := size; off+size <= len(data); off += size {
		e := data[off : off+size]
		var nameOff uint32
		if size == 24 {
			nameOff = bo.Uint32(e)
			s.info, s.other = e[4], e[5]
			s.shndx = elf.SectionIndex(bo.Uint16(e[6:]))
			s.value = bo.Uint64(e[8:])
			s.size = bo.Uint64(e[16:])
		} else {
			nameOff = bo.Uint32(e)
			s.value = uint64(bo.Uint32(e[4:]))
			s.size = uint64(bo.Uint32(e[8:]))
			s.info, s.other = e[12], e[13]
			s.shndx = elf.SectionIndex(bo.Uint16(e[14:]))
		}
		s.name, s.nameOff = nil, nameOff
		if int64(nameOff) < int64(len(strs)) {
			n := strs[nameOff:]
			if i := bytes.IndexByte(n, 0); i >= 0 {
				s.name = n[:i]
			}
		}
		if !fn(&s) {
			return
		}
	}
}

// sectionBytes returns section s of f in place when it is mapped, else
// read.
func (m *Module) sectionBytes(f *elf.File, s *elf.Section) ([]byte, error) {
	if d, ok := m.stored(f, s); ok {
		return d, nil
	}
	return s.Data()
}

// SymbolValue returns the value of the symbol named exactly name (as
// stored: not demangled) in the binary's .symtab, or 0 if it has none. It
// scans the table in place rather than build the symbol table Symbol and
// SymbolByName use: readers of Go binaries (pclntab) ask for a few
// runtime symbols and need nothing else of the table.
func (m *Module) SymbolValue(name string) uint64 {
	var v uint64
	m.eachSymbol(m.File, elf.SHT_SYMTAB, func(s *rawSym) bool {
		if string(s.name) == name {
			v = s.value
			return false
		}
		return true
	})
	return v
}
