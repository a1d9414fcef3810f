package module

import (
	"debug/dwarf"
	"debug/elf"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// The tests below bound what reading a binary allocates (see
// testprog.Allocated): a 121 MB Go binary made a backtrace peak at 221 MB
// before its sections were mapped rather than read.
var allocated = testprog.Allocated

// goModule opens path, or a Go program built for the test if path is "":
// a binary with a pclntab, a symbol table and compressed DWARF, as a large
// Go service has. It returns the binary's path too.
func goModule(t *testing.T, path string, opts Options) (*Module, string) {
	t.Helper()
	if path == "" {
		path = testprog.BuildGo(t, "gotarget")
	}
	m, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, path
}

// TestSectionsInPlace: stored sections are sliced from the mapped file.
func TestSectionsInPlace(t *testing.T) {
	if !mmapped {
		t.Skip("no mmap on this system: sections are read")
	}
	m, _ := goModule(t, "", Options{})
	for _, name := range []string{".gopclntab", ".text", ".symtab", ".rodata"} {
		var d []byte
		n := allocated(func() { d, _, _ = m.Section(name) })
		if len(d) < 64<<10 {
			t.Fatalf("%s: %d bytes, want a large section", name, len(d))
		}
		if n > uint64(len(d))/16 {
			t.Errorf("Section(%s) of %d bytes allocated %d bytes: copied, not mapped", name, len(d), n)
		}
	}
}

// TestSymbolTableCompact: the address-sorted symbol table keeps names in
// the string table, where elf.File.Symbols copies every name and entry.
func TestSymbolTableCompact(t *testing.T) {
	m, _ := goModule(t, "", Options{})
	var all []elf.Symbol
	copied := allocated(func() { all, _ = m.File.Symbols() })
	var fn elf.Symbol
	for _, s := range all {
		if s.Name == "runtime.main" {
			fn = s
		}
	}
	if fn.Value == 0 {
		t.Fatal("no runtime.main in the symbol table")
	}
	var name string
	var start uint64
	n := allocated(func() { name, start, _ = m.Symbol(fn.Value + 1) })
	if name != "runtime.main" || start != fn.Value {
		t.Fatalf("Symbol(%#x) = %q %#x, want runtime.main %#x", fn.Value+1, name, start, fn.Value)
	}
	if n > copied/2 {
		t.Errorf("building the table of %d symbols allocated %d bytes, elf.File.Symbols %d: want at most half", len(all), n, copied)
	}
	if v := m.SymbolValue("runtime.main"); v != fn.Value {
		t.Errorf("SymbolValue(runtime.main) = %#x, want %#x", v, fn.Value)
	}
	if n := allocated(func() { m.SymbolValue("runtime.firstmoduledata") }); n > copied/16 {
		t.Errorf("SymbolValue allocated %d bytes: it should scan the table in place", n)
	}
}

// TestCacheInflatesToFile: a compressed section met for the first time is
// inflated into the cache file and mapped from there, never held whole on
// the heap; the next module maps the same file.
func TestCacheInflatesToFile(t *testing.T) {
	if !mmapped {
		t.Skip("no mmap on this system: the cache is read")
	}
	dir := t.TempDir()
	path := ""
	for _, run := range []string{"cold", "warm"} {
		var m *Module
		m, path = goModule(t, path, Options{CacheDir: dir})
		s := m.File.Section(".debug_info")
		if s == nil || s.Flags&elf.SHF_COMPRESSED == 0 {
			t.Skip("the test binary's .debug_info is not compressed")
		}
		var d []byte
		n := allocated(func() { d, _, _ = m.Section(".debug_info") })
		if uint64(len(d)) != s.Size {
			t.Fatalf("%s: %d bytes, want the inflated %d", run, len(d), s.Size)
		}
		// The zlib and copy buffers are fixed costs, the section is not.
		if n > s.Size/2 {
			t.Errorf("%s: inflating %d bytes of .debug_info allocated %d", run, s.Size, n)
		}
		want, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != string(d) {
			t.Fatalf("%s: the cached .debug_info differs from the section", run)
		}
	}
}

// TestPclntabInPlace: the pclntab of a mapped module is read in place,
// with its symbols looked up in the mapped table; pclntab.Open, which
// copies the sections it reads, finds the same table.
func TestPclntabInPlace(t *testing.T) {
	if !mmapped {
		t.Skip("no mmap on this system: sections are read")
	}
	m, _ := goModule(t, "", Options{})
	var tab *pclntab.Table
	var err error
	n := allocated(func() { tab, err = pclntab.OpenSource(m.File, m) })
	if err != nil {
		t.Fatal(err)
	}
	want, err := pclntab.Open(m.File)
	if err != nil {
		t.Fatal(err)
	}
	pcln := m.File.Section(".gopclntab")
	if n > pcln.Size/16 {
		t.Errorf("OpenSource allocated %d bytes for a pclntab of %d", n, pcln.Size)
	}
	if tab.TextStart() != want.TextStart() || tab.NumFuncs() != want.NumFuncs() || tab.HasInlineTree() != want.HasInlineTree() {
		t.Errorf("OpenSource: text %#x, %d funcs, inline tree %v; Open: %#x, %d, %v",
			tab.TextStart(), tab.NumFuncs(), tab.HasInlineTree(), want.TextStart(), want.NumFuncs(), want.HasInlineTree())
	}
	f, ok := tab.ByName("main.main")
	if !ok {
		t.Fatal("no main.main")
	}
	file, line, _ := tab.Line(f, f.Entry)
	wfile, wline, _ := want.Line(f, f.Entry)
	if file != wfile || line != wline || line == 0 {
		t.Errorf("main.main at %s:%d, Open says %s:%d", file, line, wfile, wline)
	}
}

// TestSubprogramAt: for every function with code, the subprogram found
// through the unit index is the one a walk of the whole .debug_info finds,
// and EachFunction lists the symbol table's functions without copying it.
func TestSubprogramAt(t *testing.T) {
	m, _ := goModule(t, "", Options{})
	d, err := m.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	checked := 0
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagSubprogram {
			continue
		}
		if e.Children {
			r.SkipChildren()
		}
		lo, ok := e.Val(dwarf.AttrLowpc).(uint64)
		if !ok {
			continue
		}
		pcs := []uint64{lo}
		if rs, _ := d.Ranges(e); len(rs) == 1 && rs[0][1] > lo+1 {
			pcs = append(pcs, rs[0][1]-1)
		}
		for _, pc := range pcs {
			if off, ok := m.SubprogramAt(pc); !ok || off != e.Offset {
				t.Fatalf("SubprogramAt(%#x) = %#x %v, want %s's DIE at %#x", pc, off, ok, e.Val(dwarf.AttrName), e.Offset)
			}
		}
		checked++
	}
	if checked < 1000 {
		t.Fatalf("checked %d functions, want a Go program's thousands", checked)
	}
	if _, ok := m.SubprogramAt(0); ok {
		t.Error("SubprogramAt(0) found a function")
	}

	want := map[string]uint64{}
	syms, _ := m.File.Symbols()
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF && s.Value != 0 {
			want[s.Name] = s.Value
		}
	}
	got := map[string]uint64{}
	n := allocated(func() {
		m.EachFunction(func(s FuncSymbol) {
			if s.Name == "runtime.main" {
				got[s.Name] = s.Addr
			}
		})
	})
	if got["runtime.main"] != want["runtime.main"] || want["runtime.main"] == 0 {
		t.Errorf("EachFunction: runtime.main at %#x, want %#x", got["runtime.main"], want["runtime.main"])
	}
	if n > 1<<20 {
		t.Errorf("EachFunction allocated %d bytes: names kept are the caller's, the table is read in place", n)
	}
}
