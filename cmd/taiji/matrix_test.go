package main

import (
	"debug/elf"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/gdboracle"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// TestStackMatrix runs taiji stack on the Go targets built by every Go
// release the tests cover (testprog.Toolchains) in every binary kind
// (testprog.GoModes), and on the cgo target of each release. Each stack is
// checked three ways: frame by frame against gdb where gdb can see Go code
// (symbols and DWARF, so not in stripped builds), against the target's own
// traceback of the goroutine blocked in read(2) (runtime.Stack, which needs
// no debugger and holds for every kind), and for the shapes checkGoThreads
// requires (inline frames, clean outermost frames, the runtime's own
// inlining).
func TestStackMatrix(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	testprog.RunMatrix(t, "gotarget", nil, func(t *testing.T, tc testprog.Toolchain, m testprog.GoMode, bins map[string]string) {
		cmd := exec.Command(bins[m.Name])
		cmd.Env = append(cmd.Environ(), "GOTARGET_TRACEBACK=1")
		p := testprog.StartCmd(t, cmd)
		args := []string{"--max-frames", "0"}
		var r jsonReport
		if m.Stripped {
			// gdb names and unwinds Go code from the symbol table and
			// DWARF CFI, which -s -w removes.
			r = stackJSON(t, p.Pid, args...)
		} else {
			r = compareWithGDB(t, p.Pid, args, gdboracle.Options{}, compareOpts{goJunk: true})
		}
		checkGoThreads(t, "gotarget", r)
		checkAgainstTraceback(t, bins[m.Name], p.Stdout(), r)
		checkRuntimeInlined(t, r)
		checkInlineText(t, p.Pid, p.Stdout())
	})
}

// checkInlineText checks what a user reads: the call inlined into
// main.syscallHost is a frame of its own, at its line, marked [inlined],
// and syscallHost's frame is at the line of that call, as the runtime's
// traceback has them.
func checkInlineText(t *testing.T, pid int, out string) {
	t.Helper()
	tb, err := parseTraceback(out, "main.syscallHost")
	if err != nil {
		t.Fatal(err)
	}
	line := map[string]int{}
	for _, f := range tb {
		line[f.Function] = f.Line
	}
	text, errOut, err := runTaiji(t, "stack", "--no-kernel", strconv.Itoa(pid))
	if err != nil {
		t.Fatalf("taiji stack: %v\n%s", err, errOut)
	}
	want := regexp.MustCompile(fmt.Sprintf(`in main\.syscallOuterInline at \S+/main\.go:%d \[inlined\]\n#\d+ +0x[0-9a-f]+ in main\.syscallHost at \S+/main\.go:%d\n`,
		line["main.syscallOuterInline"], line["main.syscallHost"]))
	if !want.MatchString(text) {
		t.Errorf("taiji stack does not show main.syscallOuterInline [inlined] at line %d in main.syscallHost at line %d:\n%s",
			line["main.syscallOuterInline"], line["main.syscallHost"], text)
	}
}

// TestStackMatrixCgoCall runs taiji stack on the cgo target built by every
// Go release, against gdb: a goroutine blocked in a C function is followed
// back from runtime.asmcgocall to the Go frames that made the call (where
// asmcgocall keeps g moved in go1.22 on amd64: arch.GoCgoCall.Older).
func TestStackMatrixCgoCall(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			p := testprog.Start(t, testprog.BuildGoWith(t, tc, testprog.GoModes[0], "cgotarget"))
			r := compareWithGDB(t, p.Pid, []string{"--max-frames", "0"}, gdboracle.Options{}, compareOpts{goJunk: true})
			checkGoThreads(t, "cgotarget", r)
		})
	}
}

// tbFrame is one frame of a Go traceback (runtime.Stack).
type tbFrame struct {
	Function string
	File     string
	Line     int
	Inline   bool // printed with "(...)" and no pc offset
}

// parseTraceback returns the frames of the goroutine whose traceback, in the
// target's output between "traceback" and "end traceback", mentions fn.
func parseTraceback(out, fn string) ([]tbFrame, error) {
	_, tb, ok := strings.Cut(out, "traceback\n")
	tb, _, ok2 := strings.Cut(tb, "\nend traceback\n")
	if !ok || !ok2 {
		return nil, fmt.Errorf("no traceback in the target's output:\n%s", out)
	}
	for _, g := range strings.Split(tb, "\n\n") {
		if !strings.Contains(g, fn+"(") {
			continue
		}
		lines := strings.Split(strings.TrimSpace(g), "\n")
		var frames []tbFrame
		for i := 1; i+1 < len(lines); i += 2 { // lines[0]: "goroutine N [state]:"
			call, pos := lines[i], strings.TrimSpace(lines[i+1])
			if strings.HasPrefix(call, "created by ") {
				break
			}
			paren := strings.LastIndexByte(call, '(')
			file, off, _ := strings.Cut(pos, " ")
			colon := strings.LastIndexByte(file, ':')
			line, err := strconv.Atoi(file[colon+1:])
			if paren < 0 || colon < 0 || err != nil {
				return nil, fmt.Errorf("cannot parse traceback frame %q %q", call, pos)
			}
			frames = append(frames, tbFrame{Function: call[:paren], File: file[:colon], Line: line,
				Inline: strings.HasSuffix(call, "(...)") && off == ""})
		}
		return frames, nil
	}
	return nil, fmt.Errorf("no goroutine in %s in the traceback:\n%s", fn, tb)
}

// checkAgainstTraceback compares the thread blocked in read(2) with the Go
// runtime's own traceback of its goroutine: the same functions in the same
// order, inline ones marked so, at the same file:line. The traceback starts
// where the goroutine entered the system call (the runtime records that pc
// at entersyscall), so the innermost matching frame's line may differ; its
// callers' may not. The runtime does not print runtime.goexit.
//
// The runtime leaves out autogenerated wrappers (the function a go statement
// with arguments runs), which taiji shows as the physical frames they are;
// bin's pclntab says which functions those are.
func checkAgainstTraceback(t *testing.T, bin, out string, r jsonReport) {
	t.Helper()
	want, err := parseTraceback(out, "main.syscallHost")
	if err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	tab, err := pclntab.Open(ef)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := func(name string) bool {
		fn, ok := tab.ByName(name)
		return ok && tab.IsWrapper(fn)
	}
	for _, th := range r.Threads {
		if !hasSubsequence(th.Frames, []string{"main.syscallHost"}) {
			continue
		}
		var got []jsonFrame
		for _, f := range th.Frames {
			if f.Kind != "kernel" && !(f.Kind == "user" && wrapper(f.Function)) {
				got = append(got, f)
			}
		}
		start := -1
		for i, f := range got {
			if f.Function == want[0].Function {
				start = i
				break
			}
		}
		if start < 0 {
			t.Errorf("thread %d: no frame of %s, where the runtime's traceback starts:\n%s", th.TID, want[0].Function, formatJSONFrames(got))
			return
		}
		got = got[start:]
		if n := len(got); n > 0 && got[n-1].Function == "runtime.goexit" {
			got = got[:n-1]
		}
		ok := len(got) == len(want)
		for i := 0; ok && i < len(got); i++ {
			g, w := got[i], want[i]
			ok = g.Function == w.Function && (g.Kind == "inline") == w.Inline &&
				(i == 0 || g.File == w.File && g.Line == w.Line)
		}
		if !ok {
			var b strings.Builder
			for _, w := range want {
				fmt.Fprintf(&b, "  %s %s:%d inline=%v\n", w.Function, w.File, w.Line, w.Inline)
			}
			t.Errorf("thread %d: frames differ from the runtime's traceback of its goroutine\ntaiji:\n%s\nruntime:\n%s", th.TID, formatJSONFrames(got), b.String())
		}
		return
	}
	t.Errorf("no thread runs main.syscallHost")
}

// checkRuntimeInlined: the runtime's own inlined calls expand too. Every Go
// program here has an idle thread parked in runtime.stopm, into which
// runtime.mPark is inlined.
func checkRuntimeInlined(t *testing.T, r jsonReport) {
	t.Helper()
	for _, th := range r.Threads {
		for i := 1; i < len(th.Frames); i++ {
			a, b := th.Frames[i-1], th.Frames[i]
			if a.Function == "runtime.mPark" && a.Kind == "inline" && b.Function == "runtime.stopm" && b.Kind == "user" {
				return
			}
		}
	}
	var b strings.Builder
	for _, th := range r.Threads {
		fmt.Fprintf(&b, "thread %d:\n%s", th.TID, formatJSONFrames(th.Frames))
	}
	t.Errorf("no thread shows runtime.mPark [inlined] in runtime.stopm:\n%s", b.String())
}
