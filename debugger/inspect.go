package debugger

import (
	"fmt"

	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/goroutines"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// Insn is one disassembled instruction.
type Insn struct {
	Addr uint64 `json:"-"`
	PC   string `json:"addr"`
	// Symbol is function+offset, "" where no symbol covers the address.
	Symbol  string `json:"symbol,omitempty"`
	Text    string `json:"text"`
	Bytes   string `json:"bytes"`
	Current bool   `json:"current,omitempty"` // the selected frame's PC
	// File and Line are the source of the instruction (Lines).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Lines fills in the source line of each instruction.
func (d *Debugger) Lines(insns []Insn) {
	for i := range insns {
		l := d.locationAt(insns[i].Addr)
		insns[i].File, insns[i].Line = l.File, l.Line
	}
}

// maxDisasm bounds the bytes one disassemble reads.
const maxDisasm = 64 << 10

// Disassemble decodes [start, end) of the process's code (breakpoints do
// not show), in the Go assembler syntax of golang.org/x/arch.
func (d *Debugger) Disassemble(start, end uint64) ([]Insn, error) {
	if end <= start {
		return nil, fmt.Errorf("the end %#x is not after the start %#x", end, start)
	}
	if end-start > maxDisasm {
		return nil, fmt.Errorf("%d bytes is too much to disassemble at once (at most %d)", end-start, maxDisasm)
	}
	code := make([]byte, end-start)
	if err := d.s.ReadMemory(start, code); err != nil {
		return nil, err
	}
	insts, err := disasm.Decode(d.Arch, code, start)
	if len(insts) == 0 && err != nil {
		return nil, err
	}
	var cur uint64
	if f, err := d.CurrentFrame(); err == nil {
		cur = f.PC
	}
	out := make([]Insn, len(insts))
	for i, in := range insts {
		out[i] = Insn{Addr: in.Addr, PC: fmt.Sprintf("%#x", in.Addr), Text: in.Text, Bytes: fmt.Sprintf("%x", in.Raw), Current: in.Addr == cur}
		if fn, off, ok := d.symbolAt(in.Addr); ok {
			out[i].Symbol = fmt.Sprintf("%s+%d", fn, off)
		}
	}
	return out, nil
}

// symbolAt names the function at addr and addr's offset in it.
func (d *Debugger) symbolAt(addr uint64) (string, uint64, bool) {
	im := d.imageAt(addr)
	if im == nil {
		return "", 0, false
	}
	a := addr - im.bias
	if im.pcln != nil {
		if f, ok := im.pcln.Lookup(a); ok {
			return f.Name, a - f.Entry, true
		}
	}
	if name, start, ok := im.mod.Symbol(a); ok {
		return name, a - start, true
	}
	return "", 0, false
}

// FunctionRange returns the bounds of the function containing pc.
func (d *Debugger) FunctionRange(pc uint64) (start, end uint64, err error) {
	im := d.imageAt(pc)
	if im == nil {
		return 0, 0, fmt.Errorf("no module is mapped at %#x", pc)
	}
	a := pc - im.bias
	if im.pcln != nil {
		if f, ok := im.pcln.Lookup(a); ok {
			return f.Entry + im.bias, f.End + im.bias, nil
		}
	}
	name, s, ok := im.mod.Symbol(a)
	if ok {
		if _, size, ok := im.mod.SymbolByName(name); ok && size > 0 && a < s+size {
			return s + im.bias, s + size + im.bias, nil
		}
	}
	return 0, 0, fmt.Errorf("no function symbol covers %#x: give a range (disassemble -a START END)", pc)
}

// Goroutines reads the goroutines of the stopped process (package
// goroutines, on the session's memory).
func (d *Debugger) Goroutines() (*goroutines.Result, error) {
	base, err := d.snapshot()
	if err != nil {
		return nil, err
	}
	s := &target.Snapshot{Pid: base.Pid, Exe: base.Exe, Arch: base.Arch, Maps: base.Maps, Live: base.Live,
		Files: base.Files, VDSO: base.VDSO, VDSOAddr: base.VDSOAddr}
	for _, tid := range d.Threads() {
		regs, err := d.s.Regs(tid)
		s.Threads = append(s.Threads, &target.Thread{TID: tid, Regs: regs, Err: err})
	}
	r := goroutines.NewReader(d.u, goroutines.Options{Options: unwind.Options{NoKernel: true, MaxFrames: unwind.DefaultMaxFrames}})
	if err := r.Prepare(s); err != nil {
		return nil, err
	}
	r.Copy(s)
	threads, _ := d.u.Process(s, unwind.Options{NoKernel: true})
	return r.Read(s, threads)
}
