package module

import (
	"debug/elf"
	"sort"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// sym is one entry of the address-sorted function symbol table.
type sym struct {
	start, size uint64
	name        string // demangled
	rank        int    // lower is preferred among symbols at one address
}

// symtab is built once, lazily: function symbols sorted by address (one per
// address, the preferred alias) and every defined symbol by name.
type symtab struct {
	byAddr []sym
	byName map[string]sym // mangled and demangled names
}

// symRank orders aliases at one address: functions before untyped labels,
// sized before unsized, global and weak before local, and then the name a
// user would recognise (fewer leading underscores: "read" over "__read").
func symRank(s elf.Symbol) int {
	r := 0
	switch elf.ST_TYPE(s.Info) {
	case elf.STT_FUNC, elf.STT_GNU_IFUNC:
	default:
		r += 1000
	}
	if s.Size == 0 {
		r += 100
	}
	if elf.ST_BIND(s.Info) == elf.STB_LOCAL {
		r += 10
	}
	r += min(len(s.Name)-len(strings.TrimLeft(s.Name, "_")), 9)
	return r
}

// demangleName returns the demangled form of a C++ or Rust symbol with its
// parameters, as gdb and addr2line -C print it, or name itself.
func demangleName(name string) string {
	if !strings.HasPrefix(name, "_Z") && !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "__Z") {
		return name
	}
	return demangle.Filter(name)
}

func (m *Module) symbols() *symtab {
	m.symOnce.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				m.warnf("%v", &FormatError{File: m.Path, Section: ".symtab", Off: -1, Msg: "malformed symbol table"})
				if m.syms == nil {
					m.syms = &symtab{byName: map[string]sym{}}
				}
			}
		}()
		m.syms = m.buildSymbols()
	})
	return m.syms
}

func (m *Module) buildSymbols() *symtab {
	var all []elf.Symbol
	// Both .symtab copies: the debug file's is the complete one when the
	// binary was stripped, but a binary stripped with --strip-debug only
	// keeps its own.
	for _, f := range []*elf.File{m.Debug, m.File} {
		if f == nil {
			continue
		}
		if s, err := f.Symbols(); err == nil {
			all = append(all, s...)
		}
	}
	if s, err := m.File.DynamicSymbols(); err == nil {
		all = append(all, s...)
	}

	// Which sections hold code: untyped symbols (assembly labels such as
	// _start) count as functions only there. Section indices agree between
	// a binary and its objcopy'd debug file.
	exec := func(idx elf.SectionIndex) bool {
		if int(idx) >= len(m.File.Sections) || idx == elf.SHN_UNDEF {
			return false
		}
		return m.File.Sections[idx].Flags&elf.SHF_EXECINSTR != 0
	}

	t := &symtab{byName: make(map[string]sym)}
	for _, s := range all {
		if s.Section == elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		typ := elf.ST_TYPE(s.Info)
		if typ == elf.STT_SECTION || typ == elf.STT_FILE || typ == elf.STT_TLS {
			continue
		}
		isFunc := typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC ||
			(typ == elf.STT_NOTYPE && s.Section < elf.SHN_LORESERVE && exec(s.Section))
		e := sym{start: s.Value, size: s.Size, name: demangleName(s.Name), rank: symRank(s)}
		for _, n := range []string{s.Name, e.name} {
			if old, ok := t.byName[n]; !ok || e.rank < old.rank {
				t.byName[n] = e
			}
		}
		if isFunc && s.Value != 0 {
			t.byAddr = append(t.byAddr, e)
		}
	}
	sort.Slice(t.byAddr, func(i, j int) bool {
		a, b := &t.byAddr[i], &t.byAddr[j]
		if a.start != b.start {
			return a.start < b.start
		}
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if len(a.name) != len(b.name) {
			return len(a.name) < len(b.name)
		}
		return a.name < b.name
	})
	// Keep the preferred alias at each address, remembering the largest
	// size seen there (an unsized alias must not hide a sized one).
	out := t.byAddr[:0]
	for _, s := range t.byAddr {
		if n := len(out); n > 0 && out[n-1].start == s.start {
			out[n-1].size = max(out[n-1].size, s.size)
			continue
		}
		out = append(out, s)
	}
	t.byAddr = out
	return t
}

// Symbol returns the function symbol containing the link-time address addr,
// from .symtab (debug file and binary) merged with .dynsym. Names are
// demangled with parameters (ns::Foo::bar(int)). An address past the end of
// a sized symbol matches nothing, unless the nearest preceding symbol has
// no size, as hand-written assembly often has not.
func (m *Module) Symbol(addr uint64) (name string, start uint64, ok bool) {
	t := m.symbols()
	s := t.byAddr
	i := sort.Search(len(s), func(i int) bool { return s[i].start > addr }) - 1
	if i < 0 {
		return "", 0, false
	}
	// A few steps back covers symbols nested in a larger one (a local
	// label inside a function): prefer whichever sized symbol contains
	// addr, the nearest first.
	for j := i; j >= 0 && j > i-8; j-- {
		if s[j].size > 0 && addr-s[j].start < s[j].size {
			return s[j].name, s[j].start, true
		}
	}
	if s[i].size == 0 {
		return s[i].name, s[i].start, true
	}
	return "", 0, false
}

// SymbolByName returns the address and size of the named symbol, mangled or
// demangled. When several symbols share a name (static functions of
// different files) the preferred one is returned, globals first.
func (m *Module) SymbolByName(name string) (addr, size uint64, ok bool) {
	s, ok := m.symbols().byName[name]
	return s.start, s.size, ok
}
