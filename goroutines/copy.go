package goroutines

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/target"
)

// rawG is what Copy keeps of one runtime.g: the fields the listing needs,
// decoded while the process is frozen (the g itself is not kept).
type rawG struct {
	g                  uint64
	goid, parent       uint64
	status             uint32
	scan               bool
	waitreason         uint8
	waitsince          int64
	lo, hi             uint64
	sp, pc, lr, bp     uint64 // where the walk starts: g.sched, or the system call's
	gopc, startpc      uint64
	lockedm, m, procid uint64
	walk               int32 // index of its walk in Reader.walks, -1 if none (walkStacks)
}

// maxGoroutines bounds allgs's length: more is a misread, not a program.
const maxGoroutines = 1 << 27

// The g structures are read in runs: the heap keeps them side by side
// (a span of one size class), so neighbours less than gGap apart are read
// as one range of at most gRun bytes. Each range costs the kernel a page
// walk; a million ranges would keep the process frozen for a second.
const (
	gGap        = 2 << 10
	gRun        = 1 << 20
	gBatchBytes = 4 << 20 // read per batch of runs
)

// readGs reads the gSize bytes of the g at each address from mem and
// decodes them, in allgs order.
func readGs(mem io.ReaderAt, addrs []uint64, gSize uint64, decode func(addr uint64, b []byte) rawG) ([]rawG, error) {
	order := make([]int, len(addrs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return addrs[order[i]] < addrs[order[j]] })
	// Runs of neighbouring gs, each one segment.
	type run struct{ first, last int } // indexes into order
	var runs []run
	var segs []target.Segment
	for k, i := range order {
		a := addrs[i]
		if a == 0 {
			return nil, fmt.Errorf("%w: runtime.allgs holds a nil g", ErrBadLayout)
		}
		if n := len(runs); n > 0 {
			start := addrs[order[runs[n-1].first]]
			end := addrs[order[runs[n-1].last]] + gSize
			if a <= end+gGap && a+gSize-start <= gRun {
				runs[n-1].last = k
				continue
			}
		}
		runs = append(runs, run{k, k})
	}
	// The runs are read a batch at a time into one reused buffer: the
	// copies live only until their gs are decoded.
	raw := make([]rawG, len(addrs))
	buf := make([]byte, gBatchBytes)
	for first := 0; first < len(runs); {
		segs = segs[:0]
		free := buf
		last := first
		for ; last < len(runs); last++ {
			r := runs[last]
			start := addrs[order[r.first]]
			n := addrs[order[r.last]] + gSize - start
			if n > uint64(len(free)) {
				if last > first {
					break
				}
				free = make([]byte, n) // one run larger than the buffer
			}
			segs = append(segs, target.Segment{Addr: start, Data: free[:n:n]})
			free = free[n:]
		}
		target.ReadBatch(mem, segs)
		for ri, r := range runs[first:last] {
			sg := segs[ri]
			for k := r.first; k <= r.last; k++ {
				i := order[k]
				off := addrs[i] - sg.Addr
				if off+gSize > uint64(len(sg.Data)) {
					return nil, fmt.Errorf("%w: cannot read the g at %#x listed in runtime.allgs", ErrBadLayout, addrs[i])
				}
				raw[i] = decode(addrs[i], sg.Data[off:off+gSize])
			}
		}
		first = last
	}
	return raw, nil
}

// copyGs reads allgs and every g, then the stacks, from s's stopped
// process.
func (r *Reader) copyGs(s *target.Snapshot) ([]rawG, error) {
	a := s.Arch
	l := r.prog.Layout
	mem := s.Memory()
	live := s.Live
	if live == nil {
		live = mem
	}
	ptr := uint64(a.PtrSize)
	word := func(b []byte) uint64 {
		if ptr == 4 {
			return uint64(a.ByteOrder.Uint32(b))
		}
		return a.ByteOrder.Uint64(b)
	}
	hdr := make([]byte, 3*ptr)
	if _, err := mem.ReadAt(hdr, int64(r.vars.Allgs+r.prog.Bias)); err != nil {
		return nil, fmt.Errorf("reading runtime.allgs at %#x: %v", r.vars.Allgs+r.prog.Bias, err)
	}
	base, n, c := word(hdr), word(hdr[ptr:]), word(hdr[2*ptr:])
	if n == 0 || n > c || c > maxGoroutines || base == 0 {
		return nil, fmt.Errorf("%w: runtime.allgs at %#x reads as {ptr %#x, len %d, cap %d}", ErrBadLayout, r.vars.Allgs+r.prog.Bias, base, n, c)
	}
	arr := make([]byte, n*ptr)
	if _, err := mem.ReadAt(arr, int64(base)); err != nil {
		return nil, fmt.Errorf("reading the %d entries of runtime.allgs at %#x: %v", n, base, err)
	}
	gSize := gSpan(l)
	addrs := make([]uint64, n)
	for j := range addrs {
		addrs[j] = word(arr[uint64(j)*ptr:])
	}
	raw, err := readGs(live, addrs, gSize, func(addr uint64, b []byte) rawG { return decodeG(addr, b, l, a.ByteOrder, word) })
	if err != nil {
		return nil, err
	}
	if err := validate(raw); err != nil {
		return nil, err
	}
	// The threads of goroutines in a system call or running.
	for i := range raw {
		if raw[i].m != 0 && l.M.Procid.Known() {
			var b [8]byte
			if _, err := mem.ReadAt(b[:], int64(raw[i].m+uint64(l.M.Procid))); err == nil {
				raw[i].procid = a.ByteOrder.Uint64(b[:])
			}
		}
	}
	r.walkStacks(s, live, raw)
	return raw, nil
}

// stackBatch bounds the stack bytes copied per round of walkStacks.
const stackBatch = 4 << 20

// walk is one distinct result of walking a goroutine's stack.
type walk struct {
	pcs  []uint64
	note string
}

// stackRound is one round of walkStacks: stacks copied, and the index in
// raw of the goroutine each belongs to.
type stackRound struct {
	segs []target.Segment
	idx  []int
}

// walkStacks copies the stacks of the goroutines that are not running, a
// round at a time (at most stackBatch bytes, each stack from its saved SP
// up, at most StackBytes, in as few system calls as the kernel allows),
// and walks each from its copy, keeping only the PCs found, interned in
// r.walks. While the copies fit in Options.StackBudget the rounds are kept
// and walked by Read, after the process runs again: the process is
// stopped only for the copy. Past the budget, each round is walked at once,
// while the process is still stopped, and its buffer reused: a million
// goroutines' stacks never sit in taiji's memory at once.
func (r *Reader) walkStacks(s *target.Snapshot, live io.ReaderAt, raw []rawG) {
	limit := uint64(r.opts.StackBytes)
	base := s.Memory()
	budget := r.opts.StackBudget
	if budget == 0 {
		budget = min(DefaultStackBudget, StackBudgetPerG*len(raw))
	}
	var buf []byte
	kept := 0
	// Stacks deeper than the copy are walked while the process is still
	// stopped: their rest is read from it then, not after it moved on.
	var deep stackRound
	defer func() {
		if r.cancelled() {
			return
		}
		target.ReadBatch(live, deep.segs)
		r.walkRound(s, base, raw, deep)
	}()
	for i := 0; i < len(raw) && !r.cancelled(); {
		if buf == nil {
			buf = make([]byte, stackBatch)
		}
		var round stackRound
		free := buf
		for ; i < len(raw); i++ {
			rg := &raw[i]
			rg.walk = -1
			n := stackLen(rg, limit)
			if n == 0 || rg.status == goruntime.StatusRunning || rg.pc == 0 {
				continue
			}
			if rg.hi-rg.sp > n {
				deep.segs = append(deep.segs, target.Segment{Addr: rg.sp, Data: make([]byte, n)})
				deep.idx = append(deep.idx, i)
				continue
			}
			if n > uint64(len(free)) {
				break
			}
			round.segs = append(round.segs, target.Segment{Addr: rg.sp, Data: free[:n:n]})
			round.idx = append(round.idx, i)
			free = free[n:]
		}
		target.ReadBatch(live, round.segs)
		if kept+len(buf) <= budget {
			kept += len(buf)
			r.rounds = append(r.rounds, round)
			buf = nil // kept: the next round needs its own
			continue
		}
		r.walkRound(s, base, raw, round)
	}
}

// cancelled reports whether Options.Context is done: the freeze is being
// interrupted, and what is left of the walk is not worth keeping it for.
func (r *Reader) cancelled() bool {
	return r.opts.Context != nil && r.opts.Context.Err() != nil
}

// walkRound walks the stacks of one round, each from its copy, then from
// base (the snapshot's memory, or the stopped process).
func (r *Reader) walkRound(s *target.Snapshot, base io.ReaderAt, raw []rawG, round stackRound) {
	a := s.Arch
	if r.walkIndex == nil {
		r.walkIndex = map[string]int32{}
	}
	for k, sg := range round.segs {
		rg := &raw[round.idx[k]]
		var regs arch.Regs
		regs.PC = rg.pc
		regs.Set(a.SP, rg.sp)
		if rg.lr != 0 {
			regs.Set(a.LR, rg.lr)
		}
		if rg.bp != 0 {
			regs.Set(a.FP, rg.bp)
		}
		mem := &stackReader{seg: sg, base: base}
		var note string
		r.pcs, note = r.u.GoroutinePCs(s, mem, rg.g, regs, r.pcs[:0])
		r.key = pcKey(r.key[:0], r.pcs, note)
		w, ok := r.walkIndex[string(r.key)]
		if !ok {
			w = int32(len(r.walks))
			r.walkIndex[string(r.key)] = w
			r.walks = append(r.walks, walk{pcs: slices.Clone(r.pcs), note: note})
		}
		rg.walk = w
	}
}

// stackReader is target.NewSegmentReader([]target.Segment{seg}, base) for
// the word-sized reads of a walk, without its allocations (one reader per
// goroutine was a tenth of the garbage of listing a million).
type stackReader struct {
	seg  target.Segment
	base io.ReaderAt
}

func (m *stackReader) ReadAt(p []byte, off int64) (int, error) {
	a, sg, n := uint64(off), m.seg, uint64(len(p))
	switch {
	case a >= sg.Addr && a < sg.End() && n <= sg.End()-a:
		return copy(p, sg.Data[a-sg.Addr:]), nil
	case a >= sg.End() || a+n <= sg.Addr:
		return m.base.ReadAt(p, off)
	}
	return target.NewSegmentReader([]target.Segment{sg}, m.base).ReadAt(p, off)
}

// pcKey appends to b a map key for a walk's result (converted to a string
// only when a new walk is stored).
func pcKey(b []byte, pcs []uint64, note string) []byte {
	for _, pc := range pcs {
		b = binary.LittleEndian.AppendUint64(b, pc)
	}
	return append(b, note...)
}

// stackLen is how much of rg's stack to copy: from its saved SP to the
// stack's top, at most limit; 0 for dead goroutines and SPs outside the
// stack.
func stackLen(rg *rawG, limit uint64) uint64 {
	if rg.status == goruntime.StatusDead || rg.status == goruntime.StatusDeadExtra || rg.sp < rg.lo || rg.sp >= rg.hi {
		return 0
	}
	return min(rg.hi-rg.sp, limit)
}

// gSpan is how many bytes of a g hold every field decodeG reads.
func gSpan(l *goruntime.Layout) uint64 {
	end := goruntime.Off(0)
	for _, o := range []goruntime.Off{l.G.StackLo, l.G.StackHi, l.G.M, l.SchedSP(), l.SchedPC(), l.SchedLR(), l.SchedBP(),
		l.G.Syscallsp, l.G.Syscallpc, l.G.Atomicstatus, l.G.Goid, l.G.Waitsince, l.G.Waitreason, l.G.Lockedm,
		l.G.ParentGoid, l.G.Gopc, l.G.Startpc} {
		end = max(end, o)
	}
	return uint64(end) + 8
}

// decodeG takes the fields of the g at addr from its bytes b.
func decodeG(addr uint64, b []byte, l *goruntime.Layout, order binary.ByteOrder, word func([]byte) uint64) rawG {
	w := func(o goruntime.Off) uint64 {
		if !o.Known() {
			return 0
		}
		return word(b[o:])
	}
	u64 := func(o goruntime.Off) uint64 {
		if !o.Known() {
			return 0
		}
		return order.Uint64(b[o:])
	}
	st := uint32(0)
	if l.G.Atomicstatus.Known() {
		st = order.Uint32(b[l.G.Atomicstatus:])
	}
	rg := rawG{
		g: addr, goid: u64(l.G.Goid), parent: u64(l.G.ParentGoid),
		status: st &^ goruntime.StatusScan, scan: st&goruntime.StatusScan != 0,
		waitsince: int64(u64(l.G.Waitsince)),
		lo:        w(l.G.StackLo), hi: w(l.G.StackHi),
		sp: w(l.SchedSP()), pc: w(l.SchedPC()), lr: w(l.SchedLR()), bp: w(l.SchedBP()),
		gopc: w(l.G.Gopc), startpc: w(l.G.Startpc), lockedm: w(l.G.Lockedm), m: w(l.G.M),
	}
	if l.G.Waitreason.Known() {
		rg.waitreason = b[l.G.Waitreason]
	}
	// As Go's traceback: a goroutine in a system call (or a cgo call)
	// resumes from where it entered it; its g.sched is stale.
	if sp := w(l.G.Syscallsp); sp != 0 {
		rg.sp, rg.pc, rg.lr = sp, w(l.G.Syscallpc), 0
	}
	return rg
}

// validate refuses what a wrong layout would produce: statuses outside the
// runtime's range, stacks that are not stacks, one goid twice. A few odd
// gs are tolerated (a g being set up while the process was frozen).
func validate(raw []rawG) error {
	bad, why := 0, ""
	seen := make(map[uint64]struct{}, len(raw))
	for i := range raw {
		rg := &raw[i]
		if rg.status > goruntime.StatusDeadExtra {
			bad, why = bad+1, fmt.Sprintf("status %#x", rg.status)
			continue
		}
		if rg.status == goruntime.StatusDead || rg.status == goruntime.StatusIdle || rg.status == goruntime.StatusDeadExtra {
			continue
		}
		if rg.lo >= rg.hi || rg.hi-rg.lo > 1<<30 {
			bad, why = bad+1, fmt.Sprintf("stack [%#x, %#x)", rg.lo, rg.hi)
			continue
		}
		if _, dup := seen[rg.goid]; dup {
			bad, why = bad+1, fmt.Sprintf("goid %d twice", rg.goid)
			continue
		}
		seen[rg.goid] = struct{}{}
	}
	if bad > max(2, len(raw)/100) {
		return fmt.Errorf("%w: %d of %d g's read are impossible (e.g. %s)", ErrBadLayout, bad, len(raw), why)
	}
	return nil
}
