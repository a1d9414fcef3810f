package eval

import (
	"debug/elf"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/module"
)

// ExamineFormat is a parsed gdb x/FMT: a count, a format letter and a unit
// size in bytes.
type ExamineFormat struct {
	Count  int
	Format byte // x d u o t c a s i
	Size   int  // 1 2 4 8 (b h w g)
}

// ParseExamineFormat parses gdb's x/FMT letters ("4xw", "s", "10i", "gx");
// defaults are gdb's first-use ones: 1, 'x', 4 bytes ('a' and pointers take
// the pointer size, 'c' one byte).
func ParseExamineFormat(s string, ptrSize int) (ExamineFormat, error) {
	f := ExamineFormat{Count: 1, Format: 'x'}
	s = strings.TrimPrefix(s, "/")
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n <= 0 || n > 1<<16 {
			return f, fmt.Errorf("bad count in x/%s: give 1 to 65536", s)
		}
		f.Count = n
	}
	for _, c := range []byte(s[i:]) {
		switch c {
		case 'x', 'd', 'u', 'o', 't', 'c', 'a', 's', 'i', 'z':
			f.Format = c
		case 'b':
			f.Size = 1
		case 'h':
			f.Size = 2
		case 'w':
			f.Size = 4
		case 'g':
			f.Size = 8
		default:
			return f, fmt.Errorf("x/%s: unknown letter %q (formats x d u o t c a s i, sizes b h w g)", s, c)
		}
	}
	if f.Size == 0 {
		switch f.Format {
		case 'a':
			f.Size = ptrSize
		case 'c':
			f.Size = 1
		default:
			f.Size = 4
		}
	}
	return f, nil
}

// Examine formats count units of memory at addr as gdb's x/FMT does: one
// line per row, each starting with the address and, where the scope's
// module has a symbol for it, <symbol+offset>. FMT is as
// ParseExamineFormat takes it.
func Examine(sc *Scope, fmtStr string, addr uint64) (string, error) {
	if sc == nil || sc.Arch == nil || sc.Mem == nil {
		return "", fmt.Errorf("no process to examine")
	}
	f, err := ParseExamineFormat(fmtStr, sc.ptrSize())
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	switch f.Format {
	case 's':
		for i := 0; i < f.Count; i++ {
			s, done, err := sc.cString(addr, 4096)
			if err != nil {
				return sb.String(), err
			}
			fmt.Fprintf(&sb, "%s:\t%s", sc.label(addr), strconv.Quote(s))
			if !done {
				sb.WriteString("...")
			}
			sb.WriteString("\n")
			addr += uint64(len(s)) + 1
		}
		return sb.String(), nil
	case 'i':
		return sc.examineCode(f.Count, addr)
	}
	perLine := map[int]int{1: 8, 2: 8, 4: 4, 8: 2}[f.Size]
	if f.Format == 'a' {
		perLine = 2
	}
	buf := make([]byte, f.Count*f.Size)
	if err := sc.Mem.ReadMemory(addr, buf); err != nil {
		return "", readErr(int64(len(buf)), addr, err)
	}
	for i := 0; i < f.Count; i++ {
		if i%perLine == 0 {
			if i > 0 {
				sb.WriteString("\n")
			}
			fmt.Fprintf(&sb, "%s:", sc.label(addr+uint64(i*f.Size)))
		}
		u := readUint(sc.order(), buf[i*f.Size:(i+1)*f.Size])
		sb.WriteString("\t")
		sb.WriteString(sc.unit(f, u))
	}
	sb.WriteString("\n")
	return sb.String(), nil
}

// unit formats one unit of x.
func (sc *Scope) unit(f ExamineFormat, u uint64) string {
	bits := f.Size * 8
	signed := int64(u<<(64-bits)) >> (64 - bits)
	switch f.Format {
	case 'x':
		return fmt.Sprintf("0x%0*x", f.Size*2, u)
	case 'z':
		return fmt.Sprintf("0x%0*x", f.Size*2, u)
	case 'd':
		return strconv.FormatInt(signed, 10)
	case 'u':
		return strconv.FormatUint(u, 10)
	case 'o':
		if u == 0 {
			return "0"
		}
		return "0" + strconv.FormatUint(u, 8)
	case 't':
		return fmt.Sprintf("%0*b", bits, u)
	case 'c':
		return fmt.Sprintf("%d %s", signed, charString(u&0xff, 1))
	case 'a':
		return fmt.Sprintf("%#x%s", u, sc.symSuffix(u))
	}
	return fmt.Sprintf("%#x", u)
}

// label is "0x401136 <main+4>" or "0x401136".
func (sc *Scope) label(addr uint64) string {
	return fmt.Sprintf("%#x%s", addr, sc.symSuffix(addr))
}

func (sc *Scope) symSuffix(addr uint64) string {
	if !sc.inModule(addr, 0) {
		return ""
	}
	name, start, ok := dataSymbol(sc.Module, addr-sc.Bias)
	if !ok && sc.inModule(addr, elf.PF_X) {
		// Function symbols name code only: a size-less one like _fini
		// would otherwise name all of .rodata after it, which gdb does
		// not.
		name, start, ok = sc.Module.Symbol(addr - sc.Bias)
	}
	if !ok {
		return ""
	}
	if off := addr - sc.Bias - start; off != 0 {
		return fmt.Sprintf(" <%s+%d>", name, off)
	}
	return " <" + name + ">"
}

// inModule reports whether addr lies in one of the module's loaded
// segments with the flags want: a symbol is a name for it only there (a
// stack address is not "_fini+46464095889224").
func (sc *Scope) inModule(addr uint64, want elf.ProgFlag) bool {
	if sc.Module == nil || addr < sc.Bias {
		return false
	}
	a := addr - sc.Bias
	for _, p := range sc.Module.File.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&want == want && p.Vaddr <= a && a < p.Vaddr+p.Memsz {
			return true
		}
	}
	return false
}

// examineCode disassembles count instructions at addr (x/i).
func (sc *Scope) examineCode(count int, addr uint64) (string, error) {
	if !disasm.Supports(sc.Arch) {
		return "", fmt.Errorf("x/i: no disassembler for %s", sc.Arch.Name)
	}
	const maxInst = 16
	code := make([]byte, count*maxInst)
	n := len(code)
	// Read what is mapped: code near the end of a mapping is short.
	for n > 0 {
		if err := sc.Mem.ReadMemory(addr, code[:n]); err == nil {
			break
		}
		n /= 2
	}
	if n == 0 {
		return "", readErr(int64(maxInst), addr, fmt.Errorf("not mapped"))
	}
	insts, err := disasm.Decode(sc.Arch, code[:n], addr)
	var sb strings.Builder
	for i, in := range insts {
		if i == count {
			break
		}
		mark := "  "
		if in.Addr == sc.Regs.PC {
			mark = "=>"
		}
		fmt.Fprintf(&sb, "%s %s:\t%s\n", mark, sc.label(in.Addr), in.Text)
	}
	if len(insts) < count && err != nil {
		fmt.Fprintf(&sb, "   (bad instruction: %v)\n", err)
	}
	return sb.String(), nil
}

// dataSyms are a module's data symbols (STT_OBJECT) by address, which
// module.Symbol (functions only) does not name: gdb labels x of a global
// "<gnode+16>".
type dataSyms []dataSym

type dataSym struct {
	start, size uint64
	name        string
}

var dataSymCache sync.Map // *module.Module -> dataSyms

// dataSymbol returns the data symbol containing the link-time address addr.
func dataSymbol(m *module.Module, addr uint64) (string, uint64, bool) {
	v, ok := dataSymCache.Load(m)
	if !ok {
		var ds dataSyms
		for _, f := range []*elf.File{m.File, m.Debug} {
			if f == nil {
				continue
			}
			syms, _ := f.Symbols()
			for _, s := range syms {
				if elf.ST_TYPE(s.Info) == elf.STT_OBJECT && s.Size > 0 && s.Value != 0 {
					ds = append(ds, dataSym{s.Value, s.Size, s.Name})
				}
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].start < ds[j].start })
		v, _ = dataSymCache.LoadOrStore(m, ds)
	}
	ds := v.(dataSyms)
	i := sort.Search(len(ds), func(i int) bool { return ds[i].start > addr }) - 1
	if i >= 0 && addr-ds[i].start < ds[i].size {
		return ds[i].name, ds[i].start, true
	}
	return "", 0, false
}
