package unwind

import "github.com/taijidbg/taiji/target"

// Symbolize names a stack captured elsewhere (by an eBPF program at a probe,
// for instance): user PCs of one thread of s.Pid, innermost first, the first
// where the thread stands and the others return addresses. Frames come out
// as Process makes them, inline frames expanded. Only s.Pid, s.Maps and,
// where present, s.VDSO are used; the address space built from them is
// kept for the next call with the same snapshot, so naming many stacks of
// one process costs a lookup per PC.
func (u *Unwinder) Symbolize(s *target.Snapshot, pcs []uint64, noSource bool) []Frame {
	sp := u.spaceOf(s)
	var out []Frame
	for i, pc := range pcs {
		f := phys{pc: pc, exact: i == 0, region: sp.find(pc), method: "fp"}
		if f.region != nil && f.region.img != nil && f.region.img.mod != nil {
			f.region.img.tables() // the pclntab names Go frames
		}
		out = append(out, u.name(&f, noSource)...)
	}
	return out
}

// Covers reports whether every PC lies in an executable mapping of s: when
// not, a library was loaded since s was read and s should be read again.
func Covers(s *target.Snapshot, pcs []uint64) bool {
	for _, pc := range pcs {
		if m := target.Find(s.Maps, pc); m == nil || !m.Exec() {
			return false
		}
	}
	return true
}

// moduleNotes returns what the modules of sp found wrong since last asked
// (a separate debug file rejected for its CRC or build ID, a missing .dwo,
// corrupt DWARF), each once per Unwinder: without them a backtrace that
// lacks file:line would not say why.
func (u *Unwinder) moduleNotes(sp *space) []string {
	var notes []string
	for i := range sp.regions {
		im := sp.regions[i].img
		if im == nil || im.mod == nil {
			continue
		}
		ws := im.mod.Warnings()
		if im.warned < len(ws) {
			notes = append(notes, ws[im.warned:]...)
			im.warned = len(ws)
		}
	}
	return notes
}
