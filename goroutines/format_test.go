package goroutines

import (
	"strings"
	"testing"
	"time"

	"github.com/taijidbg/taiji/unwind"
)

func TestFuncNameForPrint(t *testing.T) {
	for in, want := range map[string]string{
		"main.generic[go.shape.int]":                "main.generic[...]",
		"main.(*T[go.shape.string,go.shape.int]).M": "main.(*T[...]).M",
		"main.plain":                  "main.plain",
		"main.odd]name[":              "main.odd]name[",
		"pkg.F[go.shape.[]int].func1": "pkg.F[...].func1",
	} {
		if got := FuncNameForPrint(in); got != want {
			t.Errorf("FuncNameForPrint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShowFrame(t *testing.T) {
	for name, want := range map[string]bool{
		"runtime.gopark":                 false,
		"runtime.Gosched":                true,
		"runtime.(*Func).Name":           true,
		"runtime.(*mheap).alloc":         false,
		"runtime.main":                   false,
		"runtime/debug.Stack":            true,
		"main.worker":                    true,
		"internal/poll.runtime_pollWait": true,
		"asmcgocall":                     false,
		"":                               true,
	} {
		f := unwind.Frame{Function: name}
		if got := ShowFrame(&f, true, false); got != want {
			t.Errorf("ShowFrame(%q) = %v, want %v", name, got, want)
		}
		if !ShowFrame(&f, true, true) {
			t.Errorf("ShowFrame(%q, system) = false", name)
		}
	}
	panicFrame := unwind.Frame{Function: "runtime.gopanic"}
	if ShowFrame(&panicFrame, true, false) || !ShowFrame(&panicFrame, false, false) {
		t.Error("runtime.gopanic must show between frames, not as the first")
	}
}

func TestHeader(t *testing.T) {
	for _, c := range []struct {
		g    Goroutine
		want string
	}{
		{Goroutine{ID: 18, State: "chan receive", Wait: 12*time.Minute + 5*time.Second}, "goroutine 18 [chan receive, 12 minutes]"},
		{Goroutine{ID: 7, State: "select", Wait: 59 * time.Second}, "goroutine 7 [select]"},
		{Goroutine{ID: 7, State: "select", Wait: -1, Locked: true}, "goroutine 7 [select, locked to thread]"},
		{Goroutine{ID: 3, State: "running", Wait: -1, Thread: 4242}, "goroutine 3 [running, thread 4242]"},
		{Goroutine{ID: 9, State: "GC worker (idle)", Wait: -1, Scan: true}, "goroutine 9 [GC worker (idle) (scan)]"},
		{Goroutine{ID: 5, State: "chan receive", Status: statusLeaked, Wait: -1}, "goroutine 5 [chan receive (leaked)]"},
	} {
		if got := Header(&c.g); got != c.want {
			t.Errorf("Header = %q, want %q", got, c.want)
		}
	}
}

func TestPrinterAndGroups(t *testing.T) {
	creator := &unwind.Frame{Kind: unwind.User, Function: "main.start", File: "/src/main.go", Line: 22, Offset: 0x85}
	st := &Stack{Frames: []unwind.Frame{
		{Kind: unwind.User, Function: "runtime.gopark", File: "proc.go", Line: 1, Offset: 0x10},
		{Kind: unwind.Inline, Function: "main.recv", File: "/src/w.go", Line: 13},
		{Kind: unwind.User, Function: "main.worker[go.shape.int]", File: "/src/w.go", Line: 41, Offset: 0x3d},
		{Kind: unwind.User, Function: "main.start.gowrap1", File: "/src/main.go", Line: 22, Offset: 0x19},
		{Kind: unwind.User, Function: "runtime.goexit", File: "asm.s", Line: 1, Offset: 1},
	}, wrapper: []bool{false, false, false, true, false}}
	other := &Stack{Frames: []unwind.Frame{{Kind: unwind.User, Function: "main.idle", File: "/src/i.go", Line: 3, Offset: 4}}}
	gs := []*Goroutine{
		{ID: 18, State: "chan receive", Wait: 3 * time.Minute, Parent: 1, Stack: st, CreatedBy: creator},
		{ID: 19, State: "select", Wait: -1, Stack: other},
		{ID: 20, State: "chan receive", Wait: 12 * time.Minute, Parent: 1, Stack: st, CreatedBy: creator},
	}
	var b strings.Builder
	p := &Printer{}
	p.Goroutine(&b, gs[0])
	want := "goroutine 18 [chan receive, 3 minutes]:\n" +
		"main.recv(...)\n\t/src/w.go:13\n" +
		"main.worker[...](...)\n\t/src/w.go:41 +0x3d\n" +
		"created by main.start in goroutine 1\n\t/src/main.go:22 +0x85\n"
	if b.String() != want {
		t.Errorf("Goroutine:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	(&Printer{System: true}).Goroutine(&b, gs[0])
	for _, s := range []string{"runtime.gopark(...)", "main.start.gowrap1(...)", "runtime.goexit(...)"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("--system output lacks %s:\n%s", s, b.String())
		}
	}
	groups := GroupBy(gs)
	if len(groups) != 2 || len(groups[0].Goroutines) != 2 || groups[0].MinWait != 3*time.Minute || groups[0].MaxWait != 12*time.Minute {
		t.Fatalf("GroupBy: %+v", groups)
	}
	b.Reset()
	p.Group(&b, groups[0])
	if head, _, _ := strings.Cut(b.String(), "\n"); head != "2 goroutines [chan receive, 3-12 minutes]: 18 20" {
		t.Errorf("group header %q", head)
	}
}

func TestFilter(t *testing.T) {
	st := &Stack{Frames: []unwind.Frame{{Kind: unwind.User, Function: "main.worker", File: "/src/w.go", Line: 41}}}
	g := &Goroutine{ID: 1, State: "chan receive", WaitReason: "chan receive", Wait: 2 * time.Minute, Stack: st}
	sys := &Goroutine{ID: 2, State: "GC worker (idle)", WaitReason: "GC worker (idle)", Wait: -1, System: true, Stack: st}
	for _, c := range []struct {
		f    Filter
		g    *Goroutine
		want bool
	}{
		{Filter{}, g, true},
		{Filter{}, sys, false},
		{Filter{System: true}, sys, true},
		{Filter{States: []string{"Chan Receive"}}, g, true},
		{Filter{States: []string{"waiting"}}, g, true},
		{Filter{States: []string{"running"}}, g, false},
		{Filter{MinWait: time.Minute}, g, true},
		{Filter{MinWait: 3 * time.Minute}, g, false},
		{Filter{System: true, MinWait: time.Second}, sys, false},
	} {
		if got := c.f.Keep(c.g); got != c.want {
			t.Errorf("%+v.Keep(%d) = %v", c.f, c.g.ID, got)
		}
	}
}
