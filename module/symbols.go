package module

import (
	"bytes"
	"cmp"
	"debug/elf"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ianlancetaylor/demangle"
)

// sym is one entry of the address-sorted function symbol table. Its name
// stays in the string table it came from until asked for: a Go binary has
// hundreds of thousands of function symbols, and a backtrace names a few.
type sym struct {
	start, size uint64
	off         uint32 // of the name in symtab.strs[tab], or index in symtab.extra
	tab         uint8
	rank        int32 // lower is preferred among symbols at one address
}

// extraTab marks a sym whose name is in symtab.extra (PLT stubs).
const extraTab = 0xff

// symtab is built once, lazily: function symbols sorted by address (one per
// address, the preferred alias). The by-name map is built only on the first
// SymbolByName, and names are demangled only when returned: a backtrace
// asks for a handful of the thousands of symbols of a library.
type symtab struct {
	byAddr []sym
	strs   [][]byte // the string tables names are in, mapped or read
	extra  []string // names made up here (name@plt)

	nameOnce sync.Once
	byName   map[string]addrSize // mangled and demangled names

	demMu sync.Mutex
	dem   map[int]string // display names of byAddr entries, by index
}

// addrSize is what SymbolByName returns of a symbol.
type addrSize struct {
	start, size uint64
	rank        int32
}

// rawName returns the name of s as stored (mangled), a new string.
func (t *symtab) rawName(s sym) string {
	if s.tab == extraTab {
		return t.extra[s.off]
	}
	return cstr(t.strs[s.tab], s.off)
}

// cstr returns the NUL-terminated string at off in b, "" if out of range.
func cstr(b []byte, off uint32) string {
	if int64(off) >= int64(len(b)) {
		return ""
	}
	b = b[off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// symRank orders aliases at one address: functions before untyped labels,
// sized before unsized, global and weak before local, and then the name a
// user would recognise (fewer leading underscores: "read" over "__read").
func symRank(info uint8, size uint64, name []byte) int32 {
	r := int32(0)
	switch elf.ST_TYPE(info) {
	case elf.STT_FUNC, elf.STT_GNU_IFUNC:
	default:
		r += 1000
	}
	if size == 0 {
		r += 100
	}
	if elf.ST_BIND(info) == elf.STB_LOCAL {
		r += 10
	}
	r += int32(min(len(name)-len(bytes.TrimLeft(name, "_")), 9))
	return r
}

// asmLocal reports whether a symbol is an assembler-local label: ".L"
// followed by anything (.LVL55) or GNU as's fake labels, which hold a
// \001 or \002 ("L0\001"). Assemblers keep them in the symbol table when
// the linker may relax code (LoongArch, RISC-V: Debian's loong64 libc.a
// has 92280 "L0\001") or when asked to (as -L). They lie inside functions
// and must not name the PCs after them; gdb and addr2line skip them too.
func asmLocal(typ elf.SymType, info uint8, name []byte) bool {
	return typ == elf.STT_NOTYPE && elf.ST_BIND(info) == elf.STB_LOCAL &&
		(bytes.HasPrefix(name, []byte(".L")) || bytes.ContainsAny(name, "\x01\x02"))
}

// demangleName returns the demangled form of a C++ or Rust symbol with its
// parameters, as gdb and addr2line -C print it, or name itself.
func demangleName(name string) string {
	if base, ok := strings.CutSuffix(name, "@plt"); ok {
		return demangleName(base) + "@plt"
	}
	if !isMangled(name) {
		return name
	}
	return demangle.Filter(rustLegacyUnderscores(name))
}

// rustLegacyUnderscores works around github.com/ianlancetaylor/demangle
// (up to v0.0.0-20260724033716, the newest release), which reads legacy Rust
// names (_ZN...17h<hash>E) as if a '_' after an identifier's length were a
// separator, as in the v0 scheme: 13_single_under comes out as single_under
// and 28__rust_begin_short_backtrace as _rust_begin_short_backtrace. The
// legacy scheme has no separator (rustc's legacy.rs, libiberty's
// rust-demangle.c), so every identifier that starts with '_' is given one
// more for the library to strip: 14__single_under. Other names are
// returned unchanged.
func rustLegacyUnderscores(name string) string {
	body, ok := strings.CutPrefix(name, "_ZN")
	if !ok {
		return name
	}
	suffix := ""
	if i := strings.LastIndex(body, "E."); i >= 0 {
		body, suffix = body[:i+1], body[i+1:]
	}
	// The hash: "17h" and 16 hex digits, then "E".
	if len(body) < 21 || body[len(body)-1] != 'E' || body[len(body)-20:len(body)-17] != "17h" {
		return name
	}
	body = body[:len(body)-1]
	var b strings.Builder
	b.WriteString("_ZN")
	changed := false
	for len(body) > 0 {
		n := 0
		i := 0
		for i < len(body) && body[i] >= '0' && body[i] <= '9' && n < 1<<20 {
			n = n*10 + int(body[i]-'0')
			i++
		}
		if i == 0 || n == 0 || n > len(body)-i {
			return name // not a legacy Rust name after all
		}
		id := body[i : i+n]
		body = body[i+n:]
		if id[0] == '_' {
			fmt.Fprintf(&b, "%d_%s", n+1, id)
			changed = true
		} else {
			fmt.Fprintf(&b, "%d%s", n, id)
		}
	}
	if !changed {
		return name
	}
	return b.String() + "E" + suffix
}

func isMangled(name string) bool {
	return strings.HasPrefix(name, "_Z") || strings.HasPrefix(name, "_R") || strings.HasPrefix(name, "__Z")
}

func (m *Module) symbols() *symtab {
	m.symOnce.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				m.warnf("%v", &FormatError{File: m.Path, Section: ".symtab", Offset: -1, Msg: "malformed symbol table"})
				if m.syms == nil {
					m.syms = &symtab{}
				}
			}
		}()
		m.syms = m.buildSymbols()
	})
	return m.syms
}

// symtabs are the symbol tables merged, in the order read: both .symtab
// copies (the debug file's is the complete one when the binary was
// stripped, but a binary stripped with --strip-debug only keeps its own),
// then .dynsym.
func (m *Module) symtabs() []struct {
	f   *elf.File
	typ elf.SectionType
} {
	return []struct {
		f   *elf.File
		typ elf.SectionType
	}{{m.Debug, elf.SHT_SYMTAB}, {m.File, elf.SHT_SYMTAB}, {m.File, elf.SHT_DYNSYM}}
}

// eachKept calls fn with every symbol the tables keep: defined, named,
// and neither a section, file nor TLS symbol. tab numbers the table the
// symbol is from (see symtab.strs).
func (m *Module) eachKept(fn func(tab int, s *rawSym)) {
	for i, st := range m.symtabs() {
		m.eachSymbol(st.f, st.typ, func(s *rawSym) bool {
			if s.shndx == elf.SHN_UNDEF || len(s.name) == 0 {
				return true
			}
			typ := elf.ST_TYPE(s.info)
			if typ == elf.STT_SECTION || typ == elf.STT_FILE || typ == elf.STT_TLS {
				return true
			}
			fn(i, s)
			return true
		})
	}
}

// FuncSymbol is one function symbol (STT_FUNC) of an ELF symbol table.
type FuncSymbol struct {
	Name       string // as the table spells it (mangled)
	Addr, Size uint64
	Other      uint8 // st_other: visibility, and ppc64's local entry offset (arch.LocalEntry)
}

// EachFunction calls fn with every defined function symbol of the debug
// file's .symtab, the binary's .symtab and its .dynsym, in that order. A
// symbol in several tables comes once per table: callers drop duplicates
// by name. The tables are read in place from the mapping, so only the
// names fn keeps cost memory (Symbols of debug/elf copies every table: 40
// MB for a 121 MB Go program).
func (m *Module) EachFunction(fn func(s FuncSymbol)) {
	m.eachKept(func(_ int, s *rawSym) {
		if elf.ST_TYPE(s.info) == elf.STT_FUNC && s.value != 0 {
			fn(FuncSymbol{Name: string(s.name), Addr: s.value, Size: s.size, Other: s.other})
		}
	})
}

func (m *Module) buildSymbols() *symtab {
	// Which sections hold code: untyped symbols (assembly labels such as
	// _start) count as functions only there. Section indices agree between
	// a binary and its objcopy'd debug file.
	exec := func(idx elf.SectionIndex) bool {
		if int(idx) >= len(m.File.Sections) || idx == elf.SHN_UNDEF {
			return false
		}
		return m.File.Sections[idx].Flags&elf.SHF_EXECINSTR != 0
	}

	t := &symtab{strs: make([][]byte, len(m.symtabs()))}
	// One allocation for the entries: appending would copy the table
	// as it doubles.
	n := 0
	for _, st := range m.symtabs() {
		if st.f == nil {
			continue
		}
		if s := st.f.SectionByType(st.typ); s != nil && s.Entsize > 0 {
			n += int(min(s.Size/s.Entsize, 1<<26))
		}
	}
	t.byAddr = make([]sym, 0, n)
	m.eachKept(func(tab int, s *rawSym) {
		t.strs[tab] = s.strs
		typ := elf.ST_TYPE(s.info)
		isFunc := typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC ||
			(typ == elf.STT_NOTYPE && s.shndx < elf.SHN_LORESERVE && exec(s.shndx))
		if !isFunc || s.value == 0 || asmLocal(typ, s.info, s.name) {
			return
		}
		t.byAddr = append(t.byAddr, sym{start: s.value, size: s.size, off: s.nameOff, tab: uint8(tab), rank: symRank(s.info, s.size, s.name)})
	})
	for _, p := range pltSymbols(m.File) {
		t.byAddr = append(t.byAddr, sym{start: p.start, size: p.size, off: uint32(len(t.extra)), tab: extraTab})
		t.extra = append(t.extra, p.name)
	}
	slices.SortFunc(t.byAddr, func(a, b sym) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.rank, b.rank)
	})
	// Keep the preferred alias at each address, remembering the largest
	// size seen there (an unsized alias must not hide a sized one). Of
	// equally ranked aliases the shortest demangled name wins, then the
	// first in byte order.
	out := t.byAddr[:0]
	var best string // demangled name of out[len(out)-1], once computed
	for _, s := range t.byAddr {
		n := len(out)
		if n == 0 || out[n-1].start != s.start {
			out = append(out, s)
			best = ""
			continue
		}
		p := &out[n-1]
		p.size = max(p.size, s.size)
		if s.rank != p.rank {
			continue
		}
		pn, sn := t.rawName(*p), t.rawName(s)
		if sn == pn {
			continue
		}
		if best == "" {
			best = demangleName(pn)
		}
		if d := demangleName(sn); len(d) < len(best) || (len(d) == len(best) && d < best) {
			p.off, p.tab, best = s.off, s.tab, d
		}
	}
	t.byAddr = slices.Clip(out)
	return t
}

// names returns the by-name map, building it on first use.
func (m *Module) names(t *symtab) map[string]addrSize {
	t.nameOnce.Do(func() {
		t.byName = make(map[string]addrSize)
		m.eachKept(func(_ int, s *rawSym) {
			e := addrSize{start: s.value, size: s.size, rank: symRank(s.info, s.size, s.name)}
			name := string(s.name)
			for _, n := range []string{name, demangleName(name)} {
				if old, ok := t.byName[n]; !ok || e.rank < old.rank {
					t.byName[n] = e
				}
			}
		})
	})
	return t.byName
}

// demangled returns the display name of byAddr[i].
func (t *symtab) demangled(i int) string {
	t.demMu.Lock()
	defer t.demMu.Unlock()
	if d, ok := t.dem[i]; ok {
		return d
	}
	if t.dem == nil {
		t.dem = make(map[int]string)
	}
	d := demangleName(t.rawName(t.byAddr[i]))
	t.dem[i] = d
	return d
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
			return t.demangled(j), s[j].start, true
		}
	}
	if s[i].size == 0 {
		return t.demangled(i), s[i].start, true
	}
	return "", 0, false
}

// SymbolByName returns the address and size of the named symbol, mangled or
// demangled. When several symbols share a name (static functions of
// different files) the preferred one is returned, globals first.
func (m *Module) SymbolByName(name string) (addr, size uint64, ok bool) {
	s, ok := m.names(m.symbols())[name]
	return s.start, s.size, ok
}
