package eval

import (
	"fmt"

	"github.com/taijidbg/taiji/cfi"
)

// cfa returns the scope's CFA: Scope.CFA when the caller gave it, else
// the one the module's CFI (.eh_frame, then .debug_frame) computes from
// the frame's registers, which is right for frame 0 and for any frame
// whose registers the unwinder recovered.
func (sc *Scope) cfa() (uint64, error) {
	if sc.CFA != 0 {
		return sc.CFA, nil
	}
	if sc.Module == nil {
		return 0, fmt.Errorf("the frame's CFA is unknown (no module at %#x)", sc.PC)
	}
	in := moduleInfo(sc.Module, int64(sc.Arch.PtrSize))
	in.cfiOnce.Do(func() {
		m := sc.Module
		if data, addr, ok := m.Section(".eh_frame"); ok {
			hdr, hdrAddr, _ := m.Section(".eh_frame_hdr")
			in.eh, _ = cfi.ParseEHFrame(data, addr, hdr, hdrAddr, sc.Arch)
		}
		if data, _, ok := m.Section(".debug_frame"); ok {
			in.dbgFrame, _ = cfi.ParseDebugFrame(data, sc.Arch)
		}
	})
	pc := sc.PC - sc.Bias
	for _, t := range []*cfi.Table{in.eh, in.dbgFrame} {
		if t == nil {
			continue
		}
		row, err := t.Lookup(pc)
		if err != nil || row == nil {
			continue
		}
		// CFI works on file addresses: rebase the registers' PC.
		regs := sc.Regs
		regs.PC = pc
		cfa, err := row.ComputeCFA(&regs, memReader{sc.Mem}, sc.Arch)
		if err == nil {
			sc.CFA = cfa
			return cfa, nil
		}
	}
	return 0, fmt.Errorf("the frame's CFA is unknown (no CFI for %#x)", sc.PC)
}
