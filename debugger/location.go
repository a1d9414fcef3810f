package debugger

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/pclntab"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/unwind"
)

// Location is where a breakpoint stops: an address and its source.
type Location struct {
	Addr     uint64 `json:"-"`
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

// image is a module of the process the debugger resolves locations in.
type image struct {
	path string
	mod  *module.Module
	bias uint64
	pcln *pclntab.Table // Go's table, nil for native code
	// stmts holds the link-time addresses of the is_stmt rows of the
	// DWARF line table, built on first use.
	stmts map[uint64]bool
	// localEntry maps a function symbol's link-time address to the
	// offset of its local entry point (arch.LocalEntry), for the arches
	// that have one; built on first use.
	localEntry map[uint64]uint64
	// inlined holds, by function name, the link-time addresses where
	// Go's inlined copies of it begin (pclntab), built on first use.
	inlined map[string][]uint64
}

// images returns the executable first, then the other mapped files with
// code, opened once per session.
func (d *Debugger) images() ([]*image, error) {
	maps, err := proc.Maps(d.Pid)
	if err != nil {
		return nil, err
	}
	if d.imgs == nil {
		d.imgs = map[string]*image{}
	}
	var out []*image
	seen := map[string]bool{}
	for _, m := range maps {
		if !m.Exec() || !strings.HasPrefix(m.Path, "/") || seen[m.Path] {
			continue
		}
		seen[m.Path] = true
		im, ok := d.imgs[m.Path]
		if !ok {
			im = d.openImage(m)
			d.imgs[m.Path] = im
		}
		if im == nil {
			continue
		}
		if m.Path == d.Exe {
			out = append([]*image{im}, out...)
		} else {
			out = append(out, im)
		}
	}
	return out, nil
}

func (d *Debugger) openImage(m proc.Mapping) *image {
	path, root := proc.MappedFile(d.Pid, m, proc.Root(d.Pid))
	opts := d.u.Options
	opts.Root = root
	mod, err := module.Open(path, opts)
	if err != nil {
		return nil
	}
	im := &image{path: m.Path, mod: mod}
	im.bias, _ = mod.Bias(m.Start, m.Offset)
	if m.Path == d.Exe {
		if snap, err := d.snapshot(); err == nil {
			if p, err := d.u.GoProgram(snap); err == nil {
				im.pcln = p.Pclntab
			}
		}
	}
	return im
}

// Resolve turns a location as the user typed it into addresses:
//
//	*ADDR      an address (0x hex or decimal)
//	FILE:LINE  the first instruction of the line in each function it has
//	           code in (Go: pclntab; native code: the DWARF line table)
//	FUNCTION   Go: after the stack-bound check of its prologue, where a
//	           breakpoint is hit once per call; native code: after the
//	           prologue (DWARF prologue_end, else the line table's second
//	           row), as gdb places it
func (d *Debugger) Resolve(loc string) ([]Location, error) {
	loc = strings.TrimSpace(loc)
	if loc == "" {
		return nil, errors.New("no location given (a function, FILE:LINE or *ADDR)")
	}
	if a, ok := strings.CutPrefix(loc, "*"); ok {
		addr, err := d.AddressOf(a)
		if err != nil {
			return nil, err
		}
		return []Location{d.locationAt(addr)}, nil
	}
	ims, err := d.images()
	if err != nil {
		return nil, err
	}
	if file, ls, ok := strings.Cut(loc, ":"); ok && !strings.Contains(loc, "::") {
		line, err := strconv.Atoi(ls)
		if err != nil || line <= 0 {
			return nil, fmt.Errorf("%q: the line after the colon must be a positive number (FILE:LINE)", loc)
		}
		// A line without code (a closing brace, a comment) moves to the
		// next line that has some, as in gdb.
		var out []Location
		for l := line; l < line+maxLineSkip && len(out) == 0; l++ {
			for _, im := range ims {
				out = append(out, d.lineAddrs(im, file, l)...)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no code at %s (a file of %s with a line that has instructions)", loc, d.Exe)
		}
		return out, nil
	}
	for _, im := range ims {
		var out []Location
		if addr, ok := d.funcAddr(im, loc); ok {
			out = append(out, d.locationAt(addr))
		}
		for _, a := range d.inlinedCopies(im, loc) {
			out = append(out, d.locationAt(a))
		}
		if len(out) > 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
			return out, nil
		}
	}
	return nil, fmt.Errorf("no function %q in %s or its libraries (Go: package.Func, e.g. main.main)", loc, d.Exe)
}

// maxLineSkip bounds how far past a line without code FILE:LINE looks.
const maxLineSkip = 8

// parseAddr reads 0x1234 or 4660.
func parseAddr(s string) (uint64, error) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an address (0x hex or decimal)", s)
	}
	return v, nil
}

// funcAddr returns where a breakpoint on function name goes in im.
func (d *Debugger) funcAddr(im *image, name string) (uint64, bool) {
	if im.pcln != nil {
		if f, ok := im.pcln.ByName(name); ok {
			return d.goBody(im, f.Entry, f.End), true
		}
	}
	addr, size, ok := im.mod.SymbolByName(name)
	if !ok {
		return 0, false
	}
	return afterPrologue(im, addr, size) + im.bias, true
}

// inlinedCopies returns the addresses where each call of function name
// inlined into another function of im begins (Go: pclntab's inline trees;
// native code: DWARF's inlined subroutines): a breakpoint on a function
// stops in its inlined copies too, as in gdb and delve.
func (d *Debugger) inlinedCopies(im *image, name string) []uint64 {
	var out []uint64
	if im.pcln != nil {
		if im.inlined == nil {
			// Every function's inline tree, read once: a large
			// program has tens of thousands.
			im.inlined = map[string][]uint64{}
			for _, f := range im.pcln.Funcs() {
				for fn, pcs := range im.pcln.InlinedCopies(f) {
					im.inlined[fn] = append(im.inlined[fn], pcs...)
				}
			}
		}
		for _, pc := range im.inlined[name] {
			out = append(out, pc+im.bias)
		}
		return out
	}
	for _, a := range im.mod.InlinedCopies(name) {
		out = append(out, a+im.bias)
	}
	return out
}

// goBody returns the address after the stack-bound check of the Go
// function at link-time [entry, end) of im, or its entry if it has none.
func (d *Debugger) goBody(im *image, entry, end uint64) uint64 {
	entry += im.bias
	code := make([]byte, min(end-entry+im.bias, 128))
	if d.s.ReadMemory(entry, code) == nil {
		if end, ok := disasm.GoBody(d.Arch, code, entry); ok {
			return end
		}
	}
	return entry
}

// bodyStart returns where the function entered at pc has run its
// prologue (see Resolve), or pc if pc is not a function's entry.
func (d *Debugger) bodyStart(pc uint64) uint64 {
	im := d.imageAt(pc)
	if im == nil {
		return pc
	}
	addr := pc - im.bias
	if im.pcln != nil {
		if f, ok := im.pcln.Lookup(addr); ok {
			if f.Entry != addr {
				return pc
			}
			return d.goBody(im, f.Entry, f.End)
		}
	}
	// A direct call enters an ELFv2 function (ppc64le) at its local
	// entry, past the global entry's TOC set-up: that is an entry too.
	name, start, ok := im.mod.Symbol(addr)
	if !ok || addr != start && addr != start+d.localEntryOffset(im, start) {
		return pc
	}
	_, size, _ := im.mod.SymbolByName(name)
	return afterPrologue(im, start, size) + im.bias
}

// localEntryOffset returns the offset of the local entry point of the
// function at link-time address start of im, 0 where it has none or the
// arch knows none (arch.Arch.ELFLocalEntry).
func (d *Debugger) localEntryOffset(im *image, start uint64) uint64 {
	if !d.Arch.ELFLocalEntry {
		return 0
	}
	if im.localEntry == nil {
		im.localEntry = map[uint64]uint64{}
		im.mod.EachFunction(func(s module.FuncSymbol) {
			if off := d.Arch.LocalEntry(s.Other); off != 0 {
				im.localEntry[s.Addr] = off
			}
		})
	}
	return im.localEntry[start]
}

// imageAt returns the image of the module mapped at pc, nil if none.
func (d *Debugger) imageAt(pc uint64) *image {
	snap, err := d.snapshot()
	if err != nil {
		return nil
	}
	m := proc.Find(snap.Maps, pc)
	if m == nil {
		return nil
	}
	if _, err := d.images(); err != nil {
		return nil
	}
	return d.imgs[m.Path]
}

// stmtStart reports whether pc starts a statement: for native code, an
// is_stmt row of the DWARF line table; Go's pclntab has no such mark, so
// every PC of a new line counts.
func (d *Debugger) stmtStart(pc uint64) bool {
	im := d.imageAt(pc)
	if im == nil {
		return true
	}
	if im.pcln != nil {
		if _, ok := im.pcln.Lookup(pc - im.bias); ok {
			return true
		}
	}
	if im.stmts == nil {
		im.stmts = map[uint64]bool{}
		eachRow(im.mod, func(e *dwarf.LineEntry) bool {
			if e.IsStmt && !e.EndSequence {
				im.stmts[e.Address] = true
			}
			return true
		}, nil)
	}
	if len(im.stmts) == 0 {
		return true
	}
	return im.stmts[pc-im.bias]
}

// afterPrologue finds where gdb puts a breakpoint on the native function
// at link-time address [addr, addr+size): the row marked prologue_end,
// else the line table's second row in the function (which optimized code
// often puts at the entry itself: no prologue to skip), else its entry.
func afterPrologue(im *image, addr, size uint64) uint64 {
	rows := 0
	at := addr
	eachRow(im.mod, func(e *dwarf.LineEntry) bool {
		if e.Address < addr || e.Address >= addr+size || e.EndSequence {
			return true
		}
		rows++
		if e.PrologueEnd {
			at = e.Address
			return false
		}
		if rows == 2 {
			at = e.Address
			return false
		}
		return true
	}, func(cu *dwarf.Entry) bool {
		return cuCovers(im.mod, cu, addr)
	})
	return at
}

// cuCovers reports whether compile unit cu has code at addr (units without
// ranges are searched).
func cuCovers(m *module.Module, cu *dwarf.Entry, addr uint64) bool {
	d, err := m.DWARF()
	if err != nil {
		return false
	}
	rs, err := d.Ranges(cu)
	if err != nil || len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if addr >= r[0] && addr < r[1] {
			return true
		}
	}
	return false
}

// eachRow calls f for every row of the line tables of m's compile units
// that keep says to read, until f returns false.
func eachRow(m *module.Module, f func(e *dwarf.LineEntry) bool, keep func(cu *dwarf.Entry) bool) {
	dw, err := m.DWARF()
	if err != nil || dw == nil {
		return
	}
	r := dw.Reader()
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			return
		}
		if cu.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		r.SkipChildren()
		if keep != nil && !keep(cu) {
			continue
		}
		lr, err := dw.LineReader(cu)
		if err != nil || lr == nil {
			continue
		}
		var e dwarf.LineEntry
		// io.EOF ends the unit's rows; another error, its bad rest.
		for lr.Next(&e) == nil {
			if !f(&e) {
				return
			}
		}
	}
}

// sameFile reports whether path names the file the user wrote: the same
// path, or one ending in /file.
func sameFile(path, file string) bool {
	return path == file || strings.HasSuffix(path, "/"+file) || (!strings.Contains(file, "/") && filepath.Base(path) == file)
}

// lineAddrs returns, for each function with code on file:line in im and
// each copy of it inlined elsewhere, the lowest address of that line's
// statements (gdb and delve place one location per inlined copy).
func (d *Debugger) lineAddrs(im *image, file string, line int) []Location {
	type key struct{ fn, inst string } // physical function, inlined copy
	best := map[key]uint64{}           // lowest address
	keep := func(fn string, addr uint64, chain []frameAt) {
		k := key{fn, instance(chain, line)}
		if a, ok := best[k]; !ok || addr < a {
			best[k] = addr
		}
	}
	if im.pcln != nil {
		q := uint64(max(im.pcln.Quantum(), 1))
		for _, f := range im.pcln.Funcs() {
			if ff, _, ok := im.pcln.Line(f, f.Entry); !ok || !sameFile(ff, file) {
				continue
			}
			for pc := f.Entry; pc < f.End; pc += q {
				if ff, l, ok := im.pcln.Line(f, pc); ok && l == line && sameFile(ff, file) {
					var chain []frameAt
					for _, l := range im.pcln.Frames(pc) {
						chain = append(chain, frameAt{l.Function, l.File, l.Line, l.Site})
					}
					at := pc
					if pc == f.Entry {
						// The func line: after the stack check, as a
						// breakpoint on the function.
						at = d.goBody(im, f.Entry, f.End) - im.bias
					}
					keep(f.Name, at, chain)
				}
			}
		}
	} else {
		eachRow(im.mod, func(e *dwarf.LineEntry) bool {
			if e.Line == line && e.IsStmt && !e.EndSequence && e.File != nil && sameFile(e.File.Name, file) {
				fn, _, _ := im.mod.Symbol(e.Address)
				var chain []frameAt
				for _, l := range im.mod.Frames(e.Address, false) {
					chain = append(chain, frameAt{l.Function, l.File, l.Line, l.Site})
				}
				keep(fn, e.Address, chain)
			}
			return true
		}, nil)
	}
	var out []Location
	for k, a := range best {
		if im.pcln == nil {
			// A function's opening line: after its prologue, as gdb
			// places it.
			if start, size, ok := im.mod.SymbolByName(k.fn); ok && start == a {
				a = afterPrologue(im, a, size)
			}
		}
		out = append(out, d.locationAt(a+im.bias))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// frameAt is one frame of the code at an address, innermost first.
type frameAt struct {
	fn, file string
	line     int
	site     uint64 // module.Location.Site, pclntab.Location.Site
}

// instance names the copy of the code of line that chain (the frames at
// an address whose line-table row says line) runs: the frames from the
// one holding line outwards, each inlined call by its site. The row's
// line may be a call site (an inlined call starting on it): the innermost
// frame called from line holds it; else the innermost frame does.
func instance(chain []frameAt, line int) string {
	i := 0
	for j := 1; j < len(chain); j++ {
		if chain[j].line == line {
			i = j
			break
		}
	}
	var b strings.Builder
	for _, f := range chain[min(i, len(chain)):] {
		fmt.Fprintf(&b, "%s@%#x|", f.fn, f.site)
	}
	return b.String()
}

// chainAt returns the frames of the code at addr (the PC of a stopped
// thread, a breakpoint's address), innermost (inlined) first, the physical
// function last. Where several rows of the DWARF line table start at addr,
// the innermost's line is the one gdb stops on (module.StmtLine).
func (d *Debugger) chainAt(addr uint64) []unwind.Frame {
	snap, err := d.snapshot()
	if err == nil && !unwind.Covers(snap, []uint64{addr}) {
		d.snap = nil // a library loaded since?
		snap, err = d.snapshot()
	}
	if err != nil {
		return nil
	}
	fr := d.u.Symbolize(snap, []uint64{addr}, false)
	if im := d.imageAt(addr); len(fr) > 0 && im != nil && !im.goCode(addr) {
		if file, line, ok := im.mod.StmtLine(addr - im.bias); ok {
			fr[0].File, fr[0].Line = file, line
		}
	}
	return fr
}

// goCode reports whether addr is in a Go function of im (named by its
// pclntab, not by DWARF).
func (im *image) goCode(addr uint64) bool {
	if im.pcln == nil {
		return false
	}
	_, ok := im.pcln.Lookup(addr - im.bias)
	return ok
}

// inlineEntries returns how many of the innermost inlined calls at addr
// begin there (module.InlineEntries; 0 for Go code).
func (d *Debugger) inlineEntries(addr uint64) int {
	im := d.imageAt(addr)
	if im == nil || im.goCode(addr) {
		return 0
	}
	return im.mod.InlineEntries(addr - im.bias)
}

// locationAt names the code at addr (the PC of a stopped thread, a
// breakpoint's address) by its innermost frame.
func (d *Debugger) locationAt(addr uint64) Location {
	return frameLocation(addr, d.chainAt(addr), 0)
}

// frameLocation returns the location of frame i of chain (0 innermost),
// the outermost if there are fewer.
func frameLocation(addr uint64, chain []unwind.Frame, i int) Location {
	loc := Location{Addr: addr}
	if len(chain) == 0 {
		return loc
	}
	f := chain[min(i, len(chain)-1)]
	loc.Function, loc.File, loc.Line = f.Function, f.File, f.Line
	return loc
}

// FunctionNames returns the names of the executable's functions (Go's
// pclntab, else its ELF function symbols), for completion.
func (d *Debugger) FunctionNames() []string {
	ims, err := d.images()
	if err != nil || len(ims) == 0 || ims[0].path != d.Exe {
		return nil
	}
	im := ims[0]
	var out []string
	if im.pcln != nil {
		for _, f := range im.pcln.Funcs() {
			out = append(out, f.Name)
		}
		return out
	}
	syms, _ := im.mod.File.Symbols()
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}
