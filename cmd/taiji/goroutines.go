package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/core"
	"github.com/taijidbg/taiji/goroutines"
	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

type goroutinesFlags struct {
	coreFlags           // --core, --exe, --sysroot (stackcore.go)
	json, group, system bool
	pprof               string
	states              []string
	minWait             time.Duration
	match               string
	maxFrames           int
	after               time.Duration
	noCache             bool
}

func goroutinesCmd() *cobra.Command {
	var fl goroutinesFlags
	c := &cobra.Command{
		Use:   "goroutines [flags] PID | goroutines [flags] -- CMD [ARG...] | goroutines --core FILE",
		Short: "List every goroutine of a live Go process, from outside, stripped or not",
		Long: `List every goroutine of a live Go process in Go's own traceback format (as
runtime.Stack(buf, true) and a crash print it): id, state and wait reason,
wait time, frames, and the go statement that created it. The program's
cooperation is not needed (no pprof endpoint, no agent) and neither is its
DWARF: binaries built with -ldflags='-s -w' work too. The process is stopped
only while its goroutine structures and stacks are copied.

Runtime-internal goroutines and runtime frames are hidden unless --system, as
GOTRACEBACK=system would show them.

With --core FILE, the goroutines of the process a core file recorded (taiji
dump, gcore, the kernel; any arch), without wait times.`,
		Args: fl.coreFlags.args,
		RunE: func(c *cobra.Command, args []string) error {
			if fl.core != "" {
				return runGoroutinesCore(&fl)
			}
			pid, stop, err := inspected(c, args, fl.after)
			if err != nil {
				return err
			}
			return stop(runGoroutines(pid, &fl))
		},
	}
	f := c.Flags()
	f.BoolVar(&fl.json, "json", false, "print JSON (schema in docs/json.md)")
	f.BoolVar(&fl.group, "group", false, "collapse goroutines with the same state and stack into one entry with a count, largest first")
	f.BoolVar(&fl.system, "system", false, "also the runtime's own goroutines and frames (as GOTRACEBACK=system)")
	f.StringVar(&fl.pprof, "pprof", "", "also write a goroutine profile (pprof protobuf) to `FILE`, for go tool pprof")
	f.StringSliceVar(&fl.states, "state", nil, "only goroutines in this state: a wait reason (\"chan receive\") or a status (waiting, running, syscall, runnable); repeatable")
	f.DurationVar(&fl.minWait, "min-wait", 0, "only goroutines blocked at least this long (the runtime knows it once a GC has seen them blocked)")
	f.StringVar(&fl.match, "match", "", "only goroutines with a frame whose function or file:line matches this `regexp`")
	f.IntVar(&fl.maxFrames, "max-frames", 0, "at most N frames per goroutine, keeping both ends (0: no limit)")
	f.DurationVar(&fl.after, "after", time.Second, "with -- CMD: how long to let CMD run before the snapshot")
	f.BoolVar(&fl.noCache, "no-cache", false, "do not keep inflated debug sections in ~/.cache/taiji between runs")
	fl.coreFlags.add(f)
	return c
}

func runGoroutines(pid int, fl *goroutinesFlags) error {
	// What is kept grows with the goroutines (a million of them, here and
	// in the target); taiji's usual GC percent would let garbage pile up
	// to four times that.
	debug.SetGCPercent(25)
	var notes []string
	if tg, err := proc.Tgid(pid); err == nil && tg != pid {
		notes = append(notes, fmt.Sprintf("%d is a thread of PID %d: the goroutines of PID %d are shown", pid, tg, tg))
		pid = tg
	}
	opts := moduleOptions(proc.Root(pid), nil, fl.noCache)
	u := unwind.New(arch.Host(), opts)
	defer u.Close()
	uopts := unwind.Options{MaxFrames: fl.maxFrames, NoKernel: true}
	ctx, stop := interruptible()
	r := goroutines.NewReader(u, goroutines.Options{Options: uopts, Context: ctx})
	snap, err := proc.Freeze(ctx, pid, proc.FreezeOptions{
		Prepare: r.Prepare,
		Copy: func(s *target.Snapshot) []target.Segment {
			return append(u.CopyGoState(s), r.Copy(s)...)
		},
	})
	stop()
	if err != nil {
		return goroutinesError(fmt.Sprintf("PID %d", pid), err)
	}
	threads, unotes := u.Process(snap, uopts)
	res, err := r.Read(snap, threads)
	if err != nil {
		return goroutinesError(fmt.Sprintf("PID %d", pid), err)
	}
	snap.Extra = nil // the goroutines' stacks, unwound: not needed to print
	res.Notes = append(append(append(notes, snap.Warnings...), unotes...), res.Notes...)
	return printGoroutines(res, snap.Exe, fl)
}

// runGoroutinesCore lists the goroutines of the process a core recorded.
func runGoroutinesCore(fl *goroutinesFlags) error {
	debug.SetGCPercent(25)
	c, err := core.Open(fl.core, core.Options{Exe: fl.exe, Sysroot: fl.sysroot})
	if err != nil {
		return err
	}
	defer c.Close()
	snap := c.Snapshot
	opts := moduleOptions(fl.sysroot, nil, fl.noCache)
	u := unwind.New(snap.Arch, opts)
	defer u.Close()
	uopts := unwind.Options{MaxFrames: fl.maxFrames, NoKernel: true}
	r := goroutines.NewReader(u, goroutines.Options{Options: uopts, Offline: true})
	if err := r.Prepare(snap); err != nil {
		return goroutinesError(fl.core, err)
	}
	r.Copy(snap)
	threads, unotes := u.Process(snap, uopts)
	res, err := r.Read(snap, threads)
	if err != nil {
		return goroutinesError(fl.core, err)
	}
	var notes []string
	if n := signalNote(c); n != "" {
		notes = append(notes, n)
	}
	res.Notes = append(append(append(notes, snap.Warnings...), unotes...), res.Notes...)
	return printGoroutines(res, snap.Exe, fl)
}

// printGoroutines filters res and prints it as fl says.
func printGoroutines(res *goroutines.Result, exe string, fl *goroutinesFlags) error {
	filter := goroutines.Filter{System: fl.system, States: fl.states, MinWait: fl.minWait}
	if fl.match != "" {
		re, err := regexp.Compile(fl.match)
		if err != nil {
			return fmt.Errorf("--match: %v", err)
		}
		filter.Match = re
	}
	var shown []*goroutines.Goroutine
	for _, g := range res.Goroutines {
		if filter.Keep(g) {
			shown = append(shown, g)
		}
	}
	if len(shown) == 0 {
		res.Notes = append(res.Notes, noneShown(res, &filter))
	}
	if fl.pprof != "" {
		if err := writePprofFile(fl.pprof, shown, exe); err != nil {
			return err
		}
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if fl.json {
		return writeGoroutinesJSON(w, res, exe, shown, fl)
	}
	fmt.Fprintf(w, "Process %d (%s), %s, %d goroutines", res.Pid, exe, res.GoVersion, len(res.Goroutines))
	if len(shown) != len(res.Goroutines) {
		fmt.Fprintf(w, ", %d shown", len(shown))
	}
	if res.Frozen > 0 {
		fmt.Fprintf(w, ", frozen %v", res.Frozen.Round(time.Microsecond))
	}
	fmt.Fprintln(w)
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	p := &goroutines.Printer{System: fl.system}
	if fl.group {
		for _, gr := range goroutines.GroupBy(shown) {
			fmt.Fprintln(w)
			p.Group(w, gr)
		}
		return nil
	}
	for _, g := range shown {
		fmt.Fprintln(w)
		p.Goroutine(w, g)
	}
	return nil
}

// goroutinesError turns what stops a listing into one line that says what
// to do.
func goroutinesError(what string, err error) error {
	stack := "taiji stack " + strings.TrimPrefix(what, "PID ")
	if !strings.HasPrefix(what, "PID ") {
		stack = "taiji stack --core " + what
	}
	switch {
	case errors.Is(err, goroutines.ErrNotGo) && !strings.HasPrefix(what, "PID "):
		return fmt.Errorf("%s: %v: if the program that dumped core was moved or deleted, give it with --exe (only Go programs have goroutines; %s shows its threads)", what, err, stack)
	case errors.Is(err, goroutines.ErrNotGo):
		return fmt.Errorf("%s: %v; only Go programs have goroutines (%s shows its threads)", what, err, stack)
	case errors.Is(err, goruntime.ErrUnknownLayout):
		return fmt.Errorf("%s: %v: taiji cannot list its goroutines (%s still shows its threads); a build with DWARF (without -ldflags=-w) works", what, err, stack)
	case errors.Is(err, goroutines.ErrNoAllgs):
		return fmt.Errorf("%s: %v: taiji cannot find the goroutine list in this binary; %s still shows its threads", what, err, stack)
	case errors.Is(err, goroutines.ErrBadLayout):
		return fmt.Errorf("%s: %v: taiji refuses to print what it cannot trust; please report this with the program's Go version", what, err)
	}
	return err
}

func writePprofFile(path string, gs []*goroutines.Goroutine, exe string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--pprof: %v", err)
	}
	if err := goroutines.WritePprof(f, gs, exe, time.Now()); err != nil {
		f.Close()
		return fmt.Errorf("--pprof: writing %s: %v", path, err)
	}
	return f.Close()
}

// goroutineJSON is one goroutine in --json output (docs/json.md).
type goroutineJSON struct {
	ID         uint64          `json:"id"`
	Status     string          `json:"status"`
	State      string          `json:"state"`
	WaitReason string          `json:"wait_reason,omitempty"`
	WaitNs     *int64          `json:"wait_ns,omitempty"`
	Thread     int             `json:"thread,omitempty"`
	Locked     bool            `json:"locked"`
	System     bool            `json:"system"`
	Parent     uint64          `json:"parent,omitempty"`
	Omitted    int             `json:"omitted,omitempty"`
	Note       string          `json:"note,omitempty"`
	CreatedBy  json.RawMessage `json:"-"` // spliced in by withFrames
	Frames     json.RawMessage `json:"-"`
}

type groupJSON struct {
	Count     int             `json:"count"`
	IDs       []uint64        `json:"ids"`
	State     string          `json:"state"`
	Locked    bool            `json:"locked"`
	MinWaitNs *int64          `json:"min_wait_ns,omitempty"`
	MaxWaitNs *int64          `json:"max_wait_ns,omitempty"`
	CreatedBy json.RawMessage `json:"-"` // spliced in by withFrames
	Frames    json.RawMessage `json:"-"`
}

// withFrames appends to line the JSON object b with "created_by" (if any)
// and "frames" added as they are. Both are encoded once per distinct value
// and spliced in: a json.RawMessage field is re-validated and compacted on
// every Marshal, which was half the time of listing a million goroutines.
func withFrames(line, b []byte, createdBy, frames json.RawMessage) []byte {
	b = append(line, b[:len(b)-1]...) // without the closing brace
	if createdBy != nil {
		b = append(append(b, `,"created_by":`...), createdBy...)
	}
	b = append(append(b, `,"frames":`...), frames...)
	return append(b, '}')
}

type goroutinesHead struct {
	Pid       int      `json:"pid"`
	Exe       string   `json:"exe"`
	GoVersion string   `json:"go_version"`
	Layout    string   `json:"layout"`
	Vars      string   `json:"vars"`
	FrozenNs  int64    `json:"frozen_ns"`
	Total     int      `json:"total"`
	Notes     []string `json:"notes"`
}

// writeGoroutinesJSON streams the --json document: the head's fields, then
// one goroutine (or group) per line, so that a million goroutines are never
// one value in memory. Each distinct stack's frames are encoded once.
func writeGoroutinesJSON(w io.Writer, res *goroutines.Result, exe string, shown []*goroutines.Goroutine, fl *goroutinesFlags) error {
	head := goroutinesHead{Pid: res.Pid, Exe: exe, GoVersion: res.GoVersion, Layout: res.Layout, Vars: res.Vars,
		FrozenNs: res.Frozen.Nanoseconds(), Total: len(res.Goroutines), Notes: res.Notes}
	if head.Notes == nil {
		head.Notes = []string{}
	}
	b, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	w.Write(b[:len(b)-2]) // without the closing "\n}"
	frames := map[*goroutines.Stack]json.RawMessage{}
	encFrames := func(st *goroutines.Stack) json.RawMessage {
		if f, ok := frames[st]; ok {
			return f
		}
		f, _ := json.Marshal(st.Shown(fl.system))
		frames[st] = f
		return f
	}
	creators := map[unwind.Frame]json.RawMessage{}
	encCreator := func(f *unwind.Frame) json.RawMessage {
		if f == nil {
			return nil
		}
		if b, ok := creators[*f]; ok {
			return b
		}
		b, _ := json.Marshal(f)
		creators[*f] = b
		return b
	}
	ns := func(d time.Duration) *int64 {
		if d < 0 {
			return nil
		}
		v := d.Nanoseconds()
		return &v
	}
	var line []byte
	item := func(i int, v any, createdBy, frames json.RawMessage) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		sep := ",\n    "
		if i == 0 {
			sep = "\n    "
		}
		line = withFrames(append(line[:0], sep...), b, createdBy, frames)
		_, err = w.Write(line)
		return err
	}
	if fl.group {
		io.WriteString(w, ",\n  \"groups\": [")
		for i, gr := range goroutines.GroupBy(shown) {
			g := gr.Goroutines[0]
			j := groupJSON{Count: len(gr.Goroutines), State: g.State, Locked: g.Locked, MinWaitNs: ns(gr.MinWait), MaxWaitNs: ns(gr.MaxWait)}
			for _, x := range gr.Goroutines {
				j.IDs = append(j.IDs, x.ID)
			}
			if err := item(i, j, encCreator(g.CreatedBy), encFrames(g.Stack)); err != nil {
				return err
			}
		}
	} else {
		io.WriteString(w, ",\n  \"goroutines\": [")
		for i, g := range shown {
			j := goroutineJSON{ID: g.ID, Status: goroutines.StatusName(g), State: g.State,
				WaitReason: g.WaitReason, WaitNs: ns(g.Wait), Thread: g.Thread, Locked: g.Locked, System: g.System,
				Parent: g.Parent, Omitted: g.Stack.Omitted, Note: g.Stack.Note}
			if err := item(i, j, encCreator(g.CreatedBy), encFrames(g.Stack)); err != nil {
				return err
			}
		}
	}
	_, err = io.WriteString(w, "\n  ]\n}\n")
	return err
}

// noneShown says why the filters left no goroutine: what they could have
// matched.
func noneShown(res *goroutines.Result, f *goroutines.Filter) string {
	if f.MinWait > 0 {
		known := false
		for _, g := range res.Goroutines {
			known = known || g.Wait >= 0
		}
		if !known {
			return "no goroutine shown: no wait time is known here (a core, or no GC has run since they blocked), so --min-wait matches none"
		}
	}
	states := map[string]int{}
	for _, g := range res.Goroutines {
		if !g.System || f.System {
			states[g.State]++
		}
	}
	var list []string
	for s, n := range states {
		list = append(list, fmt.Sprintf("%q (%d)", s, n))
	}
	sort.Strings(list)
	return "no goroutine matches the filters; the states here: " + strings.Join(list, ", ")
}
