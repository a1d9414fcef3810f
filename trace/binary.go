// Package trace traces function calls of a live process with eBPF: a
// uprobe at each traced function's entry and at every RET instruction (never
// a uretprobe, which rewrites return addresses on the stack and breaks Go's
// stack copying), arguments and results decoded from registers and stack
// under Go's ABIInternal or the C ABI, memory behind pointers captured in
// the kernel by a small per-probe capture plan, entries and returns paired
// per goroutine and stack depth, and latency aggregated in the kernel.
package trace

import (
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"go/version"
	"sort"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/goabi"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/internal/suggest"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/pclntab"
	"github.com/taijidbg/taiji/proc"
)

// Binary is an executable opened for tracing.
type Binary struct {
	// Path is where the file is opened and uprobes are attached: a path
	// the kernel resolves to the file's inode, such as
	// /proc/PID/map_files/... for a binary deleted since it started.
	Path string
	// Name is the binary's name for messages: as given, or as the process
	// maps it.
	Name      string
	Arch      *arch.Arch
	GoVersion string // "" if not Go or unknown
	Module    *module.Module
	ELF       *elf.File      // Module.File
	Table     *pclntab.Table // nil: not a Go binary
	DWARF     *dwarf.Data    // nil: no DWARF (in the binary or its debug file)

	// Refused says, one line each, which functions the last Funcs call
	// left out of a glob because their code does not disassemble (a
	// disasm.FormatError): a probe there could land inside an instruction,
	// and a RET not found would pair calls with the wrong returns. A
	// function named exactly is never left out: Funcs fails instead.
	Refused []string

	subprograms  map[string]dwarf.Offset
	runtimeTypes map[uint64]dwarf.Offset
	typeCache    map[uint64]*goabi.Type
}

// Func is one function to trace and its probe sites. Addresses are
// link-time addresses.
type Func struct {
	Name       string
	Addr, Size uint64
	Go         bool
	Entry      uint64 // where the entry probe goes
	StackCheck bool   // Entry is right after the Go stack-bound check
	Rets       []uint64
	TailJumps  int // jumps out of the function: returns through them are not seen

	Args, Results       []goabi.Param
	ArgLocs, ResultLocs []goabi.Loc
	// TypesFrom says where argument types came from: "dwarf", "sig" or
	// "" (none: raw registers are shown).
	TypesFrom string
	// Note says, in one line, why types are missing although DWARF has
	// the function; "" if nothing is wrong.
	Note string
}

// ErrNoFunc is returned when a pattern matches no function.
var ErrNoFunc = errors.New("no such function")

// Open opens the executable at path, with its separate debug file if one
// is found (module.Open with opts: the command line passes the debug
// directories and the cache of inflated sections that taiji stack uses, so
// a 121 MB Go program's compressed DWARF is mapped from the cache rather
// than inflated into memory each run).
func Open(path string, opts module.Options) (*Binary, error) {
	return openModule(path, path, opts)
}

// OpenProcess opens the executable process pid runs, as taiji stack opens
// a process's modules (proc.MappedFile): through the process's root when
// it is in a container, through /proc/PID/map_files when its file was
// deleted or replaced after it started. Uprobes attach through the path
// opened, which resolves to the running file's inode.
// opts is as for Open; its Root is set here.
func OpenProcess(pid int, opts module.Options) (*Binary, error) {
	exe, err := proc.Exe(pid)
	if err != nil {
		return nil, err
	}
	root := proc.Root(pid)
	ino, err := proc.Inode(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return nil, fmt.Errorf("process %d: cannot open its executable %s: %v", pid, exe, err)
	}
	maps, err := proc.Maps(pid)
	if err != nil {
		return nil, err
	}
	for _, m := range maps {
		if m.Inode == ino && strings.HasPrefix(m.Path, "/") {
			path, via := proc.MappedFile(pid, m, root)
			opts.Root = via
			return openModule(exe, path, opts)
		}
	}
	// Not mapped yet (or no longer): the link itself reaches the file.
	opts.Root = ""
	return openModule(exe, fmt.Sprintf("/proc/%d/exe", pid), opts)
}

func openModule(name, path string, opts module.Options) (b *Binary, err error) {
	m, err := module.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	full := path
	if opts.Root != "" {
		full = opts.Root + path
	}
	b = &Binary{Path: full, Name: name, Arch: m.Arch, Module: m, ELF: m.File}
	if t, err := pclntab.OpenSource(m.File, m); err == nil {
		b.Table = t
		if bi, err := buildinfo.ReadFile(full); err == nil {
			b.GoVersion = bi.GoVersion
		}
	}
	if d, err := m.DWARF(); err == nil && d != nil {
		b.DWARF = d
	}
	return b, nil
}

// Close releases the file.
func (b *Binary) Close() error { return b.Module.Close() }

// IsGo reports whether the binary has a Go function table.
func (b *Binary) IsGo() bool { return b.Table != nil }

// goABI returns the ABI of the binary's Go functions.
func (b *Binary) goABI() goabi.ABI {
	if len(b.Arch.GoIntArgs) == 0 || b.GoVersion == "" {
		return goabi.ABI0
	}
	v := b.GoVersion
	if i := strings.IndexAny(v, " X"); i > 0 { // "go1.26.0 X:nocoverageredesign"
		v = v[:i]
	}
	if version.IsValid(v) && version.Compare(v, b.Arch.GoRegABI) < 0 {
		return goabi.ABI0
	}
	return goabi.ABIInternal
}

type symbol struct {
	name       string
	addr, size uint64
	goFunc     bool
	local      uint64 // offset of the local entry point (ppc64le C), where calls enter
}

// symbols lists the functions: Go functions from pclntab (present even in
// stripped binaries), others from the ELF symbol table. Go 1.18 and 1.19
// name every instance of a generic function F[...] in pclntab: the ELF
// symbol at the same address, when there is one, says which
// (F[go.shape.int_0]), and instances keep their own entries either way.
func (b *Binary) symbols() []symbol {
	var out []symbol
	seen := map[string]bool{}
	// The ELF function symbols, as the tables have them (Module.EachFunction):
	// a stripped binary keeps its .dynsym, where Debian's nginx and
	// redis-server export hundreds of their own functions, as taiji stack
	// and gdb show. Duplicates are dropped by name below.
	var elfSyms []module.FuncSymbol
	b.Module.EachFunction(func(s module.FuncSymbol) {
		if s.Size > 0 {
			elfSyms = append(elfSyms, s)
		}
	})
	if b.Table != nil {
		instance := map[uint64]string{}
		for _, s := range elfSyms {
			if strings.Contains(s.Name, "[") {
				instance[s.Addr] = s.Name
			}
		}
		for _, f := range b.Table.Funcs() {
			name := f.Name
			if n, ok := instance[f.Entry]; ok && strings.Contains(name, "[...]") {
				name = n
			}
			if (seen[name] && !strings.Contains(name, "[...]")) || f.End <= f.Entry {
				continue
			}
			seen[name] = true
			out = append(out, symbol{name: name, addr: f.Entry, size: f.End - f.Entry, goFunc: true})
		}
	}
	for _, s := range elfSyms {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		out = append(out, symbol{name: s.Name, addr: s.Addr, size: s.Size, local: b.Arch.LocalEntry(s.Other)})
	}
	return out
}

// Match reports whether name matches the glob pattern, where * matches any
// run of characters (including / and .) and ? any one character; a * right
// after ( is the literal star of a pointer receiver, as in main.(*T).M.
func Match(pattern, name string) bool {
	glob := func(p int) bool { return pattern[p] == '*' && (p == 0 || pattern[p-1] != '(') }
	// Iterative glob with one backtrack point: linear, no recursion.
	p, n, starP, starN := 0, 0, -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && !glob(p) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && glob(p):
			starP, starN = p, n
			p++
		case starP >= 0:
			starN++
			p, n = starP+1, starN
		default:
			return false
		}
	}
	for p < len(pattern) && glob(p) {
		p++
	}
	return p == len(pattern)
}

// matchFunc reports whether pattern selects the function named name: the
// name itself, or a generic instance's name written as Go's tracebacks
// write it (main.F[...], main.(*Box[...]).Get) or with no type arguments at
// all (main.F, main.(*Box).Get). Globs leave out what the compiler makes
// rather than the programmer writes (method value wrappers -fm, go and
// defer statement wrappers, type: and .. symbols) unless the pattern names
// them; closures (main.main.func1) are the programmer's and match.
func matchFunc(pattern, name string) bool {
	if strings.ContainsAny(pattern, "*?") {
		for _, w := range []string{"-fm", ".gowrap", ".deferwrap", "type:", ".."} {
			if strings.Contains(name, w) && !strings.Contains(pattern, w) {
				return false
			}
		}
	}
	if Match(pattern, name) {
		return true
	}
	if !strings.Contains(name, "[") {
		return false
	}
	return Match(pattern, typeArgs(name, "[...]")) || Match(pattern, typeArgs(name, ""))
}

// typeArgs replaces each bracketed type argument list in name with with.
func typeArgs(name, with string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '[':
			if depth == 0 {
				b.WriteString(with)
			}
			depth++
		case c == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Funcs resolves patterns to functions and their probe sites. sigs give
// argument types by function name for binaries without DWARF. A pattern
// that matches nothing is an error naming the nearest functions.
func (b *Binary) Funcs(patterns []string, sigs map[string]*goabi.Sig) ([]*Func, error) {
	syms := b.symbols()
	var out []*Func
	b.Refused = nil
	got := map[uint64]bool{} // by address: go1.19's stripped F[...] instances share a name
	for _, pat := range patterns {
		n := 0
		for _, s := range syms {
			if !matchFunc(pat, s.name) {
				continue
			}
			if got[s.addr] {
				n++
				continue
			}
			f, err := b.function(s, sigs[s.name])
			var undecodable *disasm.FormatError
			if err != nil && isGlob(pat) && errors.As(err, &undecodable) {
				b.Refused = append(b.Refused, err.Error())
				got[s.addr] = true
				n++
				continue
			}
			if err != nil {
				return nil, err
			}
			got[s.addr] = true
			out = append(out, f)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%w %q in %s%s", ErrNoFunc, pat, b.Name, suggestion(pat, syms))
		}
	}
	if len(out) == 0 && len(b.Refused) > 0 {
		return nil, fmt.Errorf("%s (and %d more functions that do not disassemble)", b.Refused[0], len(b.Refused)-1)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out, nil
}

// isGlob reports whether pattern has a wildcard, as Match reads it: ? or a
// * not right after '(' (which is part of a method's receiver).
func isGlob(pattern string) bool {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '?' || pattern[i] == '*' && (i == 0 || pattern[i-1] != '(') {
			return true
		}
	}
	return false
}

// suggestion names up to three functions close to pat.
func suggestion(pat string, syms []symbol) string {
	names := make([]string, len(syms))
	for i, s := range syms {
		names[i] = s.name
	}
	near := suggest.Near(strings.Trim(pat, "*?"), names, 3)
	if len(near) == 0 {
		return " (taiji probes BINARY '*' lists them)"
	}
	return "; did you mean " + strings.Join(near, ", ") + "?"
}

// maxFuncBytes bounds the code taiji disassembles for one function.
const maxFuncBytes = 1 << 20

func (b *Binary) function(s symbol, sig *goabi.Sig) (*Func, error) {
	if s.size > maxFuncBytes {
		return nil, fmt.Errorf("%s: function %s is %d bytes long; refusing to disassemble it", b.Name, s.name, s.size)
	}
	code, err := b.code(s.addr, s.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", b.Name, s.name, err)
	}
	insts, err := disasm.Decode(b.Arch, code, s.addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.Name, s.name, err)
	}
	f := &Func{Name: s.name, Addr: s.addr, Size: s.size, Go: s.goFunc, Entry: s.addr + s.local}
	switch {
	case s.goFunc && b.Arch.GoEntryProbeOnCheckBranch:
		// The probe fires again when the function restarts after
		// morestack; with StackCheck false the probe drops that.
		if br, ok := disasm.GoStackCheckBranch(b.Arch, insts); ok {
			f.Entry = br
		}
	case s.goFunc:
		if end, ok := disasm.GoStackCheckEnd(b.Arch, insts); ok {
			f.Entry, f.StackCheck = end, true
		}
	}
	for _, in := range insts {
		switch {
		case in.Kind == disasm.Ret:
			f.Rets = append(f.Rets, in.Addr)
		case in.Kind == disasm.Jump && in.Target != 0 && (in.Target < s.addr || in.Target >= s.addr+s.size):
			f.TailJumps++
		}
	}
	if err := b.types(f, sig); err != nil {
		return nil, err
	}
	return f, nil
}

// code reads n bytes of the file image at link-time address addr.
func (b *Binary) code(addr, n uint64) ([]byte, error) {
	for _, p := range b.ELF.Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr+n <= p.Vaddr+p.Filesz {
			buf := make([]byte, n)
			if _, err := p.ReadAt(buf, int64(addr-p.Vaddr)); err != nil {
				return nil, err
			}
			return buf, nil
		}
	}
	return nil, fmt.Errorf("address %#x not in a loaded segment", addr)
}

// FileOffset converts a link-time address to the file offset uprobes use.
func (b *Binary) FileOffset(addr uint64) (uint64, error) {
	for _, p := range b.ELF.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%s: address %#x is not in an executable segment", b.Name, addr)
}

// types fills in the function's parameters and their locations. A type
// DWARF cannot give leaves the function traced with raw registers and a
// Note, never refused.
func (b *Binary) types(f *Func, sig *goabi.Sig) error {
	switch {
	case sig != nil:
		f.Args, f.Results, f.TypesFrom = sig.Args, sig.Results, "sig"
	case b.DWARF != nil:
		args, results, err := b.dwarfParams(f.Name, f.Addr)
		if err != nil {
			f.Note = fmt.Sprintf("%s: %v: showing raw registers", f.Name, err)
			return nil
		}
		if args != nil || results != nil {
			f.Args, f.Results, f.TypesFrom = args, results, "dwarf"
		}
	}
	if f.TypesFrom == "" {
		return nil
	}
	abi := goabi.ABIC
	args := f.Args
	if f.Go {
		abi = b.goABI()
		args = goabi.WithDict(f.Name, args, b.GoVersion, int64(b.Arch.PtrSize))
	}
	argLocs, resLocs, err := goabi.Assign(b.Arch, abi, args, f.Results)
	if err != nil {
		return err
	}
	// The dictionary takes its register but is not shown.
	f.Args, f.ArgLocs, f.ResultLocs = nil, nil, resLocs
	for i, a := range args {
		if a.Name != goabi.DictName {
			f.Args, f.ArgLocs = append(f.Args, a), append(f.ArgLocs, argLocs[i])
		}
	}
	if f.Args == nil {
		f.Args = []goabi.Param{}
	}
	return nil
}

// dwarfParams reads the formal parameters of the named function;
// DW_AT_variable_parameter marks Go's results. A Go result that a deferred
// closure may change (a named result, or any result of a function with a
// defer on some releases) is listed twice, once for the result slot and
// once for its variable: the first of each name is kept.
func (b *Binary) dwarfParams(name string, addr uint64) (args, results []goabi.Param, err error) {
	r := b.DWARF.Reader()
	// The unit holding addr has the function's DIE: reading that unit
	// alone keeps a 121 MB program's .debug_info out of memory. A DIE of
	// another name there (a generic's shape name) falls back to the index
	// by name of the whole .debug_info.
	e, err := b.subprogramAt(r, addr)
	if e == nil || b.attr(e, dwarf.AttrName) != name {
		if b.subprograms == nil {
			b.indexDWARF()
		}
		off, ok := b.subprograms[name]
		if !ok {
			return nil, nil, nil
		}
		r.Seek(off)
		e, err = r.Next()
	}
	if err != nil || e == nil || !e.Children {
		return nil, nil, err
	}
	var cReturn dwarf.Offset
	goFunc := b.IsGo() && strings.Contains(name, ".")
	if !goFunc {
		cReturn, _ = e.Val(dwarf.AttrType).(dwarf.Offset)
	}
	seen := map[string]bool{}
	for {
		c, err := r.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("DWARF: %v", err)
		}
		if c == nil || c.Tag == 0 {
			break
		}
		if c.Children {
			r.SkipChildren()
		}
		if c.Tag != dwarf.TagFormalParameter {
			continue
		}
		pname, _ := b.attr(c, dwarf.AttrName).(string)
		if goFunc && pname != "" && pname != "_" {
			if seen[pname] {
				continue
			}
			seen[pname] = true
		}
		toff, _ := b.attr(c, dwarf.AttrType).(dwarf.Offset)
		t, err := goabi.FromDWARF(b.DWARF, toff, int64(b.Arch.PtrSize))
		if err != nil {
			return nil, nil, fmt.Errorf("parameter %s: %v", pname, err)
		}
		p := goabi.Param{Name: pname, Type: t}
		if isResult, _ := b.attr(c, dwarf.AttrVarParam).(bool); isResult {
			results = append(results, p)
		} else {
			args = append(args, p)
		}
	}
	if cReturn != 0 {
		t, err := goabi.FromDWARF(b.DWARF, cReturn, int64(b.Arch.PtrSize))
		if err == nil {
			results = append(results, goabi.Param{Name: "~r0", Type: t})
		}
	}
	if args == nil {
		args = []goabi.Param{} // typed, without parameters
	}
	return args, results, nil
}

// attr returns attribute a of DIE e, or of the DIE e names as its
// DW_AT_abstract_origin when e has none. The out-of-line copy of a
// function that is also inlined elsewhere is such a concrete instance: its
// DIE and its parameters' name the abstract ones, which hold the names and
// types, and add locations (and, from Go, the results).
func (b *Binary) attr(e *dwarf.Entry, a dwarf.Attr) any {
	if v := e.Val(a); v != nil {
		return v
	}
	origin, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	if !ok {
		return nil
	}
	r := b.DWARF.Reader()
	r.Seek(origin)
	if o, err := r.Next(); err == nil && o != nil {
		return o.Val(a)
	}
	return nil
}

// subprogramAt returns the subprogram DIE whose code holds addr, read
// through the unit index of the module (Module.SubprogramAt), with r left
// on its first child; nil if the index does not know it.
func (b *Binary) subprogramAt(r *dwarf.Reader, addr uint64) (*dwarf.Entry, error) {
	off, ok := b.Module.SubprogramAt(addr)
	if !ok {
		return nil, nil
	}
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil || e.Tag != dwarf.TagSubprogram {
		return nil, err
	}
	return e, nil
}

// indexDWARF records where each function's and each runtime type's DWARF
// entry is.
func (b *Binary) indexDWARF() {
	b.subprograms = map[string]dwarf.Offset{}
	b.runtimeTypes = map[uint64]dwarf.Offset{}
	defer func() { recover() }() // a corrupt DWARF section leaves a partial index
	r := b.DWARF.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return
		}
		switch e.Tag {
		case dwarf.TagSubprogram:
			if n, ok := e.Val(dwarf.AttrName).(string); ok {
				if _, dup := b.subprograms[n]; !dup && (e.Val(dwarf.AttrLowpc) != nil || e.Val(dwarf.AttrRanges) != nil) {
					b.subprograms[n] = e.Offset
				}
			}
			if e.Children {
				r.SkipChildren()
			}
		case dwarf.TagCompileUnit:
		default:
			if rt, ok := e.Val(0x2904).(uint64); ok && rt != 0 {
				b.runtimeTypes[rt] = e.Offset
			}
			if e.Children {
				r.SkipChildren()
			}
		}
	}
}

// RuntimeType returns the Go type whose runtime type descriptor is at the
// link-time address addr, from DWARF; nil if unknown.
func (b *Binary) RuntimeType(addr uint64) *goabi.Type {
	if b.DWARF == nil || addr == 0 {
		return nil
	}
	if b.subprograms == nil {
		b.indexDWARF()
	}
	if t, ok := b.typeCache[addr]; ok {
		return t
	}
	if b.typeCache == nil {
		b.typeCache = map[uint64]*goabi.Type{}
	}
	var t *goabi.Type
	if off, ok := b.runtimeTypes[addr-b.typesBase()]; ok {
		t, _ = goabi.FromDWARF(b.DWARF, off, int64(b.Arch.PtrSize))
	}
	b.typeCache[addr] = t
	return t
}

// typesBase returns moduledata.types, which DW_AT_go_runtime_type and a
// type descriptor's name offsets count from: the linker puts it at the
// start of .rodata (and names it runtime.types).
func (b *Binary) typesBase() uint64 {
	if v := b.Module.SymbolValue("runtime.types"); v != 0 {
		return v
	}
	// Stripped: moduledata says (an external linker puts C's read-only
	// data before Go's in .rodata).
	if b.Table != nil && b.Table.TypesStart() != 0 {
		return b.Table.TypesStart()
	}
	if s := b.ELF.Section(".rodata"); s != nil {
		return s.Addr
	}
	return 0
}

// RuntimeTypeName returns the name of the Go type whose runtime type
// descriptor is at the link-time address addr, read from the file's image
// (goruntime.TypeName: no DWARF or symbols needed); "" if it cannot be
// read there.
func (b *Binary) RuntimeTypeName(addr uint64) string {
	name, err := goruntime.TypeName(image{b}, addr, b.typesBase(), b.Arch.PtrSize, b.Arch.ByteOrder)
	if err != nil {
		return ""
	}
	return name
}

// image reads the file image of b at link-time addresses.
type image struct{ b *Binary }

func (m image) ReadAt(p []byte, off int64) (int, error) {
	c, err := m.b.code(uint64(off), uint64(len(p)))
	if err != nil {
		return 0, err
	}
	return copy(p, c), nil
}

// RuntimeLayout returns the layout of the binary's runtime structures
// (g.goid for goroutine ids), from goruntime: the binary's DWARF, else the
// tables generated for its Go release. The error wraps
// goruntime.ErrUnknownLayout when neither knows it.
func (b *Binary) RuntimeLayout() (*goruntime.Layout, error) {
	l, err := goruntime.ForBinary(b.DWARF, b.GoVersion, b.Arch.PtrSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Path, err)
	}
	return l, nil
}
