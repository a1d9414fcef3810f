package gotraceback

import (
	"fmt"
	"strings"
)

// Options tune Compare.
type Options struct {
	// SkipUnstable compares only the presence of the goroutines the oracle
	// (want) shows running or runnable: they move between two looks at
	// the process (the goroutine that dumped the oracle was running then).
	SkipUnstable bool
	// Offsets compares the " +0x..." offsets of frames and of "created
	// by", not only whether each frame has one.
	Offsets bool
	// WaitSlack lets got's "N minutes" exceed want's by up to this many:
	// got is looked at after want, and a minute may turn in between.
	WaitSlack int
}

// Unstable reports whether a goroutine in state moves by itself: running
// or runnable.
func Unstable(state string) bool {
	return state == "running" || state == "runnable"
}

// Compare lists how got differs from want, goroutine by goroutine, in
// want's order and then got's extra goroutines: a goroutine missing from
// either side, and for each goroutine in both a different state, wait time,
// thread lock, creator (function, file:line, goroutine), frame count or
// frame (function, file:line, whether inlined; offsets with o.Offsets). An
// empty result means they agree.
func Compare(want, got []Goroutine, o Options) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	gotByID := make(map[int64]int, len(got))
	for i, g := range got {
		if _, dup := gotByID[g.ID]; dup {
			add("goroutine %d: listed twice", g.ID)
			continue
		}
		gotByID[g.ID] = i
	}
	wantIDs := make(map[int64]bool, len(want))
	for _, w := range want {
		wantIDs[w.ID] = true
		i, ok := gotByID[w.ID]
		if !ok {
			add("goroutine %d [%s] %s: missing", w.ID, w.State, firstFunc(w))
			continue
		}
		if o.SkipUnstable && Unstable(w.State) {
			continue
		}
		diffs = append(diffs, compareOne(w, got[i], o)...)
	}
	for _, g := range got {
		if !wantIDs[g.ID] {
			add("goroutine %d [%s] %s: not in the oracle", g.ID, g.State, firstFunc(g))
		}
	}
	return diffs
}

func firstFunc(g Goroutine) string {
	if len(g.Frames) > 0 {
		return "in " + g.Frames[0].Func
	}
	return "without frames"
}

// compareOne compares two views of one goroutine.
func compareOne(w, g Goroutine, o Options) []string {
	var diffs []string
	add := func(format string, args ...any) {
		diffs = append(diffs, fmt.Sprintf("goroutine %d: ", w.ID)+fmt.Sprintf(format, args...))
	}
	if g.State != w.State || g.Durable != w.Durable || g.Leaked != w.Leaked {
		add("state %q, want %q", stateText(g), stateText(w))
	}
	if g.WaitMinutes < w.WaitMinutes || g.WaitMinutes > w.WaitMinutes+o.WaitSlack {
		add("waiting %d minutes, want %d", g.WaitMinutes, w.WaitMinutes)
	}
	if g.Locked != w.Locked {
		add("locked to thread %v, want %v", g.Locked, w.Locked)
	}
	if g.Unavailable != w.Unavailable {
		add("stack unavailable %v, want %v", g.Unavailable, w.Unavailable)
	}
	if g.Elided != w.Elided || g.ElidedAt != w.ElidedAt {
		add("%d frames elided before frame %d, want %d before %d", g.Elided, g.ElidedAt, w.Elided, w.ElidedAt)
	}
	if i, why := firstFrameDiff(w.Frames, g.Frames, o); why != "" {
		add("frame %d: %s\ngot:\n%swant:\n%s", i, why, frameLines(g.Frames), frameLines(w.Frames))
	}
	switch {
	case w.CreatedBy == nil && g.CreatedBy != nil:
		add("created by %s, want no creator", g.CreatedBy.Func)
	case w.CreatedBy != nil && g.CreatedBy == nil:
		add("no creator, want created by %s", w.CreatedBy.Func)
	case w.CreatedBy != nil:
		if !sameFrame(*w.CreatedBy, *g.CreatedBy, o) {
			add("created by %s, want %s", frameText(*g.CreatedBy), frameText(*w.CreatedBy))
		}
		if g.CreatorGoid != w.CreatorGoid {
			add("created in goroutine %d, want %d", g.CreatorGoid, w.CreatorGoid)
		}
	}
	return diffs
}

func stateText(g Goroutine) string {
	s := g.State
	if g.Leaked {
		s += " (leaked)"
	}
	if g.Durable {
		s += " (durable)"
	}
	return s
}

// firstFrameDiff returns the index of the first frame that differs and
// why, or "" if the stacks agree.
func firstFrameDiff(want, got []Frame, o Options) (int, string) {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return i, fmt.Sprintf("missing, want %s (%d frames, want %d)", frameText(want[i]), len(got), len(want))
		case i >= len(want):
			return i, fmt.Sprintf("%s is one too many (%d frames, want %d)", frameText(got[i]), len(got), len(want))
		case !sameFrame(want[i], got[i], o):
			return i, fmt.Sprintf("%s, want %s", frameText(got[i]), frameText(want[i]))
		}
	}
	return 0, ""
}

// sameFrame compares function, position, whether the frame is physical
// (has an offset) and, with o.Offsets, the offset. Arguments are not
// compared: they are register and stack words the runtime prints as it
// finds them.
func sameFrame(w, g Frame, o Options) bool {
	return w.Func == g.Func && w.File == g.File && w.Line == g.Line && w.HasOffset == g.HasOffset &&
		(!o.Offsets || w.Offset == g.Offset)
}

func frameText(f Frame) string {
	s := fmt.Sprintf("%s at %s:%d", f.Func, f.File, f.Line)
	if f.HasOffset {
		s += fmt.Sprintf(" +%#x", f.Offset)
	} else {
		s += " (inlined)"
	}
	return s
}

func frameLines(fs []Frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\t" + frameText(f) + "\n")
	}
	return b.String()
}
