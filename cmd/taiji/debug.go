package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/debugger"
	"github.com/taijidbg/taiji/goroutines"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/unwind"
)

type debugFlags struct {
	batch     bool
	ex        []string
	files     []string
	json      bool
	debugDirs []string
}

func debugCmd() *cobra.Command {
	var fl debugFlags
	c := &cobra.Command{
		Use:   "debug [flags] PID | debug [flags] -- CMD [ARG...]",
		Short: "Debug a process: breakpoints, stepping (into signal handlers), frames, threads, goroutines",
		Long: `Debug a live process (every thread stops while taiji holds it) or a program
started stopped at its entry point (-- CMD ARGS). Commands take delve's names
and gdb's spellings: break, tbreak, condition, clear, breakpoints, continue,
stepi, nexti, step, next, stepout, bt, frame, up, down, threads, thread,
goroutines, goroutine, regs, disassemble, print, handle, detach, kill, quit;
"help" lists them. --batch runs the -x files and then the -ex commands and
quits (a started program is killed, an attached one detached).

See docs/debug.md.`,
		RunE: func(c *cobra.Command, args []string) error {
			return runDebug(c, args, &fl)
		},
	}
	f := c.Flags()
	f.BoolVar(&fl.batch, "batch", false, "run the -x files and -ex commands, then quit (no prompt)")
	f.StringArrayVar(&fl.ex, "ex", nil, "a command to run (repeatable; after the -x files)")
	f.StringArrayVarP(&fl.files, "command", "x", nil, "a file of commands to run, one a line (repeatable)")
	f.BoolVar(&fl.json, "json", false, "print one JSON object per command and per stop (docs/json.md)")
	f.StringSliceVar(&fl.debugDirs, "debug-dir", nil, "where separate debug files live (default /usr/lib/debug; repeatable)")
	return c
}

// errCommands ends a batch run in which some command failed.
type errCommands struct{ n int }

func (e *errCommands) Error() string {
	if e.n == 1 {
		return "1 command failed (its error is above)"
	}
	return fmt.Sprintf("%d commands failed (their errors are above)", e.n)
}

func runDebug(c *cobra.Command, args []string, fl *debugFlags) error {
	if kept, err := keepDebugger(); kept || err != nil {
		return err
	}
	if fl.json && !fl.batch {
		return errors.New("--json goes with --batch (the prompt prints text)")
	}
	// SIGTERM, SIGHUP (the terminal went away) and SIGQUIT end the
	// session cleanly: what runs is interrupted, then the breakpoints go
	// (and a started program with taiji). SIGINT interrupts a running
	// command only.
	life, end := context.WithCancel(context.Background())
	defer end()
	sigc := make(chan os.Signal, 4)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigc)

	// The command files are read before anything starts or stops.
	var lines []string
	if fl.batch {
		var err error
		if lines, err = batchLines(fl); err != nil {
			return err
		}
	}
	opts := debugger.Options{DebugDirs: fl.debugDirs}
	var (
		d   *debugger.Debugger
		err error
	)
	cli := &debugCLI{out: bufio.NewWriter(os.Stdout), json: fl.json}
	if dash := c.ArgsLenAtDash(); dash >= 0 {
		if dash != 0 || len(args) == 0 {
			return errors.New("give either a PID or -- CMD ARGS, not both")
		}
		d, err = debugger.Launch(life, args, opts)
	} else {
		if len(args) != 1 {
			return fmt.Errorf("expected one PID, got %d arguments (to start a program: taiji debug -- CMD ARGS)", len(args))
		}
		pid, perr := strconv.Atoi(args[0])
		if perr != nil || pid <= 0 {
			return fmt.Errorf("%q is not a PID (a positive number; to start a program: taiji debug -- CMD ARGS)", args[0])
		}
		// A TID (from top -H) names its process, with that thread
		// selected.
		tid := 0
		if tg, err := proc.Tgid(pid); err == nil && tg != pid {
			pid, tid = tg, pid
		}
		d, err = debugger.Attach(life, pid, opts)
		if err == nil && tid != 0 {
			d.SelectThread(tid)
		}
	}
	if err != nil {
		return err
	}
	cli.d = d
	go cli.signals(sigc, end)
	defer cli.out.Flush()
	if d.Launched {
		cli.stop(d.Where("entry"))
	} else {
		cli.stop(d.Where("attached"))
	}
	cli.out.Flush()
	if fl.batch {
		err = cli.batch(lines)
	} else {
		err = cli.repl()
	}
	if cerr := cli.close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// debugCLI runs commands against a debugger and prints their results.
type debugCLI struct {
	d    *debugger.Debugger
	out  *bufio.Writer
	json bool
	last string // the last command, which an empty line repeats
	done bool   // quit, detach or kill ended the session

	mu       sync.Mutex
	cancel   context.CancelFunc // of the command running, nil at the prompt
	term     bool               // SIGTERM, SIGHUP or SIGQUIT arrived
	rl       *readline.Instance
	failures int
}

// signals interrupts the running command on SIGINT, SIGTERM, SIGHUP and
// SIGQUIT; all but SIGINT also end the session.
func (c *debugCLI) signals(sigc chan os.Signal, end context.CancelFunc) {
	for sig := range sigc {
		c.mu.Lock()
		if c.cancel != nil {
			c.cancel()
		}
		if sig != syscall.SIGINT {
			c.term = true
			end()
			if c.rl != nil {
				c.rl.Close()
			}
		}
		c.mu.Unlock()
	}
}

func (c *debugCLI) terminated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term
}

// close ends the session if no command did: a started program is
// killed, an attached process detached.
func (c *debugCLI) close() error {
	if c.done {
		return nil
	}
	c.done = true
	return c.d.Close()
}

// batchLines returns the lines of the -x files (blank lines and #
// comments left out), then the -ex commands.
func batchLines(fl *debugFlags) ([]string, error) {
	var lines []string
	for _, f := range fl.files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("cannot read the command file: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	return append(lines, fl.ex...), nil
}

func (c *debugCLI) batch(lines []string) error {
	for _, l := range lines {
		if c.done || c.terminated() {
			break
		}
		c.exec(l)
		c.out.Flush()
	}
	if c.failures > 0 {
		return &errCommands{c.failures}
	}
	return nil
}

func (c *debugCLI) repl() error {
	hist := ""
	if dir, err := os.UserCacheDir(); err == nil {
		os.MkdirAll(filepath.Join(dir, "taiji"), 0o755)
		hist = filepath.Join(dir, "taiji", "debug_history")
	}
	var names []string
	nameOnce := sync.Once{}
	funcs := func(string) []string {
		nameOnce.Do(func() { names = c.d.FunctionNames() })
		return names
	}
	var items []readline.PrefixCompleterInterface
	for _, cmd := range debugCommands {
		for _, n := range cmd.names {
			if cmd.takesFunc {
				items = append(items, readline.PcItem(n, readline.PcItemDynamic(funcs)))
			} else {
				items = append(items, readline.PcItem(n))
			}
		}
	}
	rl, err := readline.NewEx(&readline.Config{Prompt: "(taiji) ", HistoryFile: hist, AutoComplete: readline.NewPrefixCompleter(items...),
		InterruptPrompt: "^C", EOFPrompt: "quit"})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.rl = rl
	c.mu.Unlock()
	defer rl.Close()
	for !c.done && !c.terminated() {
		// The prompt may wait for hours: nothing of taiji's may stay in
		// the target meanwhile that would kill it if taiji were killed.
		if err := c.d.Rest(); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue // Ctrl-C at the prompt: a new line, as in gdb
		}
		if err != nil { // EOF (Ctrl-D) or closed on SIGTERM
			break
		}
		c.exec(line)
		c.out.Flush()
	}
	return nil
}

// exec runs one command line; an empty one repeats the last (REPL).
func (c *debugCLI) exec(line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		if c.json || c.last == "" {
			return
		}
		line = c.last
	}
	c.last = line
	name, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	if n, fmtArg, ok := strings.Cut(name, "/"); ok { // x/4xg ADDR
		name, rest = n, "/"+fmtArg+" "+rest
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		c.fail(line, fmt.Errorf("unknown command %q (help lists them)", name))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	res, err := cmd.run(c, ctx, rest)
	c.mu.Lock()
	c.cancel = nil
	c.mu.Unlock()
	cancel()
	if err != nil {
		c.fail(line, err)
		return
	}
	if c.json {
		c.emit(map[string]any{"command": line, "result": res})
	}
}

func (c *debugCLI) fail(line string, err error) {
	c.failures++
	if c.json {
		c.emit(map[string]any{"command": line, "error": err.Error()})
		return
	}
	fmt.Fprintln(c.out, "error:", err)
}

func (c *debugCLI) emit(v any) {
	b, _ := json.Marshal(v)
	c.out.Write(append(b, '\n'))
}

// printf prints text (nothing with --json, where results are objects).
func (c *debugCLI) printf(format string, args ...any) {
	if !c.json {
		fmt.Fprintf(c.out, format, args...)
	}
}

// stop reports a stop event.
func (c *debugCLI) stop(e *debugger.Event) {
	if e == nil {
		return
	}
	if c.json {
		st := stopJSON{Kind: "stop", Event: e}
		if e.Reason == "exited" {
			st.Status = &e.Status
		}
		c.emit(st)
		return
	}
	fmt.Fprintln(c.out, e.String())
}

// stopJSON is a stop event as docs/json.md describes it.
type stopJSON struct {
	Kind string `json:"event"`
	*debugger.Event
	// Status shadows the event's: an exit's status is there also when it
	// is 0.
	Status *int `json:"status,omitempty"`
}

// debugCommand is one command of the table: names (the first is the
// canonical one), usage, help, what it does.
type debugCommand struct {
	names     []string
	usage     string
	help      string
	takesFunc bool // completes function names
	run       func(c *debugCLI, ctx context.Context, args string) (any, error)
}

var debugCommands []*debugCommand

func init() {
	debugCommands = []*debugCommand{
		{names: []string{"break", "b"}, usage: "break LOC [if COND]", takesFunc: true,
			help: "set a breakpoint: LOC is a function, FILE:LINE or *ADDR", run: cmdBreak(false)},
		{names: []string{"tbreak"}, usage: "tbreak LOC [if COND]", takesFunc: true,
			help: "set a breakpoint deleted at its first hit", run: cmdBreak(true)},
		{names: []string{"condition"}, usage: "condition N [COND]", help: "set (or remove) breakpoint N's condition", run: cmdCondition},
		{names: []string{"clear", "delete", "d"}, usage: "clear N", help: "delete breakpoint N", run: cmdClear},
		{names: []string{"breakpoints", "bp"}, usage: "breakpoints", help: "list the breakpoints", run: cmdBreakpoints},
		{names: []string{"continue", "c"}, usage: "continue", help: "resume every thread until a breakpoint, a signal or the exit", run: cmdRun((*debugger.Debugger).Continue)},
		{names: []string{"stepi", "si"}, usage: "stepi", help: "run one instruction (into a signal handler if a signal waits)", run: cmdRun((*debugger.Debugger).StepInstruction)},
		{names: []string{"nexti", "ni"}, usage: "nexti", help: "run one instruction, a call with what it calls", run: cmdRun((*debugger.Debugger).NextInstruction)},
		{names: []string{"step", "s"}, usage: "step", help: "run to the next source line, into called functions", run: cmdRun((*debugger.Debugger).Step)},
		{names: []string{"next", "n"}, usage: "next", help: "run to the next source line, over calls", run: cmdRun((*debugger.Debugger).Next)},
		{names: []string{"stepout", "finish"}, usage: "stepout", help: "run until the selected frame returns", run: cmdRun((*debugger.Debugger).StepOut)},
		{names: []string{"restart", "r", "run"}, usage: "restart", help: "start the program again, stopped at its entry point, with the same breakpoints", run: cmdRestart},
		{names: []string{"bt", "stack", "backtrace", "where"}, usage: "bt [N] [-full]", help: "the selected thread's frames (-full: with their arguments and locals, or registers without DWARF)", run: cmdBt},
		{names: []string{"frame", "f"}, usage: "frame [N]", help: "select frame N (show the selected one)", run: cmdFrame(0)},
		{names: []string{"up"}, usage: "up [N]", help: "select the frame N (1) outward", run: cmdFrame(1)},
		{names: []string{"down"}, usage: "down [N]", help: "select the frame N (1) inward", run: cmdFrame(-1)},
		{names: []string{"threads"}, usage: "threads", help: "list the threads, the selected one marked *", run: cmdThreads},
		{names: []string{"thread"}, usage: "thread [TID]", help: "select thread TID", run: cmdThread},
		{names: []string{"goroutines", "grs"}, usage: "goroutines", help: "list the goroutines (Go programs)", run: cmdGoroutines},
		{names: []string{"goroutine", "gr"}, usage: "goroutine N", help: "select goroutine N's thread, or show its stack if it is parked", run: cmdGoroutine},
		{names: []string{"regs", "registers"}, usage: "regs [-a]", help: "the selected frame's registers (-a: unknown ones too)", run: cmdRegs},
		{names: []string{"disassemble", "disass"}, usage: "disassemble [-a START END] [-l]", help: "disassemble the selected frame's function, or START to END (-l: with source lines)", run: cmdDisass},
		{names: []string{"print", "p"}, usage: "print EXPR", help: "evaluate EXPR in the selected frame", run: cmdPrint},
		{names: []string{"locals"}, usage: "locals", help: "the selected frame's local variables (DWARF)", run: cmdVars((*debugger.Debugger).Locals)},
		{names: []string{"args"}, usage: "args", help: "the selected frame's arguments (DWARF)", run: cmdVars((*debugger.Debugger).Args)},
		{names: []string{"x"}, usage: "x/FMT ADDR", help: "examine memory (gdb's count, format x d u t c s i, unit b h w g)", run: cmdExamine},
		{names: []string{"set"}, usage: "set LHS = EXPR", help: "set a register ($pc, frame 0) or memory (*(*uint32)(ADDR), code included); variables with DWARF", run: cmdSet},
		{names: []string{"handle"}, usage: "handle SIG [stop|nostop|print|noprint|pass|nopass]...", help: "what to do when SIG arrives", run: cmdHandle},
		{names: []string{"detach"}, usage: "detach", help: "remove every breakpoint and let the process run on", run: cmdDetach},
		{names: []string{"kill"}, usage: "kill", help: "kill the process", run: cmdKill},
		{names: []string{"quit", "q", "exit"}, usage: "quit", help: "end the session: kill a started program, detach from an attached one", run: cmdQuit},
		{names: []string{"info", "i"}, usage: "info breakpoints|registers|threads|frame|signals", help: "gdb's spellings of breakpoints, regs, threads, frame, handle", run: cmdInfo},
		{names: []string{"help", "h"}, usage: "help", help: "list the commands", run: cmdHelp},
	}
}

func lookupCommand(name string) *debugCommand {
	for _, c := range debugCommands {
		for _, n := range c.names {
			if n == name {
				return c
			}
		}
	}
	return nil
}

func cmdBreak(temp bool) func(c *debugCLI, ctx context.Context, args string) (any, error) {
	return func(c *debugCLI, ctx context.Context, args string) (any, error) {
		loc, cond, _ := strings.Cut(args, " if ")
		b, err := c.d.SetBreakpoint(strings.TrimSpace(loc), cond, temp)
		if err != nil {
			return nil, err
		}
		c.printf("%s\n", describeBreakpoint(b))
		return breakpointJSON(b), nil
	}
}

func describeBreakpoint(b *debugger.Breakpoint) string {
	kind := "Breakpoint"
	if b.Temp {
		kind = "Temporary breakpoint"
	}
	if len(b.Locations) > 1 {
		return fmt.Sprintf("%s %d at %s (%d locations)", kind, b.ID, b.Spec, len(b.Locations))
	}
	l := b.Locations[0]
	s := fmt.Sprintf("%s %d at %#x", kind, b.ID, l.Addr)
	if l.Function != "" {
		s += " in " + l.Function
	}
	if l.File != "" {
		s += fmt.Sprintf(" %s:%d", l.File, l.Line)
	}
	if b.Cond != "" {
		s += " if " + b.Cond
	}
	return s
}

// breakpointJSON is a breakpoint as docs/json.md describes it.
func breakpointJSON(b *debugger.Breakpoint) any {
	type loc struct {
		Addr string `json:"addr"`
		debugger.Location
	}
	out := struct {
		*debugger.Breakpoint
		Locations []loc `json:"locations"`
	}{Breakpoint: b}
	for _, l := range b.Locations {
		out.Locations = append(out.Locations, loc{fmt.Sprintf("%#x", l.Addr), l})
	}
	return out
}

func breakpointID(args string) (int, string, error) {
	ns, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	n, err := strconv.Atoi(ns)
	if err != nil || n <= 0 {
		return 0, "", fmt.Errorf("%q is not a breakpoint number (see breakpoints)", ns)
	}
	return n, strings.TrimSpace(rest), nil
}

func cmdCondition(c *debugCLI, ctx context.Context, args string) (any, error) {
	n, cond, err := breakpointID(args)
	if err != nil {
		return nil, err
	}
	return nil, c.d.Condition(n, cond)
}

func cmdClear(c *debugCLI, ctx context.Context, args string) (any, error) {
	n, _, err := breakpointID(args)
	if err != nil {
		return nil, err
	}
	if err := c.d.ClearBreakpoint(n); err != nil {
		return nil, err
	}
	c.printf("Deleted breakpoint %d\n", n)
	return nil, nil
}

func cmdBreakpoints(c *debugCLI, ctx context.Context, args string) (any, error) {
	var out []any
	for _, b := range c.d.Breakpoints() {
		out = append(out, breakpointJSON(b))
		c.printf("%s (hits %d)\n", describeBreakpoint(b), b.Hits)
	}
	if len(out) == 0 {
		c.printf("No breakpoints.\n")
	}
	return out, nil
}

// cmdRun runs a run-control method and reports its stop.
func cmdRun(f func(*debugger.Debugger, context.Context) (*debugger.Event, error)) func(c *debugCLI, ctx context.Context, args string) (any, error) {
	return func(c *debugCLI, ctx context.Context, args string) (any, error) {
		ev, err := f(c.d, ctx)
		if err != nil {
			return nil, err
		}
		c.stop(ev)
		return nil, nil
	}
}

func cmdRestart(c *debugCLI, ctx context.Context, args string) (any, error) {
	ev, err := c.d.Restart(ctx)
	if ev != nil {
		c.stop(ev)
	}
	return nil, err
}

func cmdBt(c *debugCLI, ctx context.Context, args string) (any, error) {
	limit, full := 0, false
	for _, a := range strings.Fields(args) {
		if a == "-full" {
			full = true
			continue
		}
		n, err := strconv.Atoi(a)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: bt takes a frame count and -full", a)
		}
		limit = n
	}
	fs, err := c.d.Frames()
	if err != nil {
		return nil, err
	}
	// Like stack: a deep stack keeps both ends.
	keep := unwind.DefaultMaxFrames
	if limit > 0 {
		keep = limit
	}
	var out []debugger.Frame
	vars := map[int][]string{} // bt -full: by frame index
	for i := range fs {
		if limit == 0 && len(fs) > keep && i == keep*3/4 {
			c.printf("    ... %d frames omitted ...\n", len(fs)-keep)
		}
		if (limit > 0 && i >= limit) || (limit == 0 && len(fs) > keep && i >= keep*3/4 && i < len(fs)-keep/4) {
			continue
		}
		f := fs[i]
		out = append(out, f)
		mark := " "
		if i == c.d.FrameIndex() {
			mark = "*"
		}
		c.printf("%s%s\n", mark, f.String())
		if full && !f.Signal {
			// As gdb's bt full and delve's stack -full: each frame's
			// variables; a frame without DWARF shows its registers.
			args, aerr := c.d.Args(&f)
			locals, lerr := c.d.Locals(&f)
			vars[f.Index] = append(args, locals...)
			for _, v := range vars[f.Index] {
				c.printf("        %s\n", v)
			}
			if aerr != nil && lerr != nil && !f.Inline {
				c.printf("        %s\n", regLine(c.d, &f))
			}
		}
	}
	return framesJSON(out, vars), nil
}

// framesJSON adds each frame's PC (and CFA) in hex, and the variables
// listed for it ("name = value", bt -full).
func framesJSON(fs []debugger.Frame, vars map[int][]string) any {
	type fj struct {
		PC   string   `json:"pc"`
		CFA  string   `json:"cfa,omitempty"`
		Vars []string `json:"vars,omitempty"`
		debugger.Frame
	}
	out := make([]fj, len(fs))
	for i, f := range fs {
		out[i] = fj{PC: fmt.Sprintf("%#x", f.PC), Vars: vars[f.Index], Frame: f}
		if f.CFA != 0 {
			out[i].CFA = fmt.Sprintf("%#x", f.CFA)
		}
	}
	return out
}

// regLine lists a frame's known registers on one line (bt -full).
func regLine(d *debugger.Debugger, f *debugger.Frame) string {
	var b strings.Builder
	if f.CFA != 0 {
		fmt.Fprintf(&b, "cfa=%#x ", f.CFA)
	}
	for _, r := range regList(d, f, false) {
		fmt.Fprintf(&b, "%s=%s ", r.Name, r.Value)
	}
	return strings.TrimSpace(b.String())
}

type regJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"` // hex, "" when unknown
}

// regList returns the frame's registers in DWARF order, the PC first.
func regList(d *debugger.Debugger, f *debugger.Frame, all bool) []regJSON {
	out := []regJSON{{"pc", fmt.Sprintf("%#x", f.Regs.PC)}}
	var nums []int
	for n := range d.Arch.RegNames {
		if d.Arch.PC == 0 || n != d.Arch.PC {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		v, ok := f.Regs.Get(n)
		switch {
		case ok:
			out = append(out, regJSON{d.Arch.RegNames[n], fmt.Sprintf("%#x", v)})
		case all:
			out = append(out, regJSON{d.Arch.RegNames[n], ""})
		}
	}
	return out
}

func cmdFrame(dir int) func(c *debugCLI, ctx context.Context, args string) (any, error) {
	return func(c *debugCLI, ctx context.Context, args string) (any, error) {
		n := c.d.FrameIndex()
		step := 1
		if args != "" {
			v, err := strconv.Atoi(strings.TrimSpace(args))
			if err != nil || v < 0 {
				return nil, fmt.Errorf("%q is not a frame number", args)
			}
			step = v
		}
		switch {
		case dir == 0 && args != "":
			n = step
		case dir != 0:
			n += dir * step
		}
		f, err := c.d.SelectFrame(n)
		if err != nil {
			return nil, err
		}
		c.printf("%s\n", f.String())
		return framesJSON([]debugger.Frame{*f}, nil), nil
	}
}

func cmdThreads(c *debugCLI, ctx context.Context, args string) (any, error) {
	type tj struct {
		TID       int    `json:"tid"`
		Current   bool   `json:"current,omitempty"`
		Goroutine uint64 `json:"goroutine,omitempty"`
		PC        string `json:"pc"`
		Function  string `json:"function,omitempty"`
		File      string `json:"file,omitempty"`
		Line      int    `json:"line,omitempty"`
	}
	cur := c.d.CurrentThread()
	var out []tj
	for _, tid := range c.d.Threads() {
		c.d.SelectThread(tid)
		e := c.d.Where("")
		t := tj{TID: tid, Current: tid == cur, Goroutine: e.Goroutine, PC: e.PC, Function: e.Function, File: e.File, Line: e.Line}
		out = append(out, t)
		mark := " "
		if t.Current {
			mark = "*"
		}
		s := fmt.Sprintf("%s Thread %d at %s in %s", mark, tid, t.PC, orUnknownName(t.Function))
		if t.File != "" {
			s += fmt.Sprintf(" %s:%d", t.File, t.Line)
		}
		if t.Goroutine != 0 {
			s += fmt.Sprintf(" (goroutine %d)", t.Goroutine)
		}
		c.printf("%s\n", s)
	}
	c.d.SelectThread(cur)
	return out, nil
}

func orUnknownName(s string) string {
	if s == "" {
		return "??"
	}
	return s
}

func cmdThread(c *debugCLI, ctx context.Context, args string) (any, error) {
	if args != "" {
		tid, err := strconv.Atoi(strings.TrimSpace(args))
		if err != nil {
			return nil, fmt.Errorf("%q is not a thread id (see threads)", args)
		}
		if err := c.d.SelectThread(tid); err != nil {
			return nil, err
		}
	}
	e := c.d.Where("thread")
	c.stop(e)
	return nil, nil
}

func cmdGoroutines(c *debugCLI, ctx context.Context, args string) (any, error) {
	res, err := c.d.Goroutines()
	if err != nil {
		return nil, err
	}
	type gj struct {
		ID       uint64 `json:"id"`
		State    string `json:"state"`
		Thread   int    `json:"thread,omitempty"`
		Function string `json:"function,omitempty"`
		File     string `json:"file,omitempty"`
		Line     int    `json:"line,omitempty"`
	}
	var out []gj
	for _, g := range res.Goroutines {
		j := gj{ID: g.ID, State: g.State, Thread: g.Thread}
		if g.Stack != nil {
			for _, f := range g.Stack.Shown(false) {
				j.Function, j.File, j.Line = f.Function, f.File, f.Line
				break
			}
		}
		out = append(out, j)
		s := fmt.Sprintf("  Goroutine %d [%s]", g.ID, g.State)
		if g.Thread != 0 {
			s += fmt.Sprintf(" thread %d", g.Thread)
		}
		if j.Function != "" {
			s += fmt.Sprintf(" %s %s:%d", j.Function, j.File, j.Line)
		}
		c.printf("%s\n", s)
	}
	c.printf("[%d goroutines]\n", len(out))
	return out, nil
}

func cmdGoroutine(c *debugCLI, ctx context.Context, args string) (any, error) {
	id, err := strconv.ParseUint(strings.TrimSpace(args), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%q is not a goroutine id (see goroutines)", args)
	}
	res, err := c.d.Goroutines()
	if err != nil {
		return nil, err
	}
	for _, g := range res.Goroutines {
		if g.ID != id {
			continue
		}
		if g.Thread != 0 {
			// Running: its thread holds its registers.
			if err := c.d.SelectThread(g.Thread); err != nil {
				return nil, err
			}
			c.stop(c.d.Where("goroutine"))
			return nil, nil
		}
		c.printf("Goroutine %d [%s] is not running: its stack (frame commands act on the selected thread):\n", g.ID, g.State)
		var p goroutines.Printer
		var b strings.Builder
		p.Goroutine(&b, g)
		c.printf("%s", b.String())
		var frames []unwind.Frame
		if g.Stack != nil {
			frames = g.Stack.Frames
		}
		return map[string]any{"id": g.ID, "state": g.State, "frames": frames}, nil
	}
	return nil, fmt.Errorf("no goroutine %d (see goroutines)", id)
}

func cmdRegs(c *debugCLI, ctx context.Context, args string) (any, error) {
	all := strings.TrimSpace(args) == "-a"
	if args != "" && !all {
		return nil, fmt.Errorf("%q: regs takes only -a", args)
	}
	f, err := c.d.CurrentFrame()
	if err != nil {
		return nil, err
	}
	rs := regList(c.d, f, all)
	for _, r := range rs {
		v := r.Value
		if v == "" {
			v = "<not saved>"
		}
		c.printf("%-8s %s\n", r.Name, v)
	}
	return rs, nil
}

func cmdDisass(c *debugCLI, ctx context.Context, args string) (any, error) {
	var start, end uint64
	var fs []string
	lines := false
	for _, f := range strings.Fields(args) {
		if f == "-l" {
			lines = true
		} else {
			fs = append(fs, f)
		}
	}
	switch {
	case len(fs) == 3 && fs[0] == "-a":
		var err error
		if start, err = c.d.AddressOf(fs[1]); err != nil {
			return nil, err
		}
		if end, err = c.d.AddressOf(fs[2]); err != nil {
			return nil, err
		}
	case len(fs) == 0:
		f, err := c.d.CurrentFrame()
		if err != nil {
			return nil, err
		}
		if start, end, err = c.d.FunctionRange(f.PC); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("disassemble takes nothing (the selected frame's function) or -a START END, and -l")
	}
	insns, err := c.d.Disassemble(start, end)
	if err != nil {
		return nil, err
	}
	if lines {
		c.d.Lines(insns)
	}
	var file string
	line := -1
	for _, in := range insns {
		if lines && (in.File != file || in.Line != line) {
			file, line = in.File, in.Line
			c.printf("%s:%d\n", orUnknownName(file), line)
		}
		mark := "   "
		if in.Current {
			mark = "=> "
		}
		sym := ""
		if in.Symbol != "" {
			sym = " <" + in.Symbol + ">"
		}
		c.printf("%s%s%s:\t%s\n", mark, in.PC, sym, in.Text)
	}
	return insns, nil
}

func cmdPrint(c *debugCLI, ctx context.Context, args string) (any, error) {
	if args == "" {
		return nil, errors.New("print what? (print EXPR)")
	}
	f, err := c.d.CurrentFrame()
	if err != nil {
		return nil, err
	}
	if c.json {
		return c.d.EvaluateJSON(f, args)
	}
	v, err := c.d.Evaluate(f, args)
	if err != nil {
		return nil, err
	}
	c.printf("%s\n", v)
	return v, nil
}

// cmdVars prints the variables a Debugger method lists.
func cmdVars(list func(*debugger.Debugger, *debugger.Frame) ([]string, error)) func(c *debugCLI, ctx context.Context, args string) (any, error) {
	return func(c *debugCLI, ctx context.Context, args string) (any, error) {
		f, err := c.d.CurrentFrame()
		if err != nil {
			return nil, err
		}
		vs, err := list(c.d, f)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			c.printf("%s\n", v)
		}
		return vs, nil
	}
}

func cmdExamine(c *debugCLI, ctx context.Context, args string) (any, error) {
	format, expr, _ := strings.Cut(args, " ")
	format = strings.TrimPrefix(format, "/")
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("x/FMT ADDR, e.g. x/4xw $sp")
	}
	f, err := c.d.CurrentFrame()
	if err != nil {
		return nil, err
	}
	addr, err := c.d.Address(f, strings.TrimSpace(expr))
	if err != nil {
		return nil, err
	}
	out, err := c.d.Examine(f, format, addr)
	if err != nil {
		return nil, err
	}
	c.printf("%s\n", strings.TrimRight(out, "\n"))
	return out, nil
}

func cmdSet(c *debugCLI, ctx context.Context, args string) (any, error) {
	lhs, rhs, ok := strings.Cut(args, "=")
	if !ok || strings.HasPrefix(rhs, "=") || strings.TrimSpace(lhs) == "" || strings.TrimSpace(rhs) == "" {
		return nil, errors.New("set LHS = EXPR, e.g. set $pc = 0x401000, set *(*uint32)(0x7bf6c) = 0x17ff9ee9")
	}
	f, err := c.d.CurrentFrame()
	if err != nil {
		return nil, err
	}
	return nil, c.d.Assign(f, strings.TrimSpace(lhs), strings.TrimSpace(rhs))
}

func cmdHandle(c *debugCLI, ctx context.Context, args string) (any, error) {
	fs := strings.Fields(args)
	if len(fs) == 0 {
		return nil, errors.New("handle SIG [stop|nostop|print|noprint|pass|nopass]...")
	}
	sig, err := debugger.ParseSignal(fs[0])
	if err != nil {
		return nil, err
	}
	p, err := c.d.Handle(sig, fs[1:])
	if err != nil {
		return nil, err
	}
	c.printf("%-10s stop=%v print=%v pass=%v\n", debugger.SignalName(sig), p.Stop, p.Print, p.Pass)
	return map[string]any{"signal": debugger.SignalName(sig), "stop": p.Stop, "print": p.Print, "pass": p.Pass}, nil
}

func cmdDetach(c *debugCLI, ctx context.Context, args string) (any, error) {
	c.done = true
	if err := c.d.Detach(); err != nil {
		return nil, err
	}
	c.printf("Detached from process %d\n", c.d.Pid)
	return nil, nil
}

func cmdKill(c *debugCLI, ctx context.Context, args string) (any, error) {
	c.done = true
	if err := c.d.Kill(); err != nil {
		return nil, err
	}
	c.printf("Killed process %d\n", c.d.Pid)
	return nil, nil
}

func cmdQuit(c *debugCLI, ctx context.Context, args string) (any, error) {
	return nil, c.close()
}

// infoTopics maps gdb's info subcommands to the commands that show them.
var infoTopics = map[string]string{"breakpoints": "breakpoints", "b": "breakpoints", "registers": "regs", "r": "regs",
	"all-registers": "regs -a", "threads": "threads", "frame": "frame", "f": "frame", "signals": "signals", "handle": "signals"}

func cmdInfo(c *debugCLI, ctx context.Context, args string) (any, error) {
	topic, rest, _ := strings.Cut(strings.TrimSpace(args), " ")
	to, ok := infoTopics[topic]
	if !ok {
		return nil, fmt.Errorf("info %q: know breakpoints, registers, all-registers, threads, frame, signals", topic)
	}
	if to == "signals" {
		return cmdSignals(c, rest)
	}
	name, arg, _ := strings.Cut(to, " ")
	return lookupCommand(name).run(c, ctx, strings.TrimSpace(arg+" "+rest))
}

// cmdSignals lists the signal policies (info signals [SIG]).
func cmdSignals(c *debugCLI, which string) (any, error) {
	var out []any
	for _, sig := range c.d.Signals() {
		name := debugger.SignalName(sig)
		if which != "" {
			if s, err := debugger.ParseSignal(which); err != nil || s != sig {
				continue
			}
		}
		p, _ := c.d.Handle(sig, nil)
		c.printf("%-10s stop=%v print=%v pass=%v\n", name, p.Stop, p.Print, p.Pass)
		out = append(out, map[string]any{"signal": name, "stop": p.Stop, "print": p.Print, "pass": p.Pass})
	}
	return out, nil
}

func cmdHelp(c *debugCLI, ctx context.Context, args string) (any, error) {
	w := io.Writer(c.out)
	if c.json {
		w = io.Discard
	}
	for _, cmd := range debugCommands {
		alias := ""
		if len(cmd.names) > 1 {
			alias = " (" + strings.Join(cmd.names[1:], ", ") + ")"
		}
		fmt.Fprintf(w, "  %-44s %s%s\n", cmd.usage, cmd.help, alias)
	}
	return nil, nil
}

// gdbFlags rewrites gdb's single-dash long flags (-ex, -batch) of a debug
// command line into the double-dash ones pflag reads; the words after "--"
// (the program to start) are left alone.
func gdbFlags(args []string) []string {
	if len(args) < 2 || args[1] != "debug" {
		return args
	}
	out := append([]string(nil), args...)
	for i := 2; i < len(out); i++ {
		switch out[i] {
		case "--":
			return out
		case "-ex", "-batch", "-json":
			out[i] = "-" + out[i]
		}
	}
	return out
}
