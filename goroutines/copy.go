package goroutines

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"

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
}

// maxGoroutines bounds allgs's length: more is a misread, not a program.
const maxGoroutines = 1 << 27

// The g structures are read in runs: the heap keeps them side by side
// (a span of one size class), so neighbours less than gGap apart are read
// as one range of at most gRun bytes. Each range costs the kernel a page
// walk; a million ranges would keep the process frozen for a second.
const (
	gGap = 2 << 10
	gRun = 1 << 20
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
	total := uint64(0)
	for _, r := range runs {
		start := addrs[order[r.first]]
		n := addrs[order[r.last]] + gSize - start
		segs = append(segs, target.Segment{Addr: start, Data: make([]byte, n)})
		total += n
	}
	target.ReadBatch(mem, segs)
	raw := make([]rawG, len(addrs))
	for ri, r := range runs {
		sg := segs[ri]
		for k := r.first; k <= r.last; k++ {
			i := order[k]
			off := addrs[i] - sg.Addr
			if off+gSize > uint64(len(sg.Data)) {
				return nil, fmt.Errorf("%w: cannot read the g at %#x listed in runtime.allgs", ErrBadLayout, addrs[i])
			}
			raw[i] = decode(addrs[i], sg.Data[off:off+gSize])
		}
		segs[ri].Data = nil // done with it: let it go before the stacks are read
	}
	return raw, nil
}

// copyGs reads allgs and every g, then the stacks, from s's stopped
// process.
func (r *Reader) copyGs(s *target.Snapshot) ([]rawG, []target.Segment, error) {
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
		return nil, nil, fmt.Errorf("reading runtime.allgs at %#x: %v", r.vars.Allgs+r.prog.Bias, err)
	}
	base, n, c := word(hdr), word(hdr[ptr:]), word(hdr[2*ptr:])
	if n == 0 || n > c || c > maxGoroutines || base == 0 {
		return nil, nil, fmt.Errorf("%w: runtime.allgs at %#x reads as {ptr %#x, len %d, cap %d}", ErrBadLayout, r.vars.Allgs+r.prog.Bias, base, n, c)
	}
	arr := make([]byte, n*ptr)
	if _, err := mem.ReadAt(arr, int64(base)); err != nil {
		return nil, nil, fmt.Errorf("reading the %d entries of runtime.allgs at %#x: %v", n, base, err)
	}
	gSize := gSpan(l)
	addrs := make([]uint64, n)
	for j := range addrs {
		addrs[j] = word(arr[uint64(j)*ptr:])
	}
	raw, err := readGs(live, addrs, gSize, func(addr uint64, b []byte) rawG { return decodeG(addr, b, l, a.ByteOrder, word) })
	if err != nil {
		return nil, nil, err
	}
	if err := validate(raw); err != nil {
		return nil, nil, err
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
	return raw, r.copyStacks(live, raw), nil
}

// copyStacks reads each live goroutine's stack from its saved SP up, at
// most StackBytes, into one arena.
func (r *Reader) copyStacks(live interface {
	ReadAt([]byte, int64) (int, error)
}, raw []rawG) []target.Segment {
	limit := uint64(r.opts.StackBytes)
	total := uint64(0)
	for i := range raw {
		if n := stackLen(&raw[i], limit); n > 0 {
			total += n
		}
	}
	arena := make([]byte, total)
	segs := make([]target.Segment, 0, len(raw))
	off := uint64(0)
	for i := range raw {
		n := stackLen(&raw[i], limit)
		if n == 0 {
			continue
		}
		segs = append(segs, target.Segment{Addr: raw[i].sp, Data: arena[off : off+n : off+n]})
		off += n
	}
	target.ReadBatch(live, segs)
	return segs
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
