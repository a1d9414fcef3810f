package goruntime

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/taijidbg/taiji/pclntab"
)

// Vars are link-time addresses (before any PIE load bias) of runtime
// variables; 0 = not found.
type Vars struct {
	Allgs             uint64 // runtime.allgs: []*g (ptr, len, cap)
	Allglen           uint64 // runtime.allglen: uintptr
	Allm              uint64 // runtime.allm: *m
	WaitReasonStrings uint64 // runtime.waitReasonStrings: [N]string
	// NumWaitReasons is N, the table's length: from the symbol's size, or
	// the bound runtime.waitReason.String checks an index against; 0 =
	// not known (then the release's table, WaitReasons, says how many).
	NumWaitReasons int
	From           string // "symbol table" or "code of runtime.allgadd" etc., for messages
}

// ErrVarsNotFound is returned (wrapped) by FindVars when runtime.allgs, the
// one variable every goroutine listing needs, cannot be found. Callers test
// it with errors.Is.
var ErrVarsNotFound = errors.New("goruntime: runtime variables not found")

// FindVars finds the runtime variables of a Go binary: from its ELF symbol
// table when it has one, else (`-s -w` binaries) from the code of the
// runtime functions that use them, which pclntab t still names (see
// varRules). The error wraps ErrVarsNotFound when allgs is not found; a
// variable the code names ambiguously, or at an address outside the
// binary's writable data, is an error, never a guess. The other variables
// may be 0 in a nil-error result when the binary's code does not name them
// clearly: the caller falls back (wait reasons from the release's table).
func FindVars(f *elf.File, t *pclntab.Table) (v Vars, err error) {
	defer func() {
		// debug/elf and the decoders index what they are given: a corrupt
		// binary must be an error, never a crash of taiji.
		if r := recover(); r != nil {
			v, err = Vars{}, fmt.Errorf("%w: reading the binary: %v", ErrVarsNotFound, r)
		}
	}()
	return findVars(f, t)
}

// findVars is FindVars without its last line of defence, for the fuzz
// target to see panics.
func findVars(f *elf.File, t *pclntab.Table) (Vars, error) {
	if v, ok := varsFromSymbols(f); ok {
		return v, nil
	}
	if t == nil {
		return Vars{}, fmt.Errorf("%w: no symbol table and no pclntab", ErrVarsNotFound)
	}
	return varsFromCode(f, t)
}

// varsFromSymbols reads the variables from .symtab; ok is false without one
// or when it lacks runtime.allgs.
func varsFromSymbols(f *elf.File) (Vars, bool) {
	v := Vars{From: "symbol table"}
	found := scanSymbols(f, func(named func(string) bool, info uint8, value, size uint64) {
		if elf.ST_TYPE(info) != elf.STT_OBJECT && elf.ST_TYPE(info) != elf.STT_NOTYPE {
			return
		}
		for _, r := range varRules {
			if named(r.Symbol) {
				*r.field(&v) = value
				if r.Symbol == "runtime.waitReasonStrings" && size/uint64(2*ptrSizeOf(f)) <= maxWaitReasons {
					v.NumWaitReasons = int(size / uint64(2*ptrSizeOf(f)))
				}
			}
		}
	})
	return v, found && v.Allgs != 0
}

// scanSymbols calls fn with each .symtab symbol of f, reading the table a
// chunk at a time and a name only as far as fn compares it (named reports
// whether the symbol is named exactly so): elf.File.Symbols would make a Go
// string and struct of each of a large binary's hundreds of thousands of
// symbols, to keep four. It returns false when f has no symbol table.
func scanSymbols(f *elf.File, fn func(named func(string) bool, info uint8, value, size uint64)) bool {
	symtab := f.SectionByType(elf.SHT_SYMTAB)
	if symtab == nil || symtab.Link == 0 || int(symtab.Link) >= len(f.Sections) {
		return false
	}
	strtab := f.Sections[symtab.Link]
	size := 24 // Elf64_Sym
	if f.Class == elf.ELFCLASS32 {
		size = 16
	}
	var nameBuf []byte
	bo := f.ByteOrder
	r := bufio.NewReader(symtab.Open())
	ent := make([]byte, size)
	var nameOff int64
	named := func(want string) bool {
		if cap(nameBuf) < len(want)+1 {
			nameBuf = make([]byte, len(want)+1)
		}
		b := nameBuf[:len(want)+1]
		n, _ := strtab.ReadAt(b, nameOff)
		return n == len(b) && b[len(want)] == 0 && string(b[:len(want)]) == want
	}
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, ent); err != nil {
			break
		}
		if i == 0 {
			continue // the null symbol
		}
		nameOff = int64(bo.Uint32(ent))
		var info uint8
		var value, symSize uint64
		if size == 24 {
			info, value, symSize = ent[4], bo.Uint64(ent[8:]), bo.Uint64(ent[16:])
		} else {
			info, value, symSize = ent[12], uint64(bo.Uint32(ent[4:])), uint64(bo.Uint32(ent[8:]))
		}
		fn(named, info, value, symSize)
	}
	return true
}

// refKind says how an instruction uses a data address.
type refKind uint8

const (
	refAddr  refKind = 1 << iota // materialised in a register (LEA, ADRP+ADD, LUI+DADDIU)
	refLoad                      // read
	refStore                     // written
	// refBound is not an address: Addr is a constant the instruction
	// compares a register with (an index's bound: CMP $N, SLTIU, or a
	// constant loaded for a compare-and-branch).
	refBound
)

// ref is one data address an instruction names, or one bound it checks.
type ref struct {
	PC, Addr uint64
	Kind     refKind
}

// refScanner returns the data addresses a function's code, found at pc,
// names, as that architecture's Go assembler materialises them. It must
// not panic on any input and may miss references, never invent them.
type refScanner func(code []byte, pc uint64) []ref

// refScanners by ELF machine (and class where one machine has both).
var refScanners = map[elf.Machine]map[elf.Class]refScanner{
	elf.EM_X86_64:    {elf.ELFCLASS64: scanX86(64)},
	elf.EM_386:       {elf.ELFCLASS32: scanX86(32)},
	elf.EM_AARCH64:   {elf.ELFCLASS64: scanARM64},
	elf.EM_MIPS:      {elf.ELFCLASS64: scanMIPS64},
	elf.EM_PPC64:     {elf.ELFCLASS64: scanPPC64LE},
	elf.EM_S390:      {elf.ELFCLASS64: scanS390X},
	elf.EM_RISCV:     {elf.ELFCLASS64: scanRISCV64},
	elf.EM_LOONGARCH: {elf.ELFCLASS64: scanLoong64},
}

// maxFuncSize bounds the code read for one function: the runtime functions
// of varRules are a few KiB; a corrupt pclntab must not make taiji read
// megabytes.
const maxFuncSize = 64 << 10

// funcRefs returns the data references in the code of the named function,
// and whether the function exists and its code could be read.
func funcRefs(f *elf.File, t *pclntab.Table, scan refScanner, name string) ([]ref, bool) {
	fn, ok := t.ByName(name)
	if !ok || fn.End <= fn.Entry || fn.End-fn.Entry > maxFuncSize {
		return nil, false
	}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR == 0 || s.Type == elf.SHT_NOBITS || fn.Entry < s.Addr || fn.End > s.Addr+s.Size {
			continue
		}
		code := make([]byte, fn.End-fn.Entry)
		if _, err := s.ReadAt(code, int64(fn.Entry-s.Addr)); err != nil {
			return nil, false
		}
		return scan(code, fn.Entry), true
	}
	return nil, false
}

// dataSection returns the name of the writable, allocated, non-executable
// section holding addr, or "".
func dataSection(f *elf.File, addr uint64) string {
	for _, s := range f.Sections {
		if s.Flags&(elf.SHF_ALLOC|elf.SHF_WRITE) == elf.SHF_ALLOC|elf.SHF_WRITE && s.Flags&elf.SHF_EXECINSTR == 0 &&
			addr >= s.Addr && addr-s.Addr < s.Size {
			return s.Name
		}
	}
	return ""
}

// describe formats a set of addresses for messages.
func describe(addrs []uint64) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%#x", a)
	}
	return b.String()
}

func sortedKeys(m map[uint64]bool) []uint64 {
	out := make([]uint64, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// varsFromCode finds the variables from the code of the runtime functions
// varRules names.
func varsFromCode(f *elf.File, t *pclntab.Table) (Vars, error) {
	scan := refScanners[f.Machine][f.Class]
	if scan == nil {
		return Vars{}, fmt.Errorf("%w: no symbol table, and taiji cannot read %s %s code for them", ErrVarsNotFound, f.Machine, f.Class)
	}
	ptrSize := uint64(ptrSizeOf(f))
	var v Vars
	var used []string
	for i := range varRules {
		r := &varRules[i]
		addr, from, err := r.find(f, t, scan, ptrSize)
		if err != nil {
			if r.field(&v) == &v.Allgs {
				return Vars{}, err
			}
			// Only allgs is needed to list goroutines: the others
			// (allm, the wait-reason names, which the release's table
			// also gives) are left unknown rather than fail it.
			continue
		}
		*r.field(&v) = addr
		for _, fn := range from {
			if !slices.Contains(used, fn) {
				used = append(used, fn)
			}
		}
	}
	if v.Allgs == 0 {
		return Vars{}, fmt.Errorf("%w: no symbol table, and none of %s is in the binary's pclntab",
			ErrVarsNotFound, strings.Join(varRules[0].funcs(), ", "))
	}
	if v.WaitReasonStrings != 0 {
		if n, err := numWaitReasons(f, t, scan); err == nil {
			v.NumWaitReasons = n
		} else {
			v.WaitReasonStrings = 0 // its length unknown: the table serves
		}
	}
	v.From = "code of " + strings.Join(used, ", ")
	return v, nil
}

// waitReasonString is the method that bounds an index by
// len(waitReasonStrings) (runtime2.go: w >= waitReason(len(waitReasonStrings))),
// present in every release; the bound is the one constant it compares with.
const waitReasonString = "runtime.waitReason.String"

// numWaitReasons returns len(runtime.waitReasonStrings) from the code of
// waitReason.String, or 0 when the function is not there.
func numWaitReasons(f *elf.File, t *pclntab.Table, scan refScanner) (int, error) {
	refs, ok := funcRefs(f, t, scan, waitReasonString)
	if !ok {
		return 0, nil
	}
	bounds := map[uint64]bool{}
	for _, r := range refs {
		if r.Kind == refBound {
			bounds[r.Addr] = true
		}
	}
	b := sortedKeys(bounds)
	if len(b) != 1 || b[0] == 0 || b[0] > maxWaitReasons {
		return 0, fmt.Errorf("goruntime: finding len(runtime.waitReasonStrings): the code of %s compares with %d constants (%s), want one",
			waitReasonString, len(b), describe(b))
	}
	return int(b[0]), nil
}

// ptrSizeOf returns the pointer size of f's architecture.
func ptrSizeOf(f *elf.File) int {
	if f.Class == elf.ELFCLASS32 {
		return 4
	}
	return 8
}

// find returns the address of r's variable: the one address in section
// r.Section that every witness function present in the binary names as
// its Witness says. from lists the witnesses that were present; addr is 0
// when none is. Witnesses that name no common address, or several, are an
// error.
func (r *varRule) find(f *elf.File, t *pclntab.Table, scan refScanner, ptrSize uint64) (addr uint64, from []string, err error) {
	var common map[uint64]bool
	for _, w := range r.Witnesses {
		kinds := map[uint64]refKind{}
		var present []string
		for _, fn := range w.Funcs {
			refs, ok := funcRefs(f, t, scan, fn)
			if !ok {
				continue
			}
			present = append(present, fn)
			for _, rf := range refs {
				if rf.Kind != refBound {
					kinds[rf.Addr] |= rf.Kind
				}
			}
		}
		if present == nil {
			continue
		}
		named := map[uint64]bool{}
		for a, k := range kinds {
			if (w.Kind == 0 || k&w.Kind != 0) && dataSection(f, a) == r.Section {
				named[a] = true
			}
		}
		if common == nil {
			common = named
		} else {
			for a := range common {
				if !named[a] {
					delete(common, a)
				}
			}
		}
		from = append(from, present...)
		if len(common) == 0 && len(from) == len(present) {
			return 0, nil, fmt.Errorf("goruntime: finding %s: the code of %s names no address in %s",
				r.Symbol, strings.Join(from, " and "), r.Section)
		}
		if len(common) == 0 {
			return 0, nil, fmt.Errorf("goruntime: finding %s: the code of %s names no common address in %s: they disagree",
				r.Symbol, strings.Join(from, " and "), r.Section)
		}
	}
	if common == nil {
		return 0, nil, nil
	}
	if r.Slice {
		// A slice's length and capacity words follow its pointer: keep
		// the lowest address of each run.
		for a := range common {
			if common[a-ptrSize] || common[a-2*ptrSize] {
				delete(common, a)
			}
		}
	}
	if len(common) != 1 {
		return 0, nil, fmt.Errorf("goruntime: finding %s: the code of %s names several addresses in %s (%s): ambiguous",
			r.Symbol, strings.Join(from, " and "), r.Section, describe(sortedKeys(common)))
	}
	for a := range common {
		addr = a
	}
	return addr, from, nil
}
