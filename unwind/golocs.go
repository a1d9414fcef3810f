package unwind

import (
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/pclntab"
)

// goLocations names a Go frame from the pclntab alone, which stripped Go
// binaries keep: the inline tree and file:line come from the same table the
// runtime uses for its own tracebacks.
func goLocations(t *pclntab.Table, _ *pclntab.Func, addr uint64, _ bool) []module.Location {
	locs := t.Frames(addr)
	out := make([]module.Location, len(locs))
	for i, l := range locs {
		out[i] = module.Location{Function: l.Function, File: l.File, Line: l.Line, Inline: l.Inline}
	}
	return out
}
