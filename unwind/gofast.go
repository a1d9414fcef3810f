package unwind

import (
	"io"
	"strings"
	"sync/atomic"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
)

// The fast walk of a parked goroutine (GoroutinePCs). A goroutine's stack
// is, but for its ends, plain Go frames: each one's caller is found from
// the pclntab's SP delta alone, which is all Go's own traceback does. The
// general walk (walkFrom) carries a whole register file per frame and asks
// at each frame whether it is a signal trampoline, CFI, a stack switch; a
// million goroutines of twenty frames made that most of the time the
// process stood stopped. goFast walks the plain frames with PC, SP, LR and
// FP only, and hands the first frame that is anything else (a top frame,
// a stack switch, an SPWRITE function, a trampoline, code outside a Go
// image, an unreadable slot, a caller whose SP does not grow) to walkFrom,
// in the state walkFrom would have reached it in: both produce the same
// PCs and the same note, which TestGoroutinesOracle (cmd/taiji,
// checkFastWalk) checks on every goroutine of its targets, built by every
// Go release in every binary kind.

// plainFacts say whether the frame at one PC is a plain Go frame, and its
// SP delta. Keyed by link-time PC and whether the PC is looked up as is.
type plainFacts struct {
	pc    uint64
	exact bool
	plain bool
	// top: a TOPFRAME function other than runtime.sigtramp (goexit, a
	// thread's mstart, rt0_go), where the walk ends unless its caller
	// slot holds a signal trampoline (goStep's sigtrampReturn).
	top   bool
	delta int64
}

// plainCache is a direct-mapped cache of plainFacts, as pcCache.
type plainCache [pcCacheSize]atomic.Pointer[plainFacts]

// plain returns the facts of the frame at link-time pc of r's image.
func (u *Unwinder) plain(r *region, pc uint64, exact bool) *plainFacts {
	im := r.img
	s := &im.plains[(pc^pc>>12)%pcCacheSize]
	if e := s.Load(); e != nil && e.pc == pc && e.exact == exact {
		return e
	}
	e := &plainFacts{pc: pc, exact: exact}
	lookup := pc
	if !exact {
		lookup--
	}
	fn, ok := im.goFunc(lookup)
	if ok && fn.TopFrame() && fn.Name != "runtime.sigtramp" {
		f := phys{pc: pc + r.bias, region: r}
		if !u.isSigtramp(&f) {
			e.delta, e.top = im.spDelta(fn, lookup)
		}
	}
	if ok && !fn.TopFrame() && !fn.SPWrite() {
		_, isSwitch := goruntime.SwitchAt(fn.Name)
		// The trampoline test reads the code at the PC itself, as step
		// does before it asks the pclntab.
		f := phys{pc: pc + r.bias, region: r}
		if !isSwitch && !strings.HasPrefix(fn.Name, "runtime.sigreturn") && !u.isSigtramp(&f) {
			e.delta, e.plain = im.spDelta(fn, lookup)
		}
	}
	s.Store(e)
	return e
}

// goFast walks the plain Go frames from regs (exact: regs.PC is looked up
// as is), appending their PCs to pcs, at most limit frames. done is true
// when the walk ended there, as walkFrom would have ended it with no note;
// otherwise cur is the frame walkFrom continues from, its registers as
// walkFrom's steps would have left them.
func (u *Unwinder) goFast(sp *space, regs arch.Regs, exact bool, mem io.ReaderAt, pcs []uint64, limit int) (_ []uint64, cur phys, done bool) {
	a := u.Arch
	ptr := uint64(a.PtrSize)
	pc := regs.PC
	spv, _ := regs.Get(a.SP)
	lr, lrKnown := regs.Get(a.LR)
	fp, fpKnown := regs.Get(a.FP)
	var r *region
	n := 0
	// One buffer for every word read: readPtr's escapes into the reader
	// interface, an allocation per read.
	word := make([]byte, 8)
	read := func(addr uint64) (uint64, error) {
		b := word[:ptr]
		if _, err := mem.ReadAt(b, int64(addr)); err != nil {
			return 0, err
		}
		if ptr == 4 {
			return uint64(a.ByteOrder.Uint32(b)), nil
		}
		return a.ByteOrder.Uint64(b), nil
	}
	bail := func() ([]uint64, phys, bool) {
		regs.PC = pc
		regs.Set(a.SP, spv)
		if fpKnown {
			regs.Set(a.FP, fp)
		}
		return pcs, phys{pc: pc, regs: regs, exact: exact}, false
	}
	for n < limit {
		if r == nil || pc < r.start || pc >= r.end {
			if r = sp.find(pc); r == nil || r.img == nil || r.img.mod == nil {
				return bail()
			}
			if r.img.tables(); r.img.pcln == nil {
				return bail()
			}
		}
		f := u.plain(r, pc-r.bias, exact)
		if !f.plain && !f.top {
			return bail()
		}
		// As goFrame.
		var ra, cfa, newFP uint64
		var err error
		fpRead := false
		if a.GoUsesLR {
			cfa = spv + uint64(f.delta)
			if f.delta == 0 {
				if !lrKnown {
					return bail()
				}
				ra = lr
			} else {
				if ra, err = read(spv); err != nil {
					return bail()
				}
				newFP, err = read(spv - ptr)
				fpRead = err == nil
			}
		} else {
			cfa = spv + uint64(f.delta) + ptr
			if ra, err = read(cfa - ptr); err != nil {
				return bail()
			}
			if f.delta > 0 {
				newFP, err = read(cfa - 2*ptr)
				fpRead = err == nil
			}
		}
		if f.top {
			// The caller slot of a top frame is not a caller, unless it
			// is a signal trampoline in the same module: then walkFrom
			// crosses it (sigtrampReturn).
			if c := (phys{pc: ra, region: r}); ra >= r.start && ra < r.end && u.isSigtramp(&c) {
				return bail()
			}
			return append(pcs, pc), phys{}, true
		}
		if ra == 0 {
			return append(pcs, pc), phys{}, true
		}
		// What walkFrom checks of the caller: it must lie in code (here:
		// in a Go image, or walkFrom decides) and its SP must grow.
		if cfa <= spv {
			return bail()
		}
		if c := sp.find(ra); c == nil || c.img == nil || c.img.pcln == nil {
			return bail()
		}
		pcs = append(pcs, pc)
		n++
		pc, spv, exact = ra, cfa, false
		if fpRead {
			fp, fpKnown = newFP, true
		}
	}
	return pcs, phys{}, true
}
