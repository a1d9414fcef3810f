package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/pclntab"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/trace"
	"github.com/taijidbg/taiji/unwind"
)

type traceFlags struct {
	pid      int
	noCache  bool
	json     bool
	stats    bool
	quiet    bool
	stack    bool
	maxBytes int
	sigs     []string
	single   bool
	bare     bool
	duration time.Duration
}

func traceCmd() *cobra.Command {
	var fl traceFlags
	c := &cobra.Command{
		Use:   "trace [flags] PATTERN... -- CMD [ARG...] | trace [flags] -p PID PATTERN...",
		Short: "Trace calls of Go and C functions with their arguments, results and latency (eBPF)",
		Long: `Print every call of the functions matching PATTERN (globs: * and ?) with its
decoded arguments, and every return with its results and duration, tagged with
the goroutine and thread. Uprobes sit at each function's entry and at every RET
instruction: taiji never uses uretprobes, which crash Go programs whose
goroutine stacks move. --quiet --stats counts and times calls in the kernel.`,
		RunE: func(c *cobra.Command, args []string) error {
			dash := c.ArgsLenAtDash()
			var patterns, cmdArgs []string
			if dash >= 0 {
				patterns, cmdArgs = args[:dash], args[dash:]
			} else {
				patterns = args
			}
			if len(patterns) == 0 {
				return fmt.Errorf("give at least one function PATTERN (e.g. 'main.*')")
			}
			if (fl.pid == 0) == (len(cmdArgs) == 0) {
				return fmt.Errorf("give either -p PID or -- CMD [ARG...]")
			}
			return runTrace(&fl, patterns, cmdArgs)
		},
	}
	f := c.Flags()
	f.IntVarP(&fl.pid, "pid", "p", 0, "trace this running process")
	f.BoolVar(&fl.json, "json", false, "print JSON, one object per line (docs/json.md)")
	f.BoolVar(&fl.stats, "stats", false, "at exit, print per-function counts and latency percentiles")
	f.BoolVar(&fl.noCache, "no-cache", false, "do not keep inflated debug sections in ~/.cache/taiji between runs")
	f.BoolVar(&fl.quiet, "quiet", false, "no per-call lines (with --stats: aggregate in the kernel only)")
	f.BoolVar(&fl.stack, "stack", false, "print the user stack at each call")
	f.IntVar(&fl.maxBytes, "max-bytes", 64, "bytes of string and []byte contents captured per value")
	f.StringArrayVar(&fl.sigs, "sig", nil, "argument types for a binary without DWARF: 'main.F(a int, s string) (int, error)' (repeatable)")
	f.DurationVar(&fl.duration, "duration", 0, "stop after this long (e.g. 2s): a command taiji started is sent SIGTERM")
	f.BoolVar(&fl.single, "single-uprobes", false, "attach one uprobe per site instead of one uprobe_multi link")
	f.MarkHidden("single-uprobes")
	// --bare: the physical limit scripts/bench-trace compares with.
	f.BoolVar(&fl.bare, "bare", false, "attach an empty counting program at the same sites and print its hit count at exit")
	f.MarkHidden("bare")
	return c
}

// startStopped starts cmd stopped at its first instruction (ptrace stops a
// tracee after execve), so probes are in place before it runs any code.
// resume detaches and lets it run.
//
// The command is taiji's (as bpftrace -c's is bpftrace's): it ends with
// taiji. Pdeathsig covers the deaths taiji cannot act on (SIGKILL, SIGPIPE
// on a closed stdout): the kernel sends it when the forking *thread* exits,
// so that thread stays locked to this goroutine, taiji's main one, for
// taiji's whole life, where Go would otherwise retire or reuse it.
func startStopped(args []string) (cmd *exec.Cmd, resume func() error, err error) {
	runtime.LockOSThread() // ptrace requests must come from the tracer thread
	path, err := exec.LookPath(args[0])
	if err != nil {
		runtime.UnlockOSThread()
		return nil, nil, fmt.Errorf("cannot start %s: %v", args[0], err)
	}
	cmd = exec.Command(path, args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		runtime.UnlockOSThread()
		return nil, nil, fmt.Errorf("cannot start %s: %v", args[0], err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		abandon(cmd)
		return nil, nil, fmt.Errorf("cannot start %s stopped: %v %v", args[0], err, ws)
	}
	return cmd, func() error {
		return syscall.PtraceDetach(cmd.Process.Pid) // the thread stays locked: see above
	}, nil
}

// endGrace is how long a started command has, after SIGTERM, to exit by
// itself before taiji kills it.
const endGrace = 3 * time.Second

// endCommand ends a started command that is still running when taiji
// stops tracing (a signal to taiji, --duration, an error): SIGTERM, then
// SIGKILL after endGrace, and reaps it. exited is closed once cmd.Wait has
// returned.
func endCommand(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(endGrace):
		cmd.Process.Kill()
		<-exited
	}
}

// abandon ends a command held at its exec stop that taiji will not trace:
// killed there, it never runs an instruction of its own; reaped, it does not
// linger as a zombie.
func abandon(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
	runtime.UnlockOSThread()
}

func runTrace(fl *traceFlags, patterns, cmdArgs []string) error {
	if err := trace.CheckArch(arch.Host()); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return trace.ErrNotRoot
	}
	var cmd *exec.Cmd
	var resume func() error
	pid := fl.pid
	if pid != 0 {
		// A TID (from top -H, say) names its process, as for taiji stack:
		// uprobes see every thread of the process anyway.
		if tg, err := proc.Tgid(pid); err == nil && tg != pid {
			fmt.Fprintf(os.Stderr, "taiji: %d is a thread of PID %d, not a process: tracing PID %d\n", pid, tg, tg)
			pid = tg
		}
	} else {
		var err error
		if cmd, resume, err = startStopped(cmdArgs); err != nil {
			return err
		}
		pid = cmd.Process.Pid
		defer func() {
			if resume != nil { // refused before it ran
				abandon(cmd)
			}
		}()
	}
	// The process is stopped after its execve, or running: either way its
	// executable is opened as taiji stack opens it, deleted or not.
	b, err := trace.OpenProcess(pid, moduleOptions("", nil, fl.noCache))
	if err != nil {
		return err
	}
	exe := b.Name
	defer b.Close()
	if cmd != nil && !sameFile(cmd.Path, exe) {
		// A script: the process runs its interpreter, which is what is
		// traced; say so, or "nothing matches" names a program the user
		// never typed.
		exe = fmt.Sprintf("%s, the interpreter of %s", exe, cmd.Path)
	}
	sigs, err := parseSigs(fl.sigs, int64(b.Arch.PtrSize))
	if err != nil {
		return err
	}
	funcs, err := b.Funcs(patterns, sigs)
	if err != nil {
		// A Go-style pattern that finds nothing in a program without a Go
		// function table: say that, not just "no such function".
		if errors.Is(err, trace.ErrNoFunc) && !b.IsGo() {
			var goStyle []string
			for _, p := range patterns {
				if _, err := b.Funcs([]string{p}, sigs); err != nil && anyGoPattern([]string{p}) {
					goStyle = append(goStyle, p)
				}
			}
			if len(goStyle) > 0 {
				return fmt.Errorf("process %d (%s) is not a Go program (%v): nothing matches %s; trace its C functions by their symbol names",
					pid, exe, pclntab.ErrNotGo, strings.Join(goStyle, " "))
			}
		}
		return err
	}
	sayRefused(b)
	// One line per function, but one line in all for a stripped binary's
	// many untyped functions (a glob over a Debian Go program): a screenful
	// of the same sentence hides what matters.
	var raw []string
	for _, f := range funcs {
		if f.Note != "" {
			fmt.Fprintf(os.Stderr, "taiji: %s: %s\n", exe, f.Note)
		} else if f.TypesFrom == "" && b.IsGo() && f.Go {
			raw = append(raw, f.Name)
		}
	}
	switch {
	case len(raw) == 1:
		fmt.Fprintf(os.Stderr, "taiji: %s: no DWARF and no --sig for %s: showing raw registers\n", exe, raw[0])
	case len(raw) > 1:
		shown := raw[:min(len(raw), 3)]
		more := ""
		if len(raw) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(raw)-len(shown))
		}
		fmt.Fprintf(os.Stderr, "taiji: %s: no DWARF and no --sig for %d functions (%s%s): showing raw registers\n",
			exe, len(raw), strings.Join(shown, ", "), more)
	}
	t, err := trace.Start(b, funcs, trace.Options{Pid: pid, MaxBytes: fl.maxBytes, Quiet: fl.quiet,
		Stack: fl.stack, Single: fl.single, Bare: fl.bare})
	if err != nil {
		return err
	}
	defer t.Close()
	// What the tracer cannot show (goroutine ids of an unknown runtime
	// layout) is said once, up front, not per event.
	for _, n := range t.Notes {
		fmt.Fprintf(os.Stderr, "taiji: %s: %s\n", exe, n)
	}

	done := make(chan string, 2)
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() { s := <-sigc; done <- s.String() }()
	if fl.duration > 0 {
		timer := time.AfterFunc(fl.duration, func() { done <- "duration" })
		defer timer.Stop()
	}
	// stop asks a command taiji started to end when taiji stops (time is
	// up, SIGINT, SIGTERM), before the last events are read, so none
	// arrive after the summary. A process given with -p is never touched.
	stop := func(why string) {
		if why != "exited" && cmd != nil {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	if cmd != nil {
		if err := resume(); err != nil {
			return fmt.Errorf("cannot resume %s: %v", cmdArgs[0], err)
		}
		resume = nil
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited); done <- "exited" }()
		defer endCommand(cmd, exited)
	} else {
		go func() {
			for {
				time.Sleep(100 * time.Millisecond)
				if err := syscall.Kill(pid, 0); err != nil {
					done <- "exited"
					return
				}
			}
		}()
	}

	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer w.Flush()
	pr := &printer{w: w, json: fl.json, bin: b, tr: t}
	why := ""
	if fl.quiet || fl.bare {
		why = <-done
		stop(why)
		t.Detach()
	} else {
		events := make(chan *trace.Event, 4096)
		go func() {
			defer close(events)
			for {
				ev, err := t.Read()
				if err != nil {
					if !errors.Is(err, os.ErrClosed) && !errors.Is(err, trace.ErrFlushed) {
						fmt.Fprintln(os.Stderr, "taiji:", err)
					}
					return
				}
				events <- ev
			}
		}()
		flush := time.NewTicker(200 * time.Millisecond)
		defer flush.Stop()
	loop:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break loop
				}
				pr.event(ev)
			case why = <-done:
				stop(why)
				// No event after this (a -p process runs on): the
				// events read then match the counts of the summary.
				// Then drain what the ring buffer still holds.
				t.Detach()
				t.Flush()
				for ev := range events {
					pr.event(ev)
				}
				break loop
			case <-flush.C:
				w.Flush()
			}
		}
	}
	w.Flush()
	if fl.bare {
		n, err := t.BareHits()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "bare hits=%d\n", n)
		return nil
	}
	st, err := t.Stats()
	if err != nil {
		return err
	}
	var lost uint64
	for _, s := range st {
		lost += s.Lost
	}
	if fl.stats || fl.json {
		pr.summary(st, fl.stats)
	}
	w.Flush()
	if lost > 0 {
		fmt.Fprintf(os.Stderr, "taiji: %d events lost (ring buffer full); counts in --stats are exact\n", lost)
	}
	_ = why
	return nil
}

func anyGoPattern(ps []string) bool {
	for _, p := range ps {
		if strings.Contains(p, ".") {
			return true
		}
	}
	return false
}

type printer struct {
	w    io.Writer
	json bool
	bin  *trace.Binary
	tr   *trace.Tracer
	enc  *json.Encoder
}

type jsonArg struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jsonEvent struct {
	Event      string     `json:"event"`
	Time       string     `json:"time"`
	Pid        int        `json:"pid"`
	Tid        int        `json:"tid"`
	Goroutine  uint64     `json:"goroutine,omitempty"`
	Function   string     `json:"function"`
	Args       []jsonArg  `json:"args,omitempty"`
	Results    *[]jsonArg `json:"results,omitempty"`
	DurationNS *int64     `json:"duration_ns,omitempty"`
	Unmatched  bool       `json:"unmatched,omitempty"`
	// Stack is the user stack at a call (--stack), as taiji stack's frames.
	Stack []unwind.Frame `json:"stack,omitempty"`
	// KernelStack is the kernel stack when the probe ran: the path of the
	// uprobe's trap (the traced function itself runs in user mode).
	KernelStack []unwind.Frame `json:"kernel_stack,omitempty"`
}

func (p *printer) event(ev *trace.Event) {
	if p.json {
		if p.enc == nil {
			p.enc = json.NewEncoder(p.w)
		}
		je := jsonEvent{Event: string(ev.Kind), Time: ev.Time.Format(time.RFC3339Nano), Pid: ev.Pid, Tid: ev.Tid,
			Goroutine: ev.Goroutine, Function: ev.Func.Name, Unmatched: ev.Unmatched}
		args := []jsonArg{}
		for _, a := range ev.Values {
			args = append(args, jsonArg{a.Name, a.Type, a.Value})
		}
		if ev.Kind == trace.Call {
			je.Args = args
			if len(args) == 0 {
				je.Args = nil
			}
		} else {
			je.Results = &args
			if !ev.Unmatched {
				d := ev.Duration.Nanoseconds()
				je.DurationNS = &d
			}
		}
		if len(ev.Stack)+len(ev.KStack) > 0 {
			je.KernelStack, je.Stack = p.tr.Frames(ev)
		}
		p.enc.Encode(je)
		return
	}
	var b strings.Builder
	b.WriteString(ev.Time.Format("15:04:05.000000"))
	if ev.Goroutine != 0 {
		fmt.Fprintf(&b, " g%d", ev.Goroutine)
	}
	fmt.Fprintf(&b, " t%d %s", ev.Tid, ev.Func.Name)
	vals := make([]string, len(ev.Values))
	for i, a := range ev.Values {
		vals[i] = trace.Format(a.Value)
		if ev.Kind == trace.Call {
			vals[i] = a.Name + "=" + vals[i]
		}
	}
	if ev.Kind == trace.Call {
		fmt.Fprintf(&b, "(%s)\n", strings.Join(vals, ", "))
		if len(ev.Stack)+len(ev.KStack) > 0 {
			kernel, user := p.tr.Frames(ev)
			if len(kernel) > 0 {
				b.WriteString("    -- kernel: the uprobe's trap path --\n")
				for i := range kernel {
					fmt.Fprintf(&b, "    %s\n", kernel[i].String())
				}
				b.WriteString("    -- user --\n")
			}
			for i := range user {
				fmt.Fprintf(&b, "    %s\n", user[i].String())
			}
		}
	} else {
		fmt.Fprintf(&b, " => (%s)", strings.Join(vals, ", "))
		if ev.Unmatched {
			b.WriteString("  (entry not seen)\n")
		} else {
			fmt.Fprintf(&b, "  %v\n", ev.Duration)
		}
	}
	io.WriteString(p.w, b.String())
}

type jsonSummaryFunc struct {
	Function  string `json:"function"`
	Calls     uint64 `json:"calls"`
	Returns   uint64 `json:"returns"`
	Lost      uint64 `json:"lost"`
	Unmatched uint64 `json:"unmatched"`
	P50       int64  `json:"p50_ns"`
	P90       int64  `json:"p90_ns"`
	P99       int64  `json:"p99_ns"`
	Max       int64  `json:"max_ns"`
}

func (p *printer) summary(st []trace.FuncStats, hist bool) {
	if p.json {
		var fs []jsonSummaryFunc
		for _, s := range st {
			fs = append(fs, jsonSummaryFunc{s.Func, s.Calls, s.Returns, s.Lost, s.Unmatched,
				s.P50.Nanoseconds(), s.P90.Nanoseconds(), s.P99.Nanoseconds(), s.Max.Nanoseconds()})
		}
		json.NewEncoder(p.w).Encode(map[string]any{"event": "summary", "functions": fs})
		return
	}
	fmt.Fprintf(p.w, "\n%-40s %10s %10s %6s %10s %10s %10s %10s\n", "FUNCTION", "CALLS", "RETURNS", "LOST", "P50", "P90", "P99", "MAX")
	for _, s := range st {
		fmt.Fprintf(p.w, "%-40s %10d %10d %6d %10v %10v %10v %10v\n", s.Func, s.Calls, s.Returns, s.Lost, s.P50, s.P90, s.P99, s.Max)
	}
	if !hist {
		return
	}
	for _, s := range st {
		p.histogram(s)
	}
}

// histogram draws the latency distribution, one row per power of two.
func (p *printer) histogram(s trace.FuncStats) {
	var rows [64]uint64
	var peak uint64
	lo, hi := 64, -1
	for i, n := range s.Hist {
		if n == 0 {
			continue
		}
		r := i / 4
		rows[r] += n
		peak = max(peak, rows[r])
		lo, hi = min(lo, r), max(hi, r)
	}
	if hi < 0 {
		return
	}
	fmt.Fprintf(p.w, "\n%s latency\n", s.Func)
	for r := lo; r <= hi; r++ {
		bar := int(rows[r] * 40 / max(peak, 1))
		from := time.Duration(uint64(1) << r)
		if r == 0 {
			from = 0 // the first row holds 0 too: a call and its return at one RET
		}
		fmt.Fprintf(p.w, "  %10v .. %-10v %10d |%s\n", from, time.Duration(uint64(1)<<(r+1)), rows[r], strings.Repeat("█", bar))
	}
}

// sameFile reports whether paths a and b name the same file.
func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}
