package goroutines

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/taijidbg/taiji/unwind"
)

// Filter selects goroutines; the zero Filter keeps the user goroutines.
type Filter struct {
	System bool // also the runtime's own goroutines
	// States keeps goroutines whose State or status name ("waiting",
	// "running") is one of these, compared without case; none keeps all.
	States  []string
	MinWait time.Duration // keep goroutines blocked at least this long (known wait times only)
	// Match keeps goroutines with a frame (or the creator) whose function
	// or file:line matches.
	Match *regexp.Regexp
}

// Keep reports whether g passes f.
func (f *Filter) Keep(g *Goroutine) bool {
	if g.System && !f.System {
		return false
	}
	if len(f.States) > 0 {
		ok := false
		for _, s := range f.States {
			if strings.EqualFold(s, g.State) || strings.EqualFold(s, StatusName(g)) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if f.MinWait > 0 && g.Wait < f.MinWait {
		return false
	}
	if f.Match != nil {
		match := func(fr *unwind.Frame) bool {
			return f.Match.MatchString(fr.Function) || f.Match.MatchString(fmt.Sprintf("%s:%d", fr.File, fr.Line))
		}
		ok := g.CreatedBy != nil && match(g.CreatedBy)
		for i := range g.Stack.Frames {
			ok = ok || match(&g.Stack.Frames[i])
		}
		if !ok {
			return false
		}
	}
	return true
}

// StatusName is g's status as the runtime names it ("waiting", "running",
// "syscall"), without the wait reason that State gives instead.
func StatusName(g *Goroutine) string {
	if g.WaitReason != "" {
		return "waiting"
	}
	return g.State
}

// ShowFrame is Go's showframe at GOTRACEBACK below system
// (runtime/traceback.go showfuncinfo): frames of unexported runtime
// functions and of functions with no package (assembly glue) are hidden;
// runtime.gopanic is kept between other frames. system shows them all.
func ShowFrame(f *unwind.Frame, first, system bool) bool {
	if system {
		return true
	}
	name := f.Function
	if name == "runtime.gopanic" && !first {
		return true
	}
	if name == "" {
		// An unnamed frame (C code without symbols under a cgo call)
		// is shown: hiding it would hide that the walk went there.
		return true
	}
	if !strings.Contains(name, ".") {
		return false
	}
	return !strings.HasPrefix(name, "runtime.") || isExportedRuntime(name)
}

// isExportedRuntime is runtime.isExportedRuntime: runtime.Gosched, or an
// exported method of an exported runtime type.
func isExportedRuntime(name string) bool {
	name, ok := strings.CutPrefix(name, "runtime.")
	if !ok {
		return false
	}
	rcvr := ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		rcvr, name = name[:i], name[i+1:]
		if len(rcvr) >= 3 && rcvr[0] == '(' && rcvr[1] == '*' && rcvr[len(rcvr)-1] == ')' {
			rcvr = rcvr[2 : len(rcvr)-1]
		}
	}
	up := func(s string) bool { return len(s) > 0 && 'A' <= s[0] && s[0] <= 'Z' }
	return up(name) && (rcvr == "" || up(rcvr))
}

// FuncNameForPrint is runtime.funcNameForPrint: a generic function's shape
// arguments print as "[...]".
func FuncNameForPrint(name string) string {
	i := strings.IndexByte(name, '[')
	if i < 0 {
		return name
	}
	j := strings.LastIndexByte(name, ']')
	if j <= i {
		return name
	}
	return name[:i] + "[...]" + name[j+1:]
}

// Header is the line Go's traceback starts a goroutine with
// (runtime.goroutineheader), without the trailing colon:
// "goroutine 18 [chan receive, 12 minutes, locked to thread]".
func Header(g *Goroutine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine %d [%s", g.ID, g.State)
	if g.Status == statusLeaked {
		b.WriteString(" (leaked)")
	}
	if g.Scan {
		b.WriteString(" (scan)")
	}
	if m := g.Wait / time.Minute; g.Wait >= 0 && m >= 1 {
		fmt.Fprintf(&b, ", %d minutes", m)
	}
	if g.Locked {
		b.WriteString(", locked to thread")
	}
	if g.Thread != 0 {
		// Not Go's: which thread runs it (status running or syscall).
		fmt.Fprintf(&b, ", thread %d", g.Thread)
	}
	b.WriteString("]")
	return b.String()
}

const statusLeaked = 10

// Printer writes goroutines in the format of Go's own traceback (what
// runtime.Stack(buf, true) and a crash print), so that tools reading Go
// crash dumps read it. System shows runtime frames (GOTRACEBACK=system).
// Beyond Go's format, a header names the thread of a goroutine that is
// running or in a system call (", thread TID"), and a walk that ended
// early says why in a line "[taiji: ...]" after the frames. A Printer
// renders each distinct stack once: a million goroutines share a few.
type Printer struct {
	System bool

	stacks   map[*Stack]string
	creators map[*unwind.Frame]string
}

// Goroutine writes g, its frames and its creator.
func (p *Printer) Goroutine(w io.Writer, g *Goroutine) {
	io.WriteString(w, Header(g))
	io.WriteString(w, ":\n")
	io.WriteString(w, p.frames(g.Stack))
	if c := g.CreatedBy; c != nil && ShowFrame(c, false, p.System) {
		io.WriteString(w, "created by ")
		io.WriteString(w, FuncNameForPrint(c.Function))
		if g.Parent != 0 {
			fmt.Fprintf(w, " in goroutine %d", g.Parent)
		}
		io.WriteString(w, p.creator(c))
	}
}

// frames renders st's shown frames, once per stack.
func (p *Printer) frames(st *Stack) string {
	if s, ok := p.stacks[st]; ok {
		return s
	}
	var b strings.Builder
	writeFrames(&b, st, p.System)
	if p.stacks == nil {
		p.stacks = map[*Stack]string{}
	}
	p.stacks[st] = b.String()
	return p.stacks[st]
}

// creator renders the go statement's location line (after the creator's
// name and parent: runtime.printcreatedby1), once per creator.
func (p *Printer) creator(c *unwind.Frame) string {
	if s, ok := p.creators[c]; ok {
		return s
	}
	if p.creators == nil {
		p.creators = map[*unwind.Frame]string{}
	}
	p.creators[c] = fmt.Sprintf("\n\t%s:%d +%#x\n", orUnknown(c.File), c.Line, c.Offset)
	return p.creators[c]
}

// Shown returns the frames of st that Go's traceback shows (all of them
// with system), as the text output prints them: ShowFrame's rule, and
// autogenerated wrappers (the closure a go statement with arguments
// compiles to, method value wrappers) left out unless they called a panic;
// and, as Go, all of them when that would leave none.
func (st *Stack) Shown(system bool) []unwind.Frame {
	out := make([]unwind.Frame, 0, len(st.Frames))
	for i := range st.Frames {
		f := &st.Frames[i]
		if f.Kind == unwind.Kernel || !ShowFrame(f, i == 0, system) {
			continue
		}
		if !system && i < len(st.wrapper) && st.wrapper[i] && (i == 0 || !panicking[st.Frames[i-1].Function]) {
			continue
		}
		out = append(out, *f)
	}
	if len(out) == 0 && !system && len(st.Frames) > 0 {
		// Go's traceback prints every frame when its rules would print
		// none (runtime/traceback.go traceback1: a goroutine that has not
		// started shows the wrapper it will start in). runtime.goexit,
		// below it, does not show there.
		for _, f := range st.Frames {
			if f.Kind != unwind.Kernel && f.Function != "runtime.goexit" {
				out = append(out, f)
			}
		}
	}
	return out
}

// panicking are the callees for which Go keeps a wrapper frame
// (runtime.elideWrapperCalling).
var panicking = map[string]bool{"runtime.gopanic": true, "runtime.sigpanic": true, "runtime.panicwrap": true}

func writeFrames(w io.Writer, st *Stack, system bool) {
	for _, f := range st.Shown(system) {
		name := FuncNameForPrint(f.Function)
		if name == "" {
			name = fmt.Sprintf("?? %#x", f.PC)
			if f.Module != "" {
				name += " in " + f.Module
			}
		}
		if f.Kind == unwind.Inline {
			fmt.Fprintf(w, "%s(...)\n\t%s:%d\n", name, orUnknown(f.File), f.Line)
			continue
		}
		if f.Offset == 0 {
			// At the function's entry (a goroutine not started yet): Go
			// prints no offset then.
			fmt.Fprintf(w, "%s(...)\n\t%s:%d\n", name, orUnknown(f.File), f.Line)
			continue
		}
		fmt.Fprintf(w, "%s(...)\n\t%s:%d +%#x\n", name, orUnknown(f.File), f.Line, f.Offset)
	}
	if st.Omitted > 0 {
		fmt.Fprintf(w, "...%d frames elided...\n", st.Omitted)
	}
	if st.Note != "" {
		fmt.Fprintf(w, "[taiji: %s]\n", st.Note)
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// Group is goroutines with the same state, stack and creator.
type Group struct {
	Goroutines []*Goroutine // in allgs order
	// MinWait and MaxWait bound the known wait times (-1: none known).
	MinWait, MaxWait time.Duration
}

// GroupBy collapses gs into groups of equal state, stack and creator,
// largest first (then in allgs order). Stacks are equal when their walks
// found the same PCs (Read shares one Stack between them).
func GroupBy(gs []*Goroutine) []*Group {
	type key struct {
		state   string
		locked  bool
		stack   *Stack
		creator *unwind.Frame
	}
	by := map[key]*Group{}
	var out []*Group
	for _, g := range gs {
		k := key{g.State, g.Locked, g.Stack, g.CreatedBy}
		gr := by[k]
		if gr == nil {
			gr = &Group{MinWait: -1, MaxWait: -1}
			by[k] = gr
			out = append(out, gr)
		}
		gr.Goroutines = append(gr.Goroutines, g)
		if g.Wait >= 0 {
			if gr.MinWait < 0 || g.Wait < gr.MinWait {
				gr.MinWait = g.Wait
			}
			gr.MaxWait = max(gr.MaxWait, g.Wait)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].Goroutines) > len(out[j].Goroutines) })
	return out
}

// Group writes a group in the traceback format, its header counting the
// goroutines and naming the first ids:
// "42 goroutines [chan receive, 3-12 minutes]: 18 19 20 ... (39 more)".
func (p *Printer) Group(w io.Writer, gr *Group) {
	g := gr.Goroutines[0]
	n := len(gr.Goroutines)
	word := "goroutines"
	if n == 1 {
		word = "goroutine"
	}
	fmt.Fprintf(w, "%d %s [%s", n, word, g.State)
	if lo, hi := gr.MinWait/time.Minute, gr.MaxWait/time.Minute; gr.MaxWait >= time.Minute {
		if lo == hi {
			fmt.Fprintf(w, ", %d minutes", hi)
		} else {
			fmt.Fprintf(w, ", %d-%d minutes", lo, hi)
		}
	}
	if g.Locked {
		fmt.Fprint(w, ", locked to thread")
	}
	fmt.Fprint(w, "]:")
	const ids = 10
	for i, x := range gr.Goroutines {
		if i == ids {
			fmt.Fprintf(w, " ... (%d more)", n-ids)
			break
		}
		fmt.Fprintf(w, " %d", x.ID)
	}
	fmt.Fprintln(w)
	io.WriteString(w, p.frames(g.Stack))
	if c := g.CreatedBy; c != nil && ShowFrame(c, false, p.System) {
		io.WriteString(w, "created by ")
		io.WriteString(w, FuncNameForPrint(c.Function))
		io.WriteString(w, p.creator(c))
	}
}
