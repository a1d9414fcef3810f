package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/gdboracle"
	"github.com/taijidbg/taiji/internal/testprog"
)

// taijiBin is the CLI built once for these tests: they run it exactly as a
// user would.
var taijiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taiji-cli")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // some tests run it as another user
	taijiBin = filepath.Join(dir, "taiji")
	out, err := exec.Command("go", "build", "-o", taijiBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building taiji: %v\n%s", err, out)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: ptrace of a non-child process and kernel stacks (/proc/PID/task/TID/stack)")
	}
}

// jsonFrame and jsonReport mirror the documented JSON (docs/json.md); the
// tests decode the CLI's output rather than calling the library, so the
// contract itself is what is tested.
type jsonFrame struct {
	Kind     string `json:"kind"`
	PC       string `json:"pc"`
	Function string `json:"function"`
	Offset   uint64 `json:"offset"`
	Module   string `json:"module"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Note     string `json:"note"`
}

type jsonThread struct {
	TID     int         `json:"tid"`
	Name    string      `json:"name"`
	State   string      `json:"state"`
	Omitted int         `json:"omitted"`
	Frames  []jsonFrame `json:"frames"`
	Notes   []string    `json:"notes"`
	Frozen  int64       `json:"frozen_ns"`
	Error   string      `json:"error"`
}

type jsonReport struct {
	Pid     int          `json:"pid"`
	Exe     string       `json:"exe"`
	Threads []jsonThread `json:"threads"`
	Notes   []string     `json:"notes"`
}

func runTaiji(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(taijiBin, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func stackJSON(t *testing.T, pid int, args ...string) jsonReport {
	t.Helper()
	out, errOut, err := runTaiji(t, append(append([]string{"stack", "--json"}, args...), strconv.Itoa(pid))...)
	if err != nil {
		t.Fatalf("taiji stack: %v\n%s", err, errOut)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("taiji stack --json printed invalid JSON: %v\n%s", err, out)
	}
	return r
}

type compareOpts struct {
	// goJunk allows gdb frames past taiji's last one when that one ends a
	// Go stack (goEnds): gdb walks on into garbage there.
	goJunk bool
}

// compareWithGDB checks taiji's user frames against gdb's, thread by thread,
// frame PC by frame PC, kind by kind, and function names where gdb has one.
//
// Two observers cannot look at the same instant, so taiji looks twice, before
// and after gdb; a thread whose user frames changed in between (the Go
// runtime's sysmon wakes up now and then) is not compared. At most one may.
func compareWithGDB(t *testing.T, pid int, taijiArgs []string, gdbOpts gdboracle.Options, co compareOpts) jsonReport {
	t.Helper()
	r := stackJSON(t, pid, taijiArgs...)
	gdb, raw, err := gdboracle.BacktraceOutput(pid, gdbOpts)
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, raw)
	}
	after := stackJSON(t, pid, taijiArgs...)
	moved := 0
	if len(gdb) != len(r.Threads) {
		t.Errorf("gdb sees %d threads, taiji %d", len(gdb), len(r.Threads))
	}
	for _, g := range gdb {
		var th *jsonThread
		for i := range r.Threads {
			if r.Threads[i].TID == g.TID {
				th = &r.Threads[i]
			}
		}
		if th == nil {
			t.Errorf("thread %d: missing from taiji's output", g.TID)
			continue
		}
		if !sameUserPCs(th, after) {
			t.Logf("thread %d %q changed while observed; not compared", th.TID, th.Name)
			moved++
			continue
		}
		var want []gdboracle.Frame
		for _, f := range g.Frames {
			if f.Type != "tailcall" { // gdb's guess at a frame a tail call erased; no unwinder sees it
				want = append(want, f)
			}
		}
		var got []jsonFrame
		for _, f := range th.Frames {
			if f.Kind != "kernel" {
				got = append(got, f)
			}
		}
		if msg := diffFrames(got, want, co); msg != "" {
			t.Errorf("thread %d %q: %s\ntaiji:\n%s\ngdb:\n%s", g.TID, th.Name, msg, formatJSONFrames(got), gdboracle.Format([]gdboracle.Thread{g}))
		}
	}
	if moved > 1 {
		t.Errorf("%d threads changed between observations; the target is not stable enough to compare", moved)
	}
	return r
}

// sameUserPCs reports whether th has the same user PCs in the report after.
func sameUserPCs(th *jsonThread, after jsonReport) bool {
	pcs := func(fs []jsonFrame) (s []string) {
		for _, f := range fs {
			if f.Kind != "kernel" {
				s = append(s, f.PC)
			}
		}
		return s
	}
	for _, a := range after.Threads {
		if a.TID == th.TID {
			return slices.Equal(pcs(th.Frames), pcs(a.Frames))
		}
	}
	return false
}

var gdbKind = map[string]string{"normal": "user", "inline": "inline", "sigtramp": "signal"}

func diffFrames(got []jsonFrame, want []gdboracle.Frame, co compareOpts) string {
	n := min(len(got), len(want))
	for i := 0; i < n; i++ {
		g, w := got[i], want[i]
		pc, _ := strconv.ParseUint(strings.TrimPrefix(g.PC, "0x"), 16, 64)
		if pc != w.PC {
			return fmt.Sprintf("frame %d: pc %s, gdb 0x%x (%s)", i, g.PC, w.PC, w.Function)
		}
		if k := gdbKind[w.Type]; k != g.Kind {
			return fmt.Sprintf("frame %d: kind %s, gdb %s", i, g.Kind, w.Type)
		}
		if w.Type != "sigtramp" && w.Function != "" && w.Function != "??" && g.Function != w.Function {
			return fmt.Sprintf("frame %d: function %q, gdb %q", i, g.Function, w.Function)
		}
		if co.goJunk && goEnds[g.Function] && g.Kind != "inline" {
			// gdb cannot unwind past a Go stack switch: what it shows
			// beyond is garbage, what taiji shows beyond (the goroutine
			// side of a cgo call) is checked by checkGoThreads.
			return ""
		}
	}
	switch {
	case len(got) > len(want):
		return fmt.Sprintf("taiji has %d frames, gdb %d", len(got), len(want))
	case len(got) < len(want):
		last := ""
		if len(got) > 0 {
			last = got[len(got)-1].Function
		}
		if co.goJunk && goEnds[last] {
			return "" // gdb walks past Go's outermost frame into garbage
		}
		return fmt.Sprintf("taiji stops after %d frames (at %q), gdb has %d", len(got), last, len(want))
	}
	return ""
}

func formatJSONFrames(fs []jsonFrame) string {
	var b strings.Builder
	for i, f := range fs {
		fmt.Fprintf(&b, "  #%d %-6s %s %s %s:%d\n", i, f.Kind, f.PC, f.Function, f.File, f.Line)
	}
	return b.String()
}

func TestStackNativeMatchesGDB(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native")
	for _, tc := range []struct {
		name string
		prep func(t *testing.T) (bin string, taijiArgs []string, gdb gdboracle.Options)
	}{
		{"unsplit", func(t *testing.T) (string, []string, gdboracle.Options) { return bin, nil, gdboracle.Options{} }},
		{"debuglink-samedir", split(bin, testprog.DebuglinkSameDir)},
		{"debuglink-dotdebug", split(bin, testprog.DebuglinkDotDebug)},
		{"buildid", split(bin, testprog.BuildID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, args, gopts := tc.prep(t)
			p := testprog.Start(t, b)
			r := compareWithGDB(t, p.Pid, append([]string{"--max-frames", "0"}, args...), gopts, compareOpts{})
			checkNativeThreads(t, r)
		})
	}
}

func split(bin, how string) func(t *testing.T) (string, []string, gdboracle.Options) {
	return func(t *testing.T) (string, []string, gdboracle.Options) {
		s := testprog.SplitDebugFiles(t, bin, how)
		if s.DebugDir != "" {
			return s.Stripped, []string{"--debug-dir", s.DebugDir}, gdboracle.Options{DebugFileDirectory: s.DebugDir}
		}
		return s.Stripped, nil, gdboracle.Options{}
	}
}

// checkNativeThreads checks what must hold whatever gdb says: the kernel
// half, the inline and signal frames, and the clean outermost frames.
func checkNativeThreads(t *testing.T, r jsonReport) {
	t.Helper()
	byName := map[string]*jsonThread{}
	for i := range r.Threads {
		byName[r.Threads[i].Name] = &r.Threads[i]
	}
	for name, wantSeq := range map[string][]string{
		"reader":  {"reader_level1", "reader_level2", "reader_level3", "reader_thread", "start_thread", "clone3"},
		"inline":  {"leaf_inline", "mid_inline", "inline_host", "inline_thread", "start_thread", "clone3"},
		"signal":  {"handler_block", "usr1_handler", "", "interrupted_level1", "interrupted_level2", "signal_thread", "start_thread", "clone3"},
		"sleeper": {"sleeper_level1", "sleeper_thread", "start_thread", "clone3"},
	} {
		th := byName[name]
		if th == nil {
			t.Errorf("no thread named %q", name)
			continue
		}
		if !hasSubsequence(th.Frames, wantSeq) {
			t.Errorf("thread %q: frames do not contain %q in order:\n%s", name, wantSeq, formatJSONFrames(th.Frames))
		}
		last := th.Frames[len(th.Frames)-1]
		if last.Function != "clone3" {
			t.Errorf("thread %q: outermost frame is %q, want clone3 (and nothing past it)", name, last.Function)
		}
		if len(th.Notes) > 0 {
			t.Errorf("thread %q: unexpected notes %q", name, th.Notes)
		}
	}
	for _, th := range r.Threads {
		if th.Name == "inline" {
			kinds := map[string]string{}
			for _, f := range th.Frames {
				kinds[f.Function] = f.Kind
			}
			if kinds["leaf_inline"] != "inline" || kinds["mid_inline"] != "inline" || kinds["inline_host"] != "user" {
				t.Errorf("inline thread: kinds %v", kinds)
			}
		}
		if th.Name == "signal" && countKind(th.Frames, "signal") != 1 {
			t.Errorf("signal thread: want exactly one signal frame:\n%s", formatJSONFrames(th.Frames))
		}
		if th.Name == "reader" {
			if countKind(th.Frames, "kernel") == 0 {
				t.Errorf("reader thread: no kernel frames (it is blocked in read):\n%s", formatJSONFrames(th.Frames))
			}
			if th.Frames[0].Kind != "kernel" {
				t.Errorf("reader thread: kernel frames must come first")
			}
		}
		if th.Name == "recurse" {
			if got := countFunc(th.Frames, "recurse"); got != 1001 {
				t.Errorf("recurse thread: %d recurse frames, want 1001", got)
			}
		}
	}
}

// hasSubsequence: want's names appear in frames in order ("" = a signal frame).
func hasSubsequence(frames []jsonFrame, want []string) bool {
	i := 0
	for _, f := range frames {
		if i == len(want) {
			break
		}
		if (want[i] == "" && f.Kind == "signal") || (want[i] != "" && f.Function == want[i]) {
			i++
		}
	}
	return i == len(want)
}

func countKind(fs []jsonFrame, kind string) (n int) {
	for _, f := range fs {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

func countFunc(fs []jsonFrame, fn string) (n int) {
	for _, f := range fs {
		if f.Function == fn {
			n++
		}
	}
	return n
}

func TestStackGoMatchesGDB(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	for _, tc := range []struct {
		name, target string
		flags        []string
	}{
		{"default", "gotarget", nil},
		{"stripped", "gotarget", []string{"-ldflags=-s -w"}},
		{"pie", "gotarget", []string{"-buildmode=pie"}},
		{"cgo", "cgotarget", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := testprog.BuildGo(t, tc.target, tc.flags...)
			p := testprog.Start(t, bin)
			args := []string{"--max-frames", "0"}
			var r jsonReport
			if tc.name == "stripped" { // gdb can neither name nor unwind Go code without symbols and CFI
				r = stackJSON(t, p.Pid, args...)
			} else {
				r = compareWithGDB(t, p.Pid, args, gdboracle.Options{}, compareOpts{goJunk: true})
			}
			checkGoThreads(t, tc.target, r)
		})
	}
}

// goEnds are the frames a Go thread's stack may end at: the runtime's
// outermost frames, or a function that switched stacks (SPWRITE), past which
// Go's own traceback does not go either. C threads of a cgo program end in
// clone3 like any other.
var goEnds = map[string]bool{
	"runtime.goexit": true, "runtime.mstart": true, "runtime.rt0_go": true, "runtime.mcall": true,
	"runtime.systemstack": true, "runtime.morestack": true, "runtime.asmcgocall": true, "clone3": true,
}

func checkGoThreads(t *testing.T, target string, r jsonReport) {
	t.Helper()
	found := false
	for _, th := range r.Threads {
		if th.Error != "" || len(th.Frames) == 0 {
			t.Errorf("thread %d: no frames (%s)", th.TID, th.Error)
			continue
		}
		last := th.Frames[len(th.Frames)-1]
		if !goEnds[last.Function] {
			t.Errorf("thread %d: ends at %q, not at an outermost frame (notes %q):\n%s", th.TID, last.Function, th.Notes, formatJSONFrames(th.Frames))
		}
		for _, f := range th.Frames {
			if f.Kind != "kernel" && f.Function == "" {
				t.Errorf("thread %d: unnamed frame at %s:\n%s", th.TID, f.PC, formatJSONFrames(th.Frames))
				break
			}
		}
		switch target {
		case "gotarget":
			if hasSubsequence(th.Frames, []string{"syscall.read", "main.syscallLeafInline", "main.syscallOuterInline", "main.syscallHost", "runtime.goexit"}) {
				found = true
				// The compiler inlines syscall.Read into syscallLeafInline
				// and syscallOuterInline into syscallHost (gdb agrees).
				for _, f := range th.Frames {
					if (f.Function == "syscall.Read" || f.Function == "main.syscallOuterInline") && f.Kind != "inline" {
						t.Errorf("%s is not an inline frame:\n%s", f.Function, formatJSONFrames(th.Frames))
					}
				}
				if th.Frames[0].Kind != "kernel" {
					t.Errorf("the thread blocked in read has no kernel frames:\n%s", formatJSONFrames(th.Frames))
				}
			}
		case "cgotarget":
			if hasSubsequence(th.Frames, []string{"c_thread_level1", "c_thread_main", "start_thread", "clone3"}) {
				found = true
			}
			// The goroutine that called into C: taiji follows
			// runtime.asmcgocall back to the goroutine's stack.
			if hasSubsequence(th.Frames, []string{"c_blocking_read", "runtime.asmcgocall"}) &&
				!hasSubsequence(th.Frames, []string{"c_blocking_read", "runtime.asmcgocall", "runtime.cgocall", "main.goCallsC", "runtime.goexit"}) {
				t.Errorf("the cgo call is not followed back to its goroutine:\n%s\nnotes %q", formatJSONFrames(th.Frames), th.Notes)
			}
		}
	}
	if !found {
		t.Errorf("%s: no thread shows the expected blocked stack", target)
	}
}
