package trace

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/goabi"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/internal/errs"
)

// Options configure a Tracer.
type Options struct {
	Pid      int  // trace only this process (0: every process running the binary)
	MaxBytes int  // string and []byte contents captured per value (default 64)
	Quiet    bool // aggregate in the kernel only: no per-call events
	Stack    bool // capture the user and kernel stacks at each entry
	// Single forces one uprobe per site instead of one uprobe_multi link.
	Single bool
	// Bare attaches, at the same sites, a program that only counts hits
	// (BareHits) instead of the tracing program: the cost of a probe that
	// does nothing, the baseline scripts/bench-trace compares with.
	Bare bool
}

// Errors callers test with errors.Is.
var (
	ErrNotRoot = errors.New("tracing needs root (or CAP_BPF and CAP_PERFMON)")
	// ErrUnsupported wraps errors.ErrUnsupported, which matches every
	// taiji package's "not supported" error; errors from cilium/ebpf that
	// say "not supported" (ebpf.ErrNotSupported) stay in the chain too.
	ErrUnsupported = errs.Unsupported("this kernel cannot trace user functions with eBPF (needs uprobes, BPF ring buffer and BPF attach cookies: Linux 5.15+)")
)

// Tracer holds the loaded eBPF objects and the attached probes.
type Tracer struct {
	bin    *Binary
	funcs  []*Func
	opts   Options
	objs   bpfObjects
	links  []link.Link
	rd     *ringbuf.Reader
	plans  []*sitePlan
	biases *biases   // the binary's load bias in each traced process
	mono   time.Time // wall clock at CLOCK_MONOTONIC zero
	mu     sync.Mutex
	closed bool
	sym    symbolizer
	// Multi reports whether the sites were attached with uprobe_multi.
	Multi bool
	// Notes say, once, what the tracer cannot show for this binary (one
	// sentence each), for the caller to print.
	Notes []string
}

// EventKind says whether an Event is a call or a return. The values are
// the "event" field of `taiji trace --json` (docs/json.md).
type EventKind string

const (
	Call   EventKind = "call"
	Return EventKind = "return"
)

// Event is one decoded call or return.
type Event struct {
	Kind      EventKind
	Time      time.Time
	Pid, Tid  int
	Goroutine uint64 // 0 for C functions
	Func      *Func
	Values    []Arg // arguments (call) or results (return)
	Duration  time.Duration
	Unmatched bool     // a return whose entry was not seen
	Stack     []uint64 // user stack PCs at a call (--stack), innermost first
	KStack    []uint64 // kernel stack at the probe (--stack): the trap path
}

// Arg is one decoded argument or result.
type Arg struct {
	Name  string
	Type  string
	Value any
}

// CheckArch reports, as one line, whether taiji can trace programs of
// architecture a: it needs the arch's Go ABI and pt_regs data (arch/), a
// disassembler for its RET sites (disasm/) and a compiled eBPF program.
func CheckArch(a *arch.Arch) error {
	var supported []string
	for _, n := range arch.Names() {
		b, _ := arch.ByName(n)
		if len(b.GoIntArgs) > 0 && len(b.PtRegs) > 0 && disasm.Supports(b) && b.UprobesUnsafe == "" {
			supported = append(supported, n)
		}
	}
	if a.UprobesUnsafe != "" {
		return fmt.Errorf("trace does not support %s: %s", a.Name, a.UprobesUnsafe)
	}
	if !slices.Contains(supported, a.Name) {
		return fmt.Errorf("trace does not support %s yet (it does %s)", a.Name, strings.Join(supported, ", "))
	}
	if _, err := loadBpf(); err != nil {
		return err
	}
	return nil
}

// CheckKernel reports, as one line, what the kernel whose sysfs is at sys
// lacks for tracing: uprobe support (CONFIG_UPROBE_EVENTS), and, when
// stack is set (--stack), BTF: the program reads the current task's kernel
// stack through bpf_get_current_task_btf. Without --stack the verifier
// never reaches that call (want_kstack is a constant of the frozen
// .rodata), so kernels without BTF (Debian's ppc64el and s390x 6.1) trace.
func CheckKernel(sys string, stack bool) error {
	if _, err := os.Stat(sys + "/kernel/btf/vmlinux"); err != nil && stack {
		return fmt.Errorf("%w: --stack needs kernel BTF, and %s/kernel/btf/vmlinux is missing: the kernel was built without BTF (CONFIG_DEBUG_INFO_BTF); trace without --stack", ErrUnsupported, sys)
	}
	if _, err := os.Stat(sys + "/bus/event_source/devices/uprobe"); err != nil {
		return fmt.Errorf("%w: %s/bus/event_source/devices/uprobe is missing: the kernel was built without uprobes (CONFIG_UPROBE_EVENTS)", ErrUnsupported, sys)
	}
	return nil
}

// Start loads the BPF program and attaches probes at the entry and every
// RET of funcs.
func Start(b *Binary, funcs []*Func, opts Options) (t *Tracer, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64
	}
	if opts.MaxBytes > itemMax {
		opts.MaxBytes = itemMax
	}
	if len(funcs) > 512 {
		return nil, fmt.Errorf("%d functions match; taiji traces at most 512 at once", len(funcs))
	}
	if err := CheckKernel("/sys", opts.Stack); err != nil {
		return nil, err
	}
	_ = rlimit.RemoveMemlock()
	t = &Tracer{bin: b, funcs: funcs, opts: opts, biases: newBiases(b)}
	tr := t
	defer func() {
		if err != nil {
			tr.Close() // detach what was attached
		}
	}()
	if opts.Pid != 0 {
		if _, err = t.biases.learn(opts.Pid); err != nil {
			return nil, err
		}
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, err
	}
	a := b.Arch
	gOff := int32(-1)
	if off, ok := a.PtRegs[a.GoG]; ok && b.IsGo() {
		gOff = int32(off)
	}
	// Goroutine ids need g.goid's offset. Without it the probes still
	// pair calls by g (its address): only the ids are missing, and the
	// tracer says so once.
	var goid uint64
	if b.IsGo() {
		l, lerr := b.RuntimeLayout()
		switch {
		case lerr != nil:
			t.Notes = append(t.Notes, fmt.Sprintf("goroutine ids are not shown (0): %v", lerr))
		case !l.G.Goid.Known():
			t.Notes = append(t.Notes, fmt.Sprintf("goroutine ids are not shown (0): %s has no DWARF, and the offset of g.goid in %s is not known (taiji's tables cover %s)",
				b.Path, l.Release, strings.Join(goruntime.Releases(a.PtrSize), ", ")))
		default:
			goid = uint64(l.G.Goid)
			if l.Source == goruntime.FromNeighbours {
				t.Notes = append(t.Notes, "goroutine ids use the runtime.g layout of "+l.From)
			}
		}
	}
	set := map[string]any{
		"g_reg_off": gOff, "sp_off": uint32(a.PtRegsSP), "goid_off": uint32(goid),
		"quiet": boolByte(opts.Quiet), "want_ustack": boolByte(opts.Stack),
		"want_kstack": boolByte(opts.Stack),
	}
	for name, v := range set {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("trace: setting %s: %v", name, err)
		}
	}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("trace: the kernel's verifier rejected the probe program: %+v", ve)
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("trace: loading the probe program: %v", err)
	}

	// One plan per site; the site's index is its attach cookie. The
	// returns are attached first and entries last, since the kernel
	// installs (and, on Detach, removes) the probes in this order: a
	// return whose call came before its entry probe is reported
	// unmatched, and the last calls have no return, as calls in flight
	// at either end would. The other order recorded calls whose returns
	// were not probed yet, and such a stale entry made the next call of
	// the same goroutine at the same depth look like a morestack
	// re-entry (dropped, not counted); at the end it reported hundreds
	// of returns unmatched.
	var offsets, cookies, entryOffsets, entryCookies []uint64
	for fi, f := range funcs {
		for _, s := range planSites(f) {
			off, err := b.FileOffset(s.addr)
			if err != nil {
				return nil, err
			}
			// The return a probe also records is the plan after its
			// entry's, never plan 0.
			var ret uint32
			if s.alsoRet {
				ret = uint32(len(t.plans)) + 1
			}
			idx, err := t.putPlan(a, f, fi, s.kind, ret)
			if err != nil {
				return nil, err
			}
			if s.alsoRet {
				// Not attached: the entry's probe records it (struct
				// plan's ret in bpf/trace.c).
				if _, err := t.putPlan(a, f, fi, kindReturn, 0); err != nil {
					return nil, err
				}
			}
			if s.kind == kindEntry {
				entryOffsets = append(entryOffsets, off)
				entryCookies = append(entryCookies, uint64(idx))
			} else {
				offsets = append(offsets, off)
				cookies = append(cookies, uint64(idx))
			}
		}
	}
	offsets, cookies = append(offsets, entryOffsets...), append(cookies, entryCookies...)
	if err := t.attach(offsets, cookies); err != nil {
		return nil, err
	}
	if !opts.Quiet && !opts.Bare {
		if t.rd, err = ringbuf.NewReader(t.objs.Events); err != nil {
			return nil, fmt.Errorf("trace: ring buffer: %v", err)
		}
	}
	if opts.Stack && opts.Pid != 0 {
		t.sym.prime(opts.Pid)
	}
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	t.mono = time.Now().Add(-time.Duration(ts.Nano()))
	return t, nil
}

// site is one probe address of a function.
type site struct {
	addr    uint64
	kind    uint8
	alsoRet bool // the entry is also a RET: one probe records both
}

// planSites lists f's probe sites: its entry, then each RET. Where the
// entry is a RET (a function whose body is one RET, or whose first
// instruction after the Go stack check is one), one uprobe would fire once
// for both, so the site is an entry that also records the return, and the
// RET is not probed again: two probes on one address would run in no
// useful order, and the return would be seen before its call.
func planSites(f *Func) []site {
	s := []site{{addr: f.Entry, kind: kindEntry}}
	for _, r := range f.Rets {
		if r == f.Entry {
			s[0].alsoRet = true
			continue
		}
		s = append(s, site{addr: r, kind: kindReturn})
	}
	return s
}

// putPlan writes the plan of a site of f (the fi-th function) and returns
// its index. ret is the index of the return plan the same probe records
// after this entry, or 0.
func (t *Tracer) putPlan(a *arch.Arch, f *Func, fi int, kind uint8, ret uint32) (uint32, error) {
	sp := buildPlan(a, f, fi, kind, uint32(t.opts.MaxBytes))
	bp := bpfPlan{Func: uint32(fi), Kind: kind, Nitems: uint8(len(sp.items)), Ret: ret}
	if f.Go {
		bp.IsGo = 1
		// A re-entry after morestack never happens at a site that is
		// also the RET: the function has no stack check to fail.
		bp.Dedupe = boolByte(kind == kindEntry && !f.StackCheck && ret == 0)
	}
	for i, it := range sp.items {
		bp.Items[i] = bpfItem{PtrBuf: it.PtrBuf, LenBuf: it.LenBuf, PtrOff: it.PtrOff, LenOff: it.LenOff,
			Elem: it.Elem, LenConst: it.LenConst, Max: it.Max}
	}
	idx := uint32(len(t.plans))
	if idx >= 4096 {
		return 0, fmt.Errorf("trace: more than 4096 probe sites; trace fewer functions")
	}
	if err := t.objs.Plans.Put(idx, &bp); err != nil {
		return 0, fmt.Errorf("trace: writing probe plan: %v", err)
	}
	t.plans = append(t.plans, sp)
	return idx, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// attach attaches every site: one uprobe_multi link where the kernel has it
// (6.6+), else one uprobe per site.
func (t *Tracer) attach(offsets, cookies []uint64) error {
	ex, err := link.OpenExecutable(t.bin.Path)
	if err != nil {
		return err
	}
	multi, single := t.objs.ProbeMulti, t.objs.ProbeSingle
	if t.opts.Bare {
		// bare_multi is a uprobe.multi program only: the baseline is
		// measured where the tracing program also uses one link.
		multi, single = t.objs.BareMulti, nil
	}
	var multiErr error
	if !t.opts.Single {
		l, err := ex.UprobeMulti(nil, multi, &link.UprobeMultiOptions{
			Addresses: offsets, Cookies: cookies, PID: uint32(t.opts.Pid)})
		if err == nil {
			t.links = append(t.links, l)
			t.Multi = true
			return nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return attachError(err) // the process is gone: no fallback helps
		}
		// Kernels before 6.6 do not know the link type and say EINVAL
		// rather than "not supported": fall back whatever the reason,
		// and report this error only if single uprobes fail too.
		multiErr = err
	}
	if single == nil {
		return fmt.Errorf("%w: the bare baseline needs uprobe_multi (Linux 6.6+): %v", ErrUnsupported, multiErr)
	}
	for i, off := range offsets {
		l, err := ex.Uprobe("", single, &link.UprobeOptions{Address: off, Cookie: cookies[i], PID: t.opts.Pid})
		if err != nil {
			if multiErr != nil {
				return attachError(fmt.Errorf("%v (and uprobe_multi: %v)", err, multiErr))
			}
			return attachError(err)
		}
		t.links = append(t.links, l)
	}
	return nil
}

func attachError(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("trace: attaching probes: %v (has the process exited?)", err)
	}
	if errors.Is(err, link.ErrNotSupported) {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return fmt.Errorf("trace: attaching probes: %v", err)
}

// Read blocks for the next event. It returns ringbuf.ErrClosed (test with
// errors.Is(err, os.ErrClosed)) after Close.
func (t *Tracer) Read() (*Event, error) {
	if t.rd == nil {
		return nil, os.ErrClosed
	}
	for {
		rec, err := t.rd.Read()
		if err != nil {
			return nil, err
		}
		ev, err := t.decode(rec.RawSample)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			return ev, nil
		}
	}
}

// Flush makes Read return the events still buffered, then ErrFlushed.
func (t *Tracer) Flush() {
	if t.rd != nil {
		t.rd.Flush()
	}
}

// ErrFlushed is returned by Read once the events pending at Flush are read.
var ErrFlushed = ringbuf.ErrFlushed

func (t *Tracer) decode(raw []byte) (*Event, error) {
	re, err := ParseEvent(raw)
	if err != nil {
		return nil, err
	}
	if int(re.Probe) >= len(t.plans) {
		return nil, &FormatError{Section: "event", Offset: 48, Msg: fmt.Sprintf("unknown probe %d", re.Probe)}
	}
	sp := t.plans[re.Probe]
	return decodeEvent(t.bin, sp, re, t.biases, t.mono), nil
}

func decodeEvent(b *Binary, sp *sitePlan, re *RawEvent, biases *biases, mono time.Time) *Event {
	ev := &Event{Kind: Call, Time: mono.Add(time.Duration(re.Time)), Pid: int(re.Pid), Tid: int(re.Tid),
		Goroutine: re.Goroutine, Func: sp.fn, Stack: re.UStack, KStack: re.KStack}
	if sp.kind == kindReturn {
		ev.Kind = Return
		ev.Duration = time.Duration(re.Duration)
		ev.Unmatched = re.Flags&flagUnmatched != 0
	}
	d := &decoder{a: b.Arch, ev: re, sp: sp, bin: b, biases: biases}
	if sp.fn.TypesFrom == "" {
		// No types: show the argument registers as they are.
		regs := b.Arch.GoIntArgs
		if !sp.fn.Go {
			regs = b.Arch.CIntArgs
		}
		if sp.kind == kindReturn && !sp.fn.Go {
			regs = b.Arch.CIntResults
		}
		for i, r := range regs {
			if i == 4 {
				break
			}
			if off, ok := b.Arch.PtRegs[r]; ok && off+8 <= len(re.Regs) {
				ev.Values = append(ev.Values, Arg{Name: b.Arch.RegName(r), Type: "reg",
					Value: Ptr(b.Arch.ByteOrder.Uint64(re.Regs[off:]))})
			}
		}
		return ev
	}
	for i, p := range sp.params {
		a := Arg{Name: p.Name, Type: p.Type.String()}
		if i < len(sp.locs) && len(sp.locs[i].Pieces) > 0 {
			a.Value = d.value(p.Name, p.Type, source{buf: bufRegs, pieces: sp.locs[i].Pieces}, 0)
		} else {
			a.Value = Unavailable("not in an integer register")
		}
		ev.Values = append(ev.Values, a)
	}
	return ev
}

// FuncStats are one function's counters and latency distribution,
// aggregated in the kernel.
type FuncStats struct {
	Func                 string
	Calls, Returns, Lost uint64
	Unmatched            uint64
	Sum, Max             time.Duration
	P50, P90, P99        time.Duration
	Hist                 [256]uint64 // bucket i: see BucketBounds
}

// BucketBounds returns the latency range [lo, hi) of histogram bucket i:
// four buckets per power of two nanoseconds.
func BucketBounds(i int) (lo, hi uint64) {
	l, sub := uint(i/4), uint64(i%4)
	if l < 2 {
		return uint64(i - int(l)*4), uint64(i-int(l)*4) + 1
	}
	base := uint64(1) << l
	step := base / 4
	return base + sub*step, base + (sub+1)*step
}

// Stats reads the per-function counters.
func (t *Tracer) Stats() ([]FuncStats, error) {
	var out []FuncStats
	for i, f := range t.funcs {
		var per []bpfStats
		if err := t.objs.FuncStats.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("trace: reading stats: %v", err)
		}
		s := FuncStats{Func: f.Name}
		var sum, mx uint64
		for _, c := range per {
			s.Calls += c.Calls
			s.Returns += c.Returns
			s.Lost += c.Lost
			s.Unmatched += c.Unmatched
			sum += c.Sum
			mx = max(mx, c.Max)
			for k := range c.Hist {
				s.Hist[k] += c.Hist[k]
			}
		}
		s.Sum, s.Max = time.Duration(sum), time.Duration(mx)
		s.P50, s.P90, s.P99 = s.percentile(0.5), s.percentile(0.9), s.percentile(0.99)
		out = append(out, s)
	}
	return out, nil
}

// percentile estimates from the histogram: the middle of the bucket
// holding the q-th sample, capped at the true maximum.
func (s *FuncStats) percentile(q float64) time.Duration {
	var total uint64
	for _, n := range s.Hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range s.Hist {
		seen += n
		if seen >= rank {
			lo, hi := BucketBounds(i)
			return min(time.Duration((lo+hi)/2), s.Max)
		}
	}
	return s.Max
}

// BareHits returns how many times the probes of a Bare tracer fired, over
// all sites and CPUs.
func (t *Tracer) BareHits() (uint64, error) {
	var per []uint64
	if err := t.objs.BareHits.Lookup(uint32(0), &per); err != nil {
		return 0, fmt.Errorf("trace: reading bare counts: %v", err)
	}
	var n uint64
	for _, c := range per {
		n += c
	}
	return n, nil
}

// Detach removes every probe: once it returns no probe runs (closing a
// uprobe link waits for the programs running on it), so no event or
// count is added after it. Read still returns the events buffered (Flush
// ends them) and Stats stays readable until Close: detaching first is
// what makes the events read match the counts. Safe to call twice.
func (t *Tracer) Detach() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.detach()
}

func (t *Tracer) detach() {
	for _, l := range t.links {
		l.Close()
	}
	t.links = nil
}

// Close detaches every probe and frees the BPF objects. Safe to call twice.
func (t *Tracer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.sym.close()
	t.detach()
	if t.rd != nil {
		t.rd.Close()
	}
	if t.objs.ProbeMulti == nil {
		return nil // never loaded
	}
	return t.objs.Close()
}

// Funcs returns the traced functions, in the order of Stats.
func (t *Tracer) Funcs() []*Func { return t.funcs }

// sortedNames is used by error messages.
func sortedNames(fs []*Func) string {
	var n []string
	for _, f := range fs {
		n = append(n, f.Name)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

var _ = bytes.MinRead
var _ = goabi.ABI0
