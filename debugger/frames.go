package debugger

import (
	"fmt"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/unwind"
)

// Memory is the process's memory as expressions read and write it
// (breakpoints do not show; writes over them change what they stand for).
type Memory interface {
	ReadMemory(addr uint64, p []byte) error
	WriteMemory(addr uint64, p []byte) error
}

// Frame is one frame of a stopped thread, with what an expression
// evaluator needs (the fields of package eval's Scope): the registers the
// unwinder recovered for it, its CFA and PC, the module the PC lies in and
// its load bias, the memory, and, in the innermost frame, a way to change
// a register.
type Frame struct {
	Index int        `json:"index"`
	Arch  *arch.Arch `json:"-"`
	Regs  arch.Regs  `json:"-"`
	// CFA is the canonical frame address (the caller's SP at the call), 0
	// if unknown (the outermost frame).
	CFA uint64 `json:"-"`
	// PC is where the frame stands: the thread's PC in frame 0, a return
	// address above it.
	PC     uint64         `json:"-"`
	Module *module.Module `json:"-"`
	Bias   uint64         `json:"-"`
	Mem    Memory         `json:"-"`
	// SetReg changes DWARF register n of the thread (frame 0 only, nil in
	// the others).
	SetReg func(n int, v uint64) error `json:"-"`

	Function   string `json:"function,omitempty"`
	File       string `json:"file,omitempty"`
	Line       int    `json:"line,omitempty"`
	Offset     uint64 `json:"offset,omitempty"`
	ModulePath string `json:"module,omitempty"`
	Inline     bool   `json:"inline,omitempty"`
	// Signal marks the signal trampoline's frame: the frame below was
	// interrupted by a signal whose handler is above.
	Signal bool `json:"signal,omitempty"`
	// Exact is set when PC is where the frame stands rather than a return
	// address (frame 0, a frame a signal interrupted): its code and
	// variables are looked up at PC, not at the call before it.
	Exact bool   `json:"-"`
	Note  string `json:"note,omitempty"`
}

// String renders the frame as bt prints it.
func (f *Frame) String() string {
	if f.Signal {
		return fmt.Sprintf("#%-3d <signal handler called>", f.Index)
	}
	uf := unwind.Frame{Kind: unwind.User, PC: f.PC, Function: f.Function, Module: f.ModulePath, File: f.File, Line: f.Line, Note: f.Note}
	if f.Inline {
		uf.Kind = unwind.Inline
	}
	return fmt.Sprintf("#%-3d %s", f.Index, uf.String())
}

// Stack unwinds thread tid: its frames innermost first, inline frames
// expanded, at most limit physical frames (0: all); the note says why the
// walk ended early.
func (d *Debugger) Stack(tid, limit int) ([]Frame, string, error) {
	return d.stack(tid, limit, false)
}

// stack is Stack, without file:line when noSource is set.
func (d *Debugger) stack(tid, limit int, noSource bool) ([]Frame, string, error) {
	regs, err := d.s.Regs(tid)
	if err != nil {
		return nil, "", err
	}
	snap, err := d.snapshotFor(regs)
	if err != nil {
		return nil, "", err
	}
	phys, note := d.u.Walk(snap, regs, limit, noSource)
	var out []Frame
	for i, pf := range phys {
		for _, uf := range pf.Frames {
			f := Frame{Index: len(out), Arch: d.Arch, Regs: pf.Regs, CFA: pf.CFA, PC: uf.PC, Module: pf.Module, Bias: pf.Bias, Mem: d,
				Function: uf.Function, File: uf.File, Line: uf.Line, Offset: uf.Offset, ModulePath: uf.Module,
				Inline: uf.Kind == unwind.Inline, Signal: uf.Kind == unwind.Signal, Note: uf.Note,
				Exact: i == 0 || phys[i-1].Signal}
			if i == 0 {
				f.SetReg = func(n int, v uint64) error { return d.setReg(tid, n, v) }
				if len(out) == 0 && !noSource {
					// The line the thread stopped on, as a stop
					// event names it (chainAt).
					if c := d.chainAt(uf.PC); len(c) > 0 && c[0].Function == f.Function {
						f.File, f.Line = c[0].File, c[0].Line
					}
				}
			}
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		out = []Frame{{Arch: d.Arch, Regs: regs, PC: regs.PC, Mem: d, Exact: true, SetReg: func(n int, v uint64) error { return d.setReg(tid, n, v) }}}
	}
	return out, note, nil
}

// setReg changes DWARF register n (or the PC, n == arch.PC where the arch
// numbers it, or -1) of thread tid.
func (d *Debugger) setReg(tid, n int, v uint64) error {
	regs, err := d.s.Regs(tid)
	if err != nil {
		return err
	}
	if n < 0 || (d.Arch.PC != 0 && n == d.Arch.PC) {
		regs.PC = v
	} else {
		regs.Set(n, v)
	}
	d.invalidate()
	return d.s.SetRegs(tid, regs)
}

// Frames returns the selected thread's frames (cached until it runs).
func (d *Debugger) Frames() ([]Frame, error) {
	if d.frames != nil {
		return d.frames, nil
	}
	fs, _, err := d.Stack(d.cur, 0)
	if err != nil {
		return nil, err
	}
	if n := d.hiddenFrames(); n > 0 && n < len(fs) && fs[n-1].Inline {
		fs = fs[n:]
		for i := range fs {
			fs[i].Index = i
		}
	}
	d.frames = fs
	return fs, nil
}

// hiddenInline is the count of inline frames hidden at a thread's stop
// (Debugger.hidden), valid while the thread stays at pc.
type hiddenInline struct {
	tid int
	pc  uint64
	n   int
}

// hiddenFrames returns how many innermost inline frames the selected
// thread's stop hides.
func (d *Debugger) hiddenFrames() int {
	if d.hidden.n == 0 || d.hidden.tid != d.cur || d.hidden.pc != d.pc() {
		return 0
	}
	return d.hidden.n
}

// SelectFrame makes frame n of the selected thread the selected frame.
func (d *Debugger) SelectFrame(n int) (*Frame, error) {
	fs, err := d.Frames()
	if err != nil {
		return nil, err
	}
	if n < 0 || n >= len(fs) {
		return nil, fmt.Errorf("no frame %d (the thread has frames 0 to %d)", n, len(fs)-1)
	}
	d.frameSel = n
	return &fs[n], nil
}

// CurrentFrame returns the selected frame.
func (d *Debugger) CurrentFrame() (*Frame, error) {
	fs, err := d.Frames()
	if err != nil {
		return nil, err
	}
	if d.frameSel >= len(fs) {
		d.frameSel = 0
	}
	return &fs[d.frameSel], nil
}

// FrameIndex returns the selected frame's index.
func (d *Debugger) FrameIndex() int { return d.frameSel }

// RegNumber returns the DWARF number of the register named name ($ left
// off): the arch's assembler names, pc (-1: Regs.PC), sp and fp.
func RegNumber(a *arch.Arch, name string) (int, error) {
	switch name {
	case "pc":
		return -1, nil
	case "sp":
		return a.SP, nil
	case "fp":
		return a.FP, nil
	}
	for n, s := range a.RegNames {
		if s == name {
			if a.PC != 0 && n == a.PC {
				return -1, nil
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no register $%s on %s", name, a.Name)
}
