package unwind

import (
	"fmt"

	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/target"
)

// Options select what a backtrace contains.
type Options struct {
	// MaxFrames bounds the kernel and physical user frames printed per
	// thread (0: no bound). A longer stack keeps its innermost and
	// outermost frames and reports how many were omitted between them.
	MaxFrames int
	NoKernel  bool // leave out kernel frames
	NoSource  bool // skip file:line lookup (names only): faster on big DWARF
}

// DefaultMaxFrames is the --max-frames default.
const DefaultMaxFrames = 256

// Process unwinds every thread of a snapshot.
func (u *Unwinder) Process(s *target.Snapshot, opts Options) ([]*Thread, []string) {
	sp, notes := u.space(s)
	mem := s.Memory()
	kernelNoted := false
	var out []*Thread
	for _, t := range s.Threads {
		th := &Thread{TID: t.TID, Name: t.Info.Name, State: t.Info.State, Frozen: t.Frozen}
		out = append(out, th)
		if t.Err != nil {
			th.Err = t.Err.Error()
			continue
		}
		var kernel []Frame
		if !opts.NoKernel {
			if t.KernelErr != nil {
				if !kernelNoted {
					notes = append(notes, "kernel frames unavailable: "+t.KernelErr.Error())
					kernelNoted = true
				}
			}
			for _, k := range t.Kernel {
				kernel = append(kernel, Frame{Kind: Kernel, Function: k.Function, Offset: k.Offset, Module: k.Module})
			}
		}
		limit := walkLimit
		frames, note := u.walk(sp, t.Regs, mem, limit)
		if note != "" {
			th.Notes = append(th.Notes, note)
		}
		th.Frames, th.Omitted, th.gap = u.assemble(kernel, frames, opts)
		th.Goroutine = u.threadGoid(s, t.Regs, mem)
	}
	return out, append(notes, u.moduleNotes(sp)...)
}

// assemble cuts the frames to MaxFrames (keeping both ends), then names the
// kept ones: naming is the expensive part, so omitted frames are never named.
func (u *Unwinder) assemble(kernel []Frame, frames []phys, opts Options) (out []Frame, omitted, gap int) {
	total := len(kernel) + len(frames)
	keepHead := total
	if opts.MaxFrames > 0 && total > opts.MaxFrames {
		keepHead = opts.MaxFrames - opts.MaxFrames/4
		omitted = total - opts.MaxFrames
	}
	out = make([]Frame, 0, min(total, keepHead+opts.MaxFrames/4)+8)
	gap = -1
	for i := 0; i < total; i++ {
		if i >= keepHead && i < keepHead+omitted {
			if gap < 0 {
				gap = len(out)
			}
			continue
		}
		if i < len(kernel) {
			out = append(out, kernel[i])
			continue
		}
		out = append(out, u.name(&frames[i-len(kernel)], opts.NoSource)...)
	}
	return out, omitted, gap
}

// name turns a physical frame into its source frames: inline frames first,
// then the physical one.
func (u *Unwinder) name(f *phys, noSource bool) []Frame {
	base := Frame{Kind: User, PC: f.pc, Method: f.method, Note: f.note}
	if f.signal {
		base.Kind = Signal
	}
	r := f.region
	if r == nil {
		return []Frame{base}
	}
	base.Module = r.path
	if r.img == nil || r.img.mod == nil {
		return []Frame{base}
	}
	addr := f.lookupPC() - r.bias
	var locs []module.Location
	if t := r.img.pcln; t != nil {
		if fn, ok := t.Lookup(addr); ok {
			locs = goLocations(t, fn, addr, noSource)
			base.Offset = f.pc - r.bias - fn.Entry
		}
	}
	if locs == nil {
		locs = r.img.mod.Frames(addr, noSource)
		if _, start, ok := r.img.mod.Symbol(addr); ok {
			base.Offset = f.pc - r.bias - start
		}
	}
	if len(locs) == 0 {
		return []Frame{base}
	}
	out := make([]Frame, len(locs))
	for i, l := range locs {
		fr := base
		if i > 0 {
			fr.Note = ""
		}
		fr.Function, fr.File, fr.Line = l.Function, l.File, l.Line
		if l.Inline {
			fr.Kind = Inline
		}
		out[i] = fr
	}
	return out
}

// String renders a thread gdb-style.
func (t *Thread) String() string {
	s := fmt.Sprintf("Thread %d %q (state %s)", t.TID, t.Name, t.State)
	if t.Goroutine != 0 {
		s += fmt.Sprintf(" goroutine %d", t.Goroutine)
	}
	if t.Err != "" {
		return s + ": " + t.Err + "\n"
	}
	s += ":\n"
	n := 0
	for i, f := range t.Frames {
		if i == t.gap && t.Omitted > 0 {
			s += fmt.Sprintf("    ... %d frames omitted ...\n", t.Omitted)
			n += t.Omitted
		}
		s += fmt.Sprintf("#%-3d %s\n", n, f.String())
		n++
	}
	for _, n := range t.Notes {
		s += "    note: " + n + "\n"
	}
	return s
}
