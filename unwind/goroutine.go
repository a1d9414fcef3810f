package unwind

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/pclntab"
	"github.com/taijidbg/taiji/target"
)

// GoProgram is the Go executable of a snapshot as the unwinder opened it,
// for readers of the Go runtime's own state (package goroutines): the
// module, its pclntab, the load bias, and the runtime's structure layout.
type GoProgram struct {
	Module  *module.Module
	Pclntab *pclntab.Table
	// Bias is added to a link-time address to get the address in the
	// process (non-zero for PIE).
	Bias    uint64
	Version string // the Go version from the build info ("go1.22.3"), "" if unknown
	// Layout is the layout of runtime.g, m and gobuf; nil with LayoutErr
	// (wrapping goruntime.ErrUnknownLayout) when no source knows it.
	Layout    *goruntime.Layout
	LayoutErr error
}

// ErrNotGo is returned by GoProgram for a snapshot whose executable is not
// a Go program (no .go.buildinfo section) or could not be opened.
var ErrNotGo = errors.New("not a Go program")

// GoProgram returns the Go executable of s, opened once per Unwinder; the
// error wraps ErrNotGo when the executable is not Go (or not readable).
func (u *Unwinder) GoProgram(s *target.Snapshot) (*GoProgram, error) {
	im := u.goExe(s)
	if im == nil {
		return nil, fmt.Errorf("%w: %s has no Go build information", ErrNotGo, s.Exe)
	}
	im.tables()
	p := &GoProgram{Module: im.mod, Pclntab: im.pcln, Version: im.goVer}
	p.Layout, p.LayoutErr = im.goLayout(u.Arch)
	for _, m := range s.Maps {
		if m.Path == s.Exe && m.Exec() {
			p.Bias, _ = im.mod.Bias(m.Start, m.Offset)
			break
		}
	}
	return p, nil
}

// GoroutinePCs unwinds the stack of a goroutine that no thread is running,
// from where it will resume: regs holds the PC and SP (and LR, BP where
// saved) of its g.sched, or of its system call (g.syscallpc, g.syscallsp),
// and g is the goroutine's runtime.g; mem reads the process's memory (s's,
// or a reader that serves the goroutine's stack from a copy first). As in
// Go's traceback, regs.PC is a return address, and so is every PC returned
// (name them with SymbolizeReturns). The note, if any, says why the walk
// ended before the goroutine's first function.
//
// The PCs are appended to pcs (which may be nil), reusing its memory.
func (u *Unwinder) GoroutinePCs(s *target.Snapshot, mem io.ReaderAt, g uint64, regs arch.Regs, pcs []uint64) ([]uint64, string) {
	space := u.spaceOf(s)
	// A goroutine that has not run yet resumes at its function's entry
	// (newproc1 sets g.sched.pc to it, with goexit pushed as the return
	// address): that PC is looked up as is, as Go's traceback does for a
	// PC that is not past its function's entry.
	exact := u.atGoEntry(space, regs.PC)
	n0 := len(pcs)
	start, done := phys{pc: regs.PC, regs: regs, exact: exact}, false
	if !u.SlowGoroutineWalk {
		if pcs, start, done = u.goFast(space, regs, exact, mem, pcs, walkLimit); done {
			return pcs, ""
		}
	}
	gw := &gwalk{regs: regs}
	gw.enter(g)
	gw.parked = true
	// A frame carries a whole register file (a kilobyte): a walk reuses
	// the frames of the one before, as a million goroutines are walked.
	buf := physPool.Get().(*[]phys)
	ph, note := u.walkFrom(space, start, gw, mem, walkLimit-(len(pcs)-n0), (*buf)[:0])
	for i := range ph {
		pcs = append(pcs, ph[i].pc)
	}
	if cap(ph) <= 1024 {
		*buf = ph[:0]
		physPool.Put(buf)
	}
	return pcs, note
}

var physPool = sync.Pool{New: func() any { b := make([]phys, 0, 32); return &b }}

// SymbolizeReturns names PCs of s that are all return addresses (looked up
// at PC-1, but for one at a Go function's very entry: a goroutine not yet
// started, as GoroutinePCs returns it), inline frames expanded, keeping at most opts.MaxFrames as
// Process does; omitted says how many were left out in the middle.
func (u *Unwinder) SymbolizeReturns(s *target.Snapshot, pcs []uint64, opts Options) (frames []Frame, omitted int) {
	sp := u.spaceOf(s)
	ph := make([]phys, len(pcs))
	for i, pc := range pcs {
		ph[i] = phys{pc: pc, region: sp.find(pc), exact: u.atGoEntry(sp, pc)}
		if r := ph[i].region; r != nil && r.img != nil && r.img.mod != nil {
			r.img.tables() // the pclntab names Go frames
		}
	}
	frames, omitted, _ = u.assemble(nil, ph, opts)
	return frames, omitted
}

// spaceOf returns the address space of s, built once per snapshot and kept
// (Symbolize, GoroutineStack) until the Unwinder is closed.
func (u *Unwinder) spaceOf(s *target.Snapshot) *space {
	u.mu.Lock()
	sp := u.spaces[s]
	u.mu.Unlock()
	if sp != nil {
		return sp
	}
	sp, _ = u.space(s)
	u.mu.Lock()
	if u.spaces == nil {
		u.spaces = map[*target.Snapshot]*space{}
	}
	u.spaces[s] = sp
	u.mu.Unlock()
	return sp
}

// ThreadGoroutine returns the address of the goroutine (m.curg) the thread
// with registers regs is running, 0 if none is known: the thread runs no
// Go code, is on a g0 or gsignal stack with no goroutine, or the runtime
// layout is unknown. It reads the memory CopyGoState kept.
func (u *Unwinder) ThreadGoroutine(s *target.Snapshot, regs arch.Regs) uint64 {
	im := u.goExe(s)
	if im == nil {
		return 0
	}
	mem := s.Memory()
	gw := &gwalk{regs: regs}
	st := gw.state(u, im, mem)
	if st == nil {
		if r, ok := u.vdsoCallerRegs(s, regs, mem); ok {
			gw = &gwalk{regs: r}
			st = gw.state(u, im, mem)
		}
	}
	if st == nil || st.curg == 0 || st.curgM != st.m {
		return 0
	}
	return st.curg
}

// threadGoid is the goid of the goroutine ThreadGoroutine finds, 0 if none.
func (u *Unwinder) threadGoid(s *target.Snapshot, regs arch.Regs, mem io.ReaderAt) uint64 {
	g := u.ThreadGoroutine(s, regs)
	im := u.goExe(s)
	if g == 0 || im == nil || im.rt == nil || !im.rt.G.Goid.Known() {
		return 0
	}
	var b [8]byte
	if _, err := mem.ReadAt(b[:], int64(g+uint64(im.rt.G.Goid))); err != nil {
		return 0
	}
	return u.Arch.ByteOrder.Uint64(b[:])
}

// atGoEntry reports whether pc is the entry of a Go function of sp's
// modules: where a goroutine that has not run yet resumes.
func (u *Unwinder) atGoEntry(sp *space, pc uint64) bool {
	r := sp.find(pc)
	if r == nil || r.img == nil || r.img.mod == nil {
		return false
	}
	r.img.tables()
	if r.img.pcln == nil {
		return false
	}
	fn, ok := r.img.goFunc(pc - r.bias)
	return ok && fn.Entry == pc-r.bias
}
