package unwind

import (
	"debug/dwarf"
	"io"
	"reflect"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/target"
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
	// parked is set when the walk is of a goroutine no thread runs, from
	// its saved state (GoroutinePCs): the M of a goroutine parked inside
	// a cgo callback is not its own any more, so the callback's frame is
	// stepped by its SP delta to the Go code that called C, as Go's
	// traceback does, rather than into the C frames on some M's g0.
	parked bool
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
// found once. Unlike goruntime.ForBinary it takes an exact generated table
// before DWARF: CopyGoState needs it while the target is stopped, and
// scanning a large binary's DWARF would lengthen that stop; the table was
// read from the DWARF of the same release. DWARF serves releases outside
// the tables, then the neighbouring releases' agreement.
func (im *image) goLayout(a *arch.Arch) (*goruntime.Layout, error) {
	im.rtOnce.Do(func() {
		v := goruntime.GoVersion(im.mod.File)
		im.goVer = v
		if l, err := goruntime.ForRelease(v, a.PtrSize); err == nil && l.Source == goruntime.FromTable {
			im.rt = l
			return
		}
		var d *dwarf.Data
		if dd, err := im.mod.DWARF(); err == nil {
			d = dd
		}
		im.rt, im.rtErr = goruntime.ForBinary(d, v, a.PtrSize)
	})
	return im.rt, im.rtErr
}

// CopyGoState is a proc.FreezeOptions.Copy (it reads s.Memory() only): while the threads are stopped,
// it keeps what the unwinder reads to cross a Go stack switch, which the
// threads change as soon as they run again (a goroutine that finished
// growing its stack has moved it and cleared its g.sched). For each thread
// running Go code whose g is known: its g, m, and the m's g0, curg and
// gsignal structures, and the stacks of curg and g0 from their saved SP
// up (to stack.hi, at most target.DefaultStackBytes): the goroutine a
// system-stack frame returns to, the C frames a cgo callback came from.
func (u *Unwinder) CopyGoState(s *target.Snapshot) []target.Segment {
	goImg := u.goExe(s)
	if goImg == nil {
		return nil
	}
	mem := s.Memory()
	var out []target.Segment
	seen := map[uint64]bool{}
	keep := func(addr, n uint64) {
		if addr == 0 || n == 0 || seen[addr] {
			return
		}
		seen[addr] = true
		buf := make([]byte, n)
		if k, _ := mem.ReadAt(buf, int64(addr)); k > 0 {
			out = append(out, target.Segment{Addr: addr, Data: buf[:k]})
		}
	}
	for _, t := range s.Threads {
		gw := &gwalk{regs: t.Regs}
		st := gw.state(u, goImg, mem)
		if st == nil {
			// A thread in the vDSO may hold scratch in its g register.
			if regs, ok := u.vdsoCallerRegs(s, t.Regs, mem); ok {
				gw = &gwalk{regs: regs}
				st = gw.state(u, goImg, mem)
			}
		}
		if st == nil {
			continue
		}
		l := st.layout
		gSize, mSize := span(l.G, l.SchedSP(), l.SchedPC(), l.SchedLR(), l.SchedBP()), span(l.M)
		for _, g := range []uint64{st.g, st.g0, st.curg, st.gsignal} {
			keep(g, gSize)
		}
		keep(st.m, mSize)
		for _, g := range []uint64{st.curg, st.g0} {
			if g == 0 || g == st.g || !l.G.StackHi.Known() {
				continue
			}
			lo, err1 := u.readPtr(mem, g+uint64(l.SchedSP()))
			hi, err2 := u.readPtr(mem, g+uint64(l.G.StackHi))
			if err1 != nil || err2 != nil || lo == 0 || hi <= lo {
				continue
			}
			keep(lo, min(hi-lo, target.DefaultStackBytes))
		}
		// A vDSO call's caller: the goroutine's stack from m.vdsoSP up
		// (its g.sched is stale: the call did not save it).
		if sp, _, ok := u.vdsoCaller(mem, st); ok {
			if _, hi, ok := u.stackBounds(mem, st.g, l); ok {
				keep(sp, min(hi-sp, target.DefaultStackBytes))
			}
		}
	}
	return out
}

// vdsoCallerRegs returns the registers of the caller of the vDSO function a
// thread stands in (regs), as the vDSO's CFI restores them: C code may use
// the g register, callee-saved, as scratch. ok is false when regs.PC is not
// in the vDSO or PrepareGo did not load its image.
func (u *Unwinder) vdsoCallerRegs(s *target.Snapshot, regs arch.Regs, mem io.ReaderAt) (arch.Regs, bool) {
	m := target.Find(s.Maps, regs.PC)
	if m == nil || m.Path != vdsoName {
		return regs, false
	}
	im := u.vdsoImage(s, m)
	if im == nil {
		return regs, false
	}
	im.tables()
	b, ok := im.mod.Bias(m.Start, 0)
	if !ok || im.eh == nil {
		return regs, false
	}
	row, err := im.eh.Lookup(regs.PC - b)
	if err != nil {
		return regs, false
	}
	caller, _, err := row.Step(&regs, mem, u.Arch)
	return caller, err == nil
}

// vdsoImage returns the image of s's vDSO mapping m, the one the walk uses
// (Unwinder.space), opened from s.VDSO or else read from s's memory, once
// per Unwinder (PrepareGo does it before the threads stop). nil if neither
// has it.
func (u *Unwinder) vdsoImage(s *target.Snapshot, m *target.Mapping) *image {
	key := vdsoName + "@" + s.Exe
	u.mu.Lock()
	im := u.images[key]
	u.mu.Unlock()
	if im == nil {
		data := s.VDSO
		if data == nil {
			buf := make([]byte, m.End-m.Start)
			if n, err := s.Memory().ReadAt(buf, int64(m.Start)); err == nil && n == len(buf) {
				data = buf
			}
		}
		if data == nil {
			return nil
		}
		im = u.image(key, func() (*module.Module, error) { return module.FromBytes(vdsoName, data, u.Options) })
	}
	if im.mod == nil {
		return nil
	}
	return im
}

// goExe returns the image of s's executable if it is a Go program, with
// its runtime layout looked up, else nil. The executable's runtime is the
// one that schedules the threads (Go in a shared library, c-shared or
// plugin, is not followed here). Only its layout is needed, not its unwind
// tables, and nothing else is opened.
func (u *Unwinder) goExe(s *target.Snapshot) *image {
	for _, m := range s.Maps {
		if m.Path == s.Exe && strings.Contains(m.Perm, "x") {
			if im := u.fileImage(s, m); im.mod != nil && im.mod.File.Section(".go.buildinfo") != nil {
				im.goLayout(u.Arch)
				return im
			}
			return nil
		}
	}
	return nil
}

// PrepareGo is a proc.FreezeOptions.Prepare: it opens the executable of
// s (its Exe, Maps and Files are used) and looks up its Go runtime layout
// before the process is stopped, so that CopyGoState, which runs while
// every thread is stopped, finds both cached and only reads memory. Errors
// are ignored (it returns nil): CopyGoState then does without, or tries
// again.
func (u *Unwinder) PrepareGo(s *target.Snapshot) error {
	if u.goExe(s) == nil {
		return nil
	}
	// The vDSO's unwind tables, for a thread stopped inside it.
	for i, m := range s.Maps {
		if m.Path == vdsoName {
			u.vdsoImage(s, &s.Maps[i])
		}
	}
	return nil
}

// span returns the bytes from a structure's start to the end of the last
// known pointer-sized field among the offsets in v (structs of Offs) and
// extra: enough to copy every field the unwinder reads.
func span(v any, extra ...goruntime.Off) uint64 {
	end := goruntime.Off(0)
	rv := reflect.ValueOf(v)
	for i := 0; i < rv.NumField(); i++ {
		end = max(end, goruntime.Off(rv.Field(i).Int()))
	}
	for _, o := range extra {
		end = max(end, o)
	}
	return uint64(end) + 8
}
