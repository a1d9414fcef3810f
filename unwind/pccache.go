package unwind

import (
	"sync/atomic"

	"github.com/taijidbg/taiji/pclntab"
)

// pcFacts are what a walk asks of a Go binary at one PC: the function
// containing it and the SP delta there (pclntab), computed once. Walking a
// million goroutines asks the same few dozen PCs millions of times; a
// pclntab lookup and pcsp decode each time was most of the walk.
type pcFacts struct {
	pc      uint64 // link-time lookup PC
	fn      *pclntab.Func
	delta   int64
	deltaOK bool
}

// pcCacheSize is the number of slots of an image's PC cache: direct-mapped
// by PC, a fixed 32 KiB per Go image however many PCs are walked.
const pcCacheSize = 4096

// pcCache maps PCs to their pcFacts, lock-free: a slot holds an immutable
// entry, replaced whole.
type pcCache [pcCacheSize]atomic.Pointer[pcFacts]

func (c *pcCache) slot(pc uint64) *atomic.Pointer[pcFacts] {
	return &c[(pc^pc>>12)%pcCacheSize]
}

// goFunc is pclntab.Table.Lookup of im's table, cached.
func (im *image) goFunc(pc uint64) (*pclntab.Func, bool) {
	s := im.pcs.slot(pc)
	if e := s.Load(); e != nil && e.pc == pc {
		return e.fn, e.fn != nil
	}
	fn, ok := im.pcln.Lookup(pc)
	if !ok {
		fn = nil
	}
	s.Store(&pcFacts{pc: pc, fn: fn})
	return fn, ok
}

// spDelta is pclntab.Table.SPDelta of im's table, cached.
func (im *image) spDelta(fn *pclntab.Func, pc uint64) (int64, bool) {
	s := im.pcs.slot(pc)
	e := s.Load()
	if e != nil && e.pc == pc && e.fn == fn && e.deltaOK {
		return e.delta, true
	}
	d, ok := im.pcln.SPDelta(fn, pc)
	if ok {
		s.Store(&pcFacts{pc: pc, fn: fn, delta: d, deltaOK: true})
	}
	return d, ok
}
