package unwind

import (
	"debug/dwarf"
	"io"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
)

// gwalk is the Go runtime state one thread's walk carries across stack
// switches: which g's stack the walk is on, and the goroutine frames a
// crossed cgo callback will return to.
type gwalk struct {
	// regs holds the g register (arch.GoG) of the code the walk started
	// in: the thread's registers, or those a signal frame restored.
	regs     arch.Regs
	g        uint64 // the g whose stack the walk is on; 0: not known yet
	resolved bool   // g was taken from regs, or set by a switch
	// pending are the goroutine-side callers of cgocallback frames
	// crossed into C, innermost last: where runtime.asmcgocall returns.
	pending []phys
	curg    uint64 // the goroutine of the last callback crossed
}

// enter records that the walk continues on g's stack.
func (gw *gwalk) enter(g uint64) { gw.g, gw.resolved = g, true }

// gstate is the thread's Go runtime state as seen from the walk's g.
type gstate struct {
	layout         *goruntime.Layout
	g, m           uint64
	g0, curg       uint64
	gsignal, curgM uint64
}

// onG0 is Go's traceback condition for a jump back to the goroutine:
// gp == gp.m.g0 && gp.m.curg != nil && gp.m.curg.m == gp.m.
func (s *gstate) onG0() bool { return s.g == s.g0 && s.curg != 0 && s.curgM == s.m }

// state reads the walk's g, its m, and that m's g0, curg and gsignal, with
// the layout of im (the Go binary whose runtime function is being crossed).
// nil when any of it is unknown: the layout (no DWARF, a release outside
// the tables), or the g register, which holds g only in Go code compiled for
// ABIInternal (and a g that its own m does not name is not a g).
func (gw *gwalk) state(u *Unwinder, im *image, mem io.ReaderAt) *gstate {
	a := u.Arch
	l, err := im.goLayout(a)
	if err != nil || !l.G.M.Known() || !l.M.G0.Known() || !l.M.Curg.Known() || !l.M.Gsignal.Known() ||
		!l.SchedSP().Known() || !l.SchedPC().Known() {
		return nil
	}
	if !gw.resolved {
		gw.resolved = true
		if v, ok := gw.regs.Get(a.GoG); ok && a.GoG >= 0 {
			gw.g = v
		}
	}
	if gw.g == 0 {
		return nil
	}
	s := &gstate{layout: l, g: gw.g}
	read := func(addr uint64, off goruntime.Off) uint64 {
		v, err := u.readPtr(mem, addr+uint64(off))
		if err != nil {
			return 0
		}
		return v
	}
	if s.m = read(s.g, l.G.M); s.m == 0 {
		return nil
	}
	s.g0, s.curg, s.gsignal = read(s.m, l.M.G0), read(s.m, l.M.Curg), read(s.m, l.M.Gsignal)
	if s.g != s.g0 && s.g != s.curg && s.g != s.gsignal {
		return nil
	}
	if s.curg != 0 {
		s.curgM = read(s.curg, l.G.M)
	}
	return s
}

// goLayout returns the layout of the runtime structures of the Go binary im,
// found once: from its DWARF, else from goruntime's tables for its release.
// DWARF is read only here, when a walk first crosses a stack switch in im.
func (im *image) goLayout(a *arch.Arch) (*goruntime.Layout, error) {
	im.rtOnce.Do(func() {
		var d *dwarf.Data
		if dd, err := im.mod.DWARF(); err == nil {
			d = dd
		}
		im.rt, im.rtErr = goruntime.ForBinary(d, goruntime.GoVersion(im.mod.File), a.PtrSize)
	})
	return im.rt, im.rtErr
}
