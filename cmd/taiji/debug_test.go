package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
)

// debugStop is a stop event of taiji debug --json.
type debugStop struct {
	Event      string `json:"event"`
	Reason     string `json:"reason"`
	Thread     int    `json:"thread"`
	Goroutine  uint64 `json:"goroutine"`
	PC         string `json:"pc"`
	Function   string `json:"function"`
	File       string `json:"file"`
	Line       int    `json:"line"`
	Breakpoint int    `json:"breakpoint"`
	Signal     string `json:"signal"`
	SigAddr    string `json:"si_addr"`
	Status     *int   `json:"status"` // present for an exit, also when 0
}

// debugOut is what a batch run printed: its stop events and command
// objects, in order.
type debugOut struct {
	stops    []debugStop
	commands []map[string]any
	stdout   string
}

// debugBatch runs taiji debug --batch --json with the commands (through
// a -x file, so there can be many) and the target words.
func debugBatch(t *testing.T, cmds []string, target ...string) debugOut {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"debug", "--batch", "--json", "-x", f}, target...)
	cmd := exec.Command(taijiBin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("taiji debug did not end:\n%s\n%s", out, stderr.String())
	}
	if err != nil {
		t.Fatalf("taiji %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	var r debugOut
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			r.stdout += line + "\n" // the target's own output
			continue
		}
		if strings.HasPrefix(line, `{"event"`) {
			var s debugStop
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatalf("bad stop event %s: %v", line, err)
			}
			r.stops = append(r.stops, s)
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad command object %s: %v", line, err)
		}
		if e, ok := m["error"]; ok {
			t.Errorf("command %v failed: %v", m["command"], e)
		}
		r.commands = append(r.commands, m)
	}
	return r
}

// markedLine returns the line of src marked "// LINE name".
func markedLine(t *testing.T, src []byte, name string) int {
	t.Helper()
	for i, l := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "// LINE "+name) {
			return i + 1
		}
	}
	t.Fatalf("no line marked %q", name)
	return 0
}

// symbolAddr returns the address of the ELF symbol name in bin (a non-PIE
// executable: link-time addresses are the process's).
func symbolAddr(t *testing.T, bin, name string) uint64 { return testprog.Symbol(t, bin, name) }

func hexAddr(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		t.Fatalf("%q is not an address", s)
	}
	return v
}

// lines returns the lines of the stops after the first (the entry).
func (r debugOut) lines() []int {
	var out []int
	for _, s := range r.stops[1:] {
		out = append(out, s.Line)
	}
	return out
}

// gdbLines runs gdb -batch on bin with the commands and returns the
// source lines it printed on each stop, and the address of its first
// breakpoint.
func gdbLines(t *testing.T, bin string, cmds []string, args ...string) (lines []int, bp uint64) {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb not installed")
	}
	gargs := []string{"-batch", "-nx"}
	for _, c := range cmds {
		gargs = append(gargs, "-ex", c)
	}
	gargs = append(gargs, "--args", bin)
	gargs = append(gargs, args...)
	out, err := exec.Command("gdb", gargs...).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	lineRE := regexp.MustCompile(`(?m)^(\d+)\t`)
	for _, m := range lineRE.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.Atoi(m[1])
		lines = append(lines, n)
	}
	if m := regexp.MustCompile(`Breakpoint 1 at (0x[0-9a-f]+)`).FindStringSubmatch(string(out)); m != nil {
		bp = hexAddr(t, m[1])
	}
	return lines, bp
}

// TestDebugCLines: a breakpoint on a C function lands where gdb puts it,
// and next, next, finish, next stop on the lines gdb stops on.
func TestDebugCLines(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	steps := []string{"next", "next", "finish", "next", "step", "next"}
	want, wantBP := gdbLines(t, bin, append([]string{"break add", "run"}, steps...), "lines")
	r := debugBatch(t, append([]string{"break add", "continue"}, steps...), "--", bin, "lines")
	if r.stops[0].Reason != "entry" || r.stops[0].Function != "_start" {
		t.Errorf("first stop %+v, want the entry point _start", r.stops[0])
	}
	if got := hexAddr(t, r.stops[1].PC); got != wantBP || r.stops[1].Breakpoint != 1 {
		t.Errorf("breakpoint hit at %#x (breakpoint %d), gdb puts it at %#x", got, r.stops[1].Breakpoint, wantBP)
	}
	if got := r.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("taiji stopped on lines %v, gdb on %v", got, want)
	}
	src, _ := testprog.DebugSources()
	if got, want := r.stops[1].Line, markedLine(t, src, "add_body"); got != want {
		t.Errorf("breakpoint on add stopped on line %d, want %d", got, want)
	}
}

// TestDebugNextOverInlined: on -O2 code, next steps over a call inlined
// into the line (it stopped inside twice(), inlined into main), stops on
// the lines gdb stops on where several line-table rows share an address
// (gdb takes the is_stmt one), and a breakpoint on main reports gdb's line.
func TestDebugNextOverInlined(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O2", "-no-pie")
	src, _ := testprog.DebugSources()
	loc := fmt.Sprintf("debug.c:%d", markedLine(t, src, "inl_before"))
	steps := []string{"next", "next", "next", "next"}
	want, _ := gdbLines(t, bin, append([]string{"break " + loc, "run"}, steps...), "inline")
	r := debugBatch(t, append([]string{"break " + loc, "continue"}, steps...), "--", bin, "inline")
	if got := r.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("taiji stopped on lines %v, gdb on %v", got, want)
	}
	for _, s := range r.stops[1:] {
		if s.Function != "main" {
			t.Errorf("next stopped in %s (line %d), want main: the inlined call is stepped over", s.Function, s.Line)
		}
	}
	want, wantBP := gdbLines(t, bin, []string{"break main", "run"}, "inline")
	r = debugBatch(t, []string{"break main", "continue"}, "--", bin, "inline")
	if got := hexAddr(t, r.stops[1].PC); got != wantBP || len(want) == 0 || r.stops[1].Line != want[0] {
		t.Errorf("break main stopped at %#x line %d, gdb at %#x line %v", got, r.stops[1].Line, wantBP, want)
	}
}

// TestDebugStepoutInlined: stepout from a frame inlined into its caller
// stops in the caller right after the inlined body (on the call's line or
// the next), not at the physical frame's return (which ran main to its
// end, or to the breakpoint in the inlined loop again).
func TestDebugStepoutInlined(t *testing.T) {
	t.Run("C", func(t *testing.T) {
		bin := testprog.BuildC(t, "debug", "-O2", "-no-pie")
		src, _ := testprog.DebugSources()
		call := markedLine(t, src, "inl_call1")
		r := debugBatch(t, []string{fmt.Sprintf("break debug.c:%d", call), "continue", "stepout"}, "--", bin, "inline")
		if s := r.stops[1]; s.Function != "twice" {
			t.Fatalf("the breakpoint on line %d stopped in %s, want the inlined twice", call, s.Function)
		}
		if s := r.stops[2]; s.Reason != "step" || s.Function != "main" || s.Line != call {
			t.Errorf("stepout from the inlined twice stopped %+v, want main at line %d", s, call)
		}
	})
	t.Run("Go", func(t *testing.T) {
		bin := testprog.BuildGo(t, "debuggo", "-ldflags=-s -w")
		_, src := testprog.DebugSources()
		body := markedLine(t, src, "sum_body")
		r := debugBatch(t, []string{fmt.Sprintf("tbreak main.go:%d", body), "continue", "stepout"}, "--", bin, "inline")
		if s := r.stops[1]; !strings.HasPrefix(s.Function, "main.Sum[") {
			t.Fatalf("the breakpoint on line %d stopped in %s, want the inlined main.Sum", body, s.Function)
		}
		call := markedLine(t, src, "inl_call")
		if s := r.stops[2]; s.Reason != "step" || s.Function != "main.main" || s.Line != call && s.Line != call+1 {
			t.Errorf("stepout from the inlined Sum stopped %+v, want main.main at line %d or %d", s, call, call+1)
		}
		// A breakpoint in the inlined loop stops the stepout at its next
		// iteration.
		r = debugBatch(t, []string{fmt.Sprintf("break main.go:%d", body), "continue", "stepout"}, "--", bin, "inline")
		if s := r.stops[2]; s.Reason != "breakpoint" || s.Breakpoint != 1 || s.PC != r.stops[1].PC {
			t.Errorf("stepout from the inlined loop with a breakpoint in it stopped %+v, want breakpoint 1 again", s)
		}
	})
}

// gdbBreakAddrs returns the addresses of gdb's breakpoint on spec in bin
// (every location of a multi-location one), lowest first.
func gdbBreakAddrs(t *testing.T, bin, spec string) []uint64 {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb not installed")
	}
	out, err := exec.Command("gdb", "-batch", "-nx", "-ex", "break "+spec, "-ex", "info breakpoints", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	var addrs []uint64
	for _, m := range regexp.MustCompile(`(?m)\s(0x[0-9a-f]+) in `).FindAllStringSubmatch(string(out), -1) {
		addrs = append(addrs, hexAddr(t, m[1]))
	}
	slices.Sort(addrs)
	return addrs
}

// breakAddrs returns the addresses of the breakpoint a break command of
// a --json run made.
func (r debugOut) breakAddrs(t *testing.T, cmd string) []uint64 {
	t.Helper()
	for _, c := range r.commands {
		if c["command"] != cmd {
			continue
		}
		var addrs []uint64
		res, _ := c["result"].(map[string]any)
		locs, _ := res["locations"].([]any)
		for _, l := range locs {
			a, _ := l.(map[string]any)["addr"].(string)
			addrs = append(addrs, hexAddr(t, a))
		}
		return addrs
	}
	t.Fatalf("no %q command in the output", cmd)
	return nil
}

// TestDebugBreakInlined: a breakpoint on a function the compiler inlined
// has a location at each inlined copy and at the out-of-line one, where
// gdb puts them, and stops in each copy that runs; so has one on a line
// of its body, and on a line of a generic function inlined for two types.
func TestDebugBreakInlined(t *testing.T) {
	csrc, gosrc := testprog.DebugSources()
	for _, tc := range []struct {
		name, fn string
		lines    []string // FILE:LINE locations to compare with gdb
		bin      func(t *testing.T) string
	}{
		{"C", "twice", []string{fmt.Sprintf("debug.c:%d", markedLine(t, csrc, "twice_body"))},
			func(t *testing.T) string { return testprog.BuildC(t, "debug", "-O2", "-no-pie") }},
		{"Go", "main.triple", []string{fmt.Sprintf("main.go:%d", markedLine(t, gosrc, "triple_body")), fmt.Sprintf("main.go:%d", markedLine(t, gosrc, "sum_body"))},
			func(t *testing.T) string { return testprog.BuildGo(t, "debuggo") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin(t)
			for _, l := range tc.lines {
				want := gdbBreakAddrs(t, bin, l)
				r := debugBatch(t, []string{"break " + l}, "--", bin, "inline")
				if got := r.breakAddrs(t, "break "+l); len(want) < 2 || fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("break %s at %#x, gdb at %#x", l, got, want)
				}
			}
			want := gdbBreakAddrs(t, bin, tc.fn)
			r := debugBatch(t, []string{"break " + tc.fn, "continue", "continue"}, "--", bin, "inline")
			if got := r.breakAddrs(t, "break "+tc.fn); len(want) < 2 || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("break %s at %#x, gdb at %#x", tc.fn, got, want)
			}
			for _, s := range r.stops[1:] {
				if s.Reason != "breakpoint" || s.Function != tc.fn {
					t.Errorf("stop %+v, want breakpoint 1 in the inlined %s", s, tc.fn)
				}
			}
		})
	}
}

// TestDebugFileLineAndCondition: FILE:LINE breakpoints, and a condition on
// the first C argument's register that is true in the second call only.
func TestDebugFileLineAndCondition(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	src, _ := testprog.DebugSources()
	a := arch.Host()
	arg0 := a.RegNames[a.CIntArgs[0]]
	call3 := markedLine(t, src, "call3")
	r := debugBatch(t, []string{
		"break add if $" + arg0 + " == 3",
		fmt.Sprintf("tbreak debug.c:%d", call3),
		"continue", "bt", "continue", "continue", "breakpoints",
	}, "--", bin, "lines")
	if len(r.stops) < 4 {
		t.Fatalf("stops %+v", r.stops)
	}
	if s := r.stops[1]; s.Breakpoint != 1 || s.Function != "add" {
		t.Errorf("first stop %+v, want breakpoint 1 in add", s)
	}
	// The frame that called it is the second call's line.
	frames := r.commands[3]["result"].([]any)
	if got, want := int(frames[1].(map[string]any)["line"].(float64)), markedLine(t, src, "call2"); got != want {
		t.Errorf("condition $%s == 3 stopped in the call from line %d, want %d", arg0, got, want)
	}
	if s := r.stops[2]; s.Breakpoint != 2 || s.Line != call3 {
		t.Errorf("second stop %+v, want tbreak 2 on line %d", s, call3)
	}
	if s := r.stops[3]; s.Reason != "exited" || s.Status == nil || *s.Status != 0 {
		t.Errorf("third stop %+v, want the exit", s)
	}
	bps := r.commands[len(r.commands)-1]["result"].([]any)
	if len(bps) != 1 || bps[0].(map[string]any)["hits"].(float64) != 1 {
		t.Errorf("breakpoints after the run: %v; want breakpoint 1 alone (the tbreak gone), hit once", bps)
	}
	if !strings.Contains(r.stdout, "sum 21") {
		t.Errorf("the target did not finish correctly: %q", r.stdout)
	}
}

// TestDebugSignalStepping is the field report's flow: stopped at a
// faulting instruction, stepi enters the handler at its first
// instruction, bt shows the signal frame, stepping out of the handler
// lands in the trampoline, and stepping over its sigreturn lands where
// the handler put the ucontext's PC.
// TestDebugNextIntoSignalHandler: next and step from a stop on a signal
// that stepping delivers stop in the handler after its prologue, where gdb
// puts a breakpoint on the handler (they ran on to the next signal or the
// exit). At -O2 that is where gdb's next stops too; at -O0 gdb's next
// stops at the handler's first instruction, its arguments not yet stored.
func TestDebugNextIntoSignalHandler(t *testing.T) {
	for _, opt := range []string{"-O0", "-O2"} {
		bin := testprog.BuildC(t, "debug", opt, "-no-pie")
		for _, step := range []string{"next", "step"} {
			t.Run(opt+"/"+step, func(t *testing.T) {
				want, _ := gdbLines(t, bin, []string{"break on_fault", "run", "continue"}, "sigill")
				r := debugBatch(t, []string{"continue", step}, "--", bin, "sigill")
				if len(r.stops) < 3 || r.stops[1].Signal != "SIGILL" {
					t.Fatalf("stops %+v, want SIGILL then a step", r.stops)
				}
				s := r.stops[2]
				if s.Reason != "step" || s.Function != "on_fault" || len(want) == 0 || s.Line != want[len(want)-1] {
					t.Errorf("%s from the SIGILL stop stopped %+v; gdb's break on_fault on lines %v", step, s, want)
				}
			})
		}
	}
}

func TestDebugSignalStepping(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	for _, tc := range []struct{ mode, signal, fault, resume string }{
		{"sigill", "SIGILL", "fault_ill", "fault_ill_end"},
		{"segv", "SIGSEGV", "fault_segv", "fault_segv_end"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			// After stepout, step until the PC leaves the trampoline.
			cmds := []string{"continue", "stepi", "bt", "stepout"}
			for range 8 {
				cmds = append(cmds, "stepi")
			}
			r := debugBatch(t, append(cmds, "continue"), "--", bin, tc.mode)
			fault, handler := r.stops[1], r.stops[2]
			if fault.Reason != "signal" || fault.Signal != tc.signal || fault.Function != tc.fault {
				t.Fatalf("continue stopped with %+v, want %s in %s", fault, tc.signal, tc.fault)
			}
			if tc.mode == "segv" && fault.SigAddr != "0x0" {
				t.Errorf("si_addr %s, want 0x0", fault.SigAddr)
			}
			if got, want := hexAddr(t, handler.PC), symbolAddr(t, bin, "on_fault"); got != want {
				t.Errorf("stepi from the fault stopped at %#x (%s), want the handler's first instruction %#x", got, handler.Function, want)
			}
			frames := r.commands[2]["result"].([]any)
			if len(frames) < 3 || !frames[1].(map[string]any)["signal"].(bool) ||
				frames[2].(map[string]any)["function"] != tc.fault {
				t.Errorf("bt in the handler: %v; want on_fault, the signal frame, %s", frames, tc.fault)
			}
			tramp := r.stops[3]
			if tramp.Function != "__restore_rt" && !strings.Contains(tramp.Function, "sigreturn") {
				t.Errorf("stepout of the handler stopped in %q, want the trampoline", tramp.Function)
			}
			resume := symbolAddr(t, bin, tc.resume)
			found := false
			for _, s := range r.stops[4:] {
				if s.Reason == "step" && hexAddr(t, s.PC) == resume {
					found = true
					break
				}
				if s.Function != tramp.Function {
					t.Fatalf("stepping the trampoline went to %+v, want %#x (%s)", s, resume, tc.resume)
				}
			}
			if !found {
				t.Errorf("stepping through the trampoline never reached %#x", resume)
			}
			if last := r.stops[len(r.stops)-1]; last.Reason != "exited" || !strings.Contains(r.stdout, "handled 1") {
				t.Errorf("the target did not run on correctly: %+v %q", last, r.stdout)
			}
		})
	}
}

// TestDebugThreadsEveryHit: threads hitting one breakpoint at once are
// reported one by one, none lost: the hits counted equal the calls the
// target counts.
func TestDebugThreadsEveryHit(t *testing.T) {
	const threads, each = 4, 40
	cbin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	gobin := testprog.BuildGo(t, "debuggo", "-ldflags=-s -w")
	for _, tc := range []struct{ name, bin, fn string }{{"c", cbin, "hit"}, {"go", gobin, "main.hit"}} {
		t.Run(tc.name, func(t *testing.T) {
			cmds := []string{"break " + tc.fn}
			for range threads*each + 1 {
				cmds = append(cmds, "continue")
			}
			r := debugBatch(t, append(cmds, "breakpoints"), "--", tc.bin, "threads", strconv.Itoa(threads), strconv.Itoa(each))
			hits, tids := 0, map[int]bool{}
			for _, s := range r.stops {
				if s.Reason == "breakpoint" {
					hits++
					tids[s.Thread] = true
				}
			}
			if hits != threads*each {
				t.Errorf("%d breakpoint stops, want %d", hits, threads*each)
			}
			if tc.name == "c" && len(tids) != threads {
				t.Errorf("hits reported in threads %v, want %d threads", tids, threads)
			}
			if want := fmt.Sprintf("hits %d", threads*each); !strings.Contains(r.stdout, want) {
				t.Errorf("the target printed %q, want %q", r.stdout, want)
			}
		})
	}
}

// TestDebugGoStepping: on a stripped Go binary, a function breakpoint
// lands after the stack check, next/stepout/step follow pclntab's lines,
// and next over a call that grows (copies) the goroutine's stack stays on
// that goroutine.
func TestDebugGoStepping(t *testing.T) {
	bin := testprog.BuildGo(t, "debuggo", "-ldflags=-s -w")
	_, src := testprog.DebugSources()
	l := func(name string) int { return markedLine(t, src, name) }

	r := debugBatch(t, []string{"break main.add", "continue", "next", "next", "stepout", "next", "step"}, "--", bin, "lines")
	want := []int{l("add_body"), l("add_body") + 1, l("add_return"), l("call1"), l("call2"), l("add_body")}
	if got := r.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Go stops on lines %v, want %v", got, want)
	}
	if r.stops[4].Function != "main.main" || r.stops[6].Function != "main.add" {
		t.Errorf("stepout stopped in %q, step in %q; want main.main, main.add", r.stops[4].Function, r.stops[6].Function)
	}

	// The breakpoint is after the stack check, in the frame set-up: the
	// func line, as the Go compiler numbers it.
	r = debugBatch(t, []string{"break main.stepper", "continue", "next", "next", "next", "next", "next"}, "--", bin, "grow")
	want = []int{l("grow_before") - 1, l("grow_before"), l("grow_call"), l("grow_sleep"), l("grow_after"), l("grow_after") + 1}
	if got := r.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("next over a stack-growing call: lines %v, want %v", got, want)
	}
	g, threads := r.stops[1].Goroutine, map[int]bool{}
	for _, s := range r.stops[1:] {
		threads[s.Thread] = true
		if s.Goroutine != g || s.Function != "main.stepper" {
			t.Errorf("stop %+v left goroutine %d in main.stepper", s, g)
		}
	}
	// Usually the goroutine resumes on another thread after its sleep.
	t.Logf("goroutine %d stepped on threads %v", g, threads)
}

// codeIntact checks that the code of function fn in the running process
// pid is the executable's, byte for byte, and that it still runs.
func codeIntact(t *testing.T, pid int, bin, fn string) { testprog.CodeIntact(t, pid, bin, fn) }

// TestDebugExitPathsRestoreCode: quit, detach and SIGTERM (during a
// continue) leave the attached process running with its code intact.
func TestDebugExitPathsRestoreCode(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	for _, end := range []string{"quit", "detach"} {
		t.Run(end, func(t *testing.T) {
			p := testprog.Start(t, bin, "loop")
			r := debugBatch(t, []string{"break add", "continue", "continue", end}, strconv.Itoa(p.Pid))
			if n := len(r.stops); n < 3 || r.stops[2].Breakpoint != 1 {
				t.Fatalf("stops %+v, want two hits of add", r.stops)
			}
			codeIntact(t, p.Pid, bin, "add")
		})
	}
	t.Run("sigterm", func(t *testing.T) {
		p := testprog.Start(t, bin, "loop")
		cmd := exec.Command(taijiBin, "debug", "--batch", "-ex", "break never_called", "-ex", "break add", "-ex", "continue", "-ex", "clear 2", "-ex", "continue", strconv.Itoa(p.Pid))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Deleted breakpoint 2") {
				break
			}
		}
		// The last continue runs (never_called is never called): end
		// taiji there.
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() {
			for sc.Scan() {
			}
			done <- cmd.Wait()
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("taiji did not end on SIGTERM")
		}
		codeIntact(t, p.Pid, bin, "never_called")
		codeIntact(t, p.Pid, bin, "add")
	})
}

// TestDebugDisassembleLikeObjdump: disassemble's instruction addresses
// are objdump's, the PC is marked, and symbols name them.
func TestDebugDisassembleLikeObjdump(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("objdump not installed")
	}
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	out, err := exec.Command("objdump", "-d", "--disassemble=add", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump: %v\n%s", err, out)
	}
	var want []uint64
	for _, m := range regexp.MustCompile(`(?m)^\s+([0-9a-f]+):\t`).FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseUint(m[1], 16, 64)
		want = append(want, v)
	}
	r := debugBatch(t, []string{"break add", "continue", "disassemble", "disassemble -l"}, "--", bin, "lines")
	for _, in := range r.commands[3]["result"].([]any) {
		m := in.(map[string]any)
		if m["addr"] == r.stops[1].PC && int(m["line"].(float64)) != r.stops[1].Line {
			t.Errorf("disassemble -l puts the PC on line %v, the stop is on %d", m["line"], r.stops[1].Line)
		}
	}
	insns := r.commands[2]["result"].([]any)
	var got []uint64
	current := 0
	for _, in := range insns {
		m := in.(map[string]any)
		got = append(got, hexAddr(t, m["addr"].(string)))
		if c, _ := m["current"].(bool); c {
			current++
			if m["addr"] != r.stops[1].PC {
				t.Errorf("instruction %v marked current, the PC is %s", m["addr"], r.stops[1].PC)
			}
		}
		if !strings.HasPrefix(m["symbol"].(string), "add+") {
			t.Errorf("instruction %v named %v, want add+N", m["addr"], m["symbol"])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || current != 1 {
		t.Errorf("disassemble: addresses %x (%d current), objdump %x", got, current, want)
	}
}

// TestDebugKill: kill ends a started program, which is gone afterwards.
func TestDebugKill(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	r := debugBatch(t, []string{"break add", "continue", "kill"}, "--", bin, "loop")
	pid := r.stops[0].Thread
	if r.commands[2]["command"] != "kill" {
		t.Fatalf("commands %v", r.commands)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("PID %d still exists after kill", pid)
	}
}

// TestDebugGoroutines: at a breakpoint in a stripped Go program, the
// goroutine of the stop is listed running on the stop's thread;
// goroutine N of a parked one prints its stack, of the running one
// selects its thread.
func TestDebugGoroutines(t *testing.T) {
	bin := testprog.BuildGo(t, "debuggo", "-ldflags=-s -w")
	r := debugBatch(t, []string{"break main.hit", "continue", "goroutines", "goroutine 1", "thread"}, "--", bin, "threads", "2", "3")
	stop := r.stops[1]
	list := r.commands[2]["result"].([]any)
	found := false
	for _, g := range list {
		m := g.(map[string]any)
		if uint64(m["id"].(float64)) == stop.Goroutine {
			found = true
			if int(m["thread"].(float64)) != stop.Thread || m["function"] != "main.hit" {
				t.Errorf("goroutine %d listed as %v, want running main.hit on thread %d", stop.Goroutine, m, stop.Thread)
			}
		}
	}
	if !found {
		t.Errorf("goroutine %d of the stop not listed: %v", stop.Goroutine, list)
	}
	g1 := r.commands[3]["result"].(map[string]any)
	frames := g1["frames"].([]any)
	if len(frames) == 0 || !strings.Contains(fmt.Sprint(frames), "main.main") {
		t.Errorf("goroutine 1: %v, want a stack through main.main", g1)
	}
}

// TestDebugDeepStack: bt of a thread 10,000 frames deep keeps both ends
// (the innermost and the thread's start) and leaves out the middle.
func TestDebugDeepStack(t *testing.T) {
	bin := testprog.BuildC(t, "native")
	p := testprog.Start(t, bin, "10000")
	tid := p.TID(t, "recurse")
	r := debugBatch(t, []string{fmt.Sprintf("thread %d", tid), "bt"}, strconv.Itoa(p.Pid))
	frames := r.commands[1]["result"].([]any)
	name := func(i int) string { return fmt.Sprint(frames[i].(map[string]any)["function"]) }
	if len(frames) != 256 {
		t.Errorf("bt printed %d frames, want 256 of the 10,000", len(frames))
	}
	if !strings.Contains(name(0), "read") || !strings.Contains(name(len(frames)-1), "clone") {
		t.Errorf("bt from %s to %s, want read to clone3", name(0), name(len(frames)-1))
	}
	if idx := frames[len(frames)-1].(map[string]any)["index"].(float64); idx < 10000 {
		t.Errorf("the outermost frame is #%v, want past #10000", idx)
	}
	// A TID names its process, with that thread selected.
	r = debugBatch(t, []string{"detach"}, strconv.Itoa(tid))
	if r.stops[0].Reason != "attached" || r.stops[0].Thread != tid {
		t.Errorf("attached by TID %d: %+v", tid, r.stops[0])
	}
}

// TestDebugRestart: restart starts a (PIE) program again with its
// breakpoints resolved anew in the new process.
func TestDebugRestart(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-pie", "-fPIE")
	r := debugBatch(t, []string{"break add", "continue", "restart", "continue", "breakpoints"}, "--", bin, "lines")
	if len(r.stops) != 4 || r.stops[2].Reason != "entry" || r.stops[3].Breakpoint != 1 || r.stops[3].Function != "add" {
		t.Fatalf("stops %+v, want entry, breakpoint 1, entry, breakpoint 1", r.stops)
	}
	if r.stops[0].Thread == r.stops[2].Thread {
		t.Errorf("restart kept PID %d", r.stops[0].Thread)
	}
	bps := r.commands[4]["result"].([]any)
	if got := bps[0].(map[string]any)["hits"].(float64); got != 2 {
		t.Errorf("breakpoint 1 counted %v hits over both runs, want 2", got)
	}
}

// TestDebugHandle: with nostop a fault goes to the program's handler
// without stopping (and print reports it with the next stop); with stop
// it stops.
func TestDebugHandle(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	r := debugBatch(t, []string{"handle SIGSEGV nostop print", "continue"}, "--", bin, "segv")
	last := r.stops[len(r.stops)-1]
	if len(r.stops) != 2 || last.Reason != "exited" || !strings.Contains(r.stdout, "handled 1") {
		t.Errorf("with nostop: stops %+v, output %q; want the exit, the handler run", r.stops, r.stdout)
	}
	out, _, err := runTaiji(t, "debug", "--batch", "--json", "-ex", "handle SIGSEGV nostop print", "-ex", "continue", "--", bin, "segv")
	if err != nil || !strings.Contains(out, `"printed":["SIGSEGV in thread`) {
		t.Errorf("with print, the exit event does not list the SIGSEGV: %v\n%s", err, out)
	}
	r = debugBatch(t, []string{"handle SIGSEGV nostop", "handle SIGSEGV stop", "continue"}, "--", bin, "segv")
	if r.stops[1].Reason != "signal" || r.stops[1].Signal != "SIGSEGV" {
		t.Errorf("with stop again: %+v", r.stops[1])
	}
}

// TestDebugSet: a register set at a function's entry changes its
// argument; a code word patched under a breakpoint runs patched when the
// thread steps over the breakpoint (the illegal instruction becomes no-ops:
// no SIGILL).
func TestDebugSet(t *testing.T) {
	a := arch.Host()
	nops := map[string]string{"amd64": "*(*uint16)(%#x) = 0x9090", "arm64": "*(*uint32)(%#x) = 0xd503201f"}[a.Name]
	if nops == "" {
		t.Skipf("no no-op encoding for %s here", a.Name)
	}
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	add := symbolAddr(t, bin, "add")
	r := debugBatch(t, []string{fmt.Sprintf("tbreak *%#x", add), "continue", "set $" + a.RegNames[a.CIntArgs[0]] + " = 10", "continue"}, "--", bin, "lines")
	if !strings.Contains(r.stdout, "sum 30") {
		t.Errorf("add(1, 2) with its first argument set to 10: the target printed %q, want sum 30", r.stdout)
	}
	ill := symbolAddr(t, bin, "fault_ill")
	r = debugBatch(t, []string{fmt.Sprintf("break *%#x", ill), "set " + fmt.Sprintf(nops, ill), "continue", "continue"}, "--", bin, "sigill")
	if r.stops[1].Breakpoint != 1 || r.stops[2].Reason != "exited" || !strings.Contains(r.stdout, "handled 0") {
		t.Errorf("patched under a breakpoint: stops %+v, output %q; want the hit, then the exit without a SIGILL", r.stops, r.stdout)
	}
}

func TestDebugBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"debug"}, "expected one PID, got 0 arguments"},
		{[]string{"debug", "notapid"}, `"notapid" is not a PID`},
		{[]string{"debug", "99999999"}, "no process with PID 99999999"},
		{[]string{"debug", "--json", "1"}, "--json goes with --batch"},
		{[]string{"debug", "--", "/nonexistent/program"}, "cannot start /nonexistent/program"},
		{[]string{"debug", "--batch", "-x", "/nonexistent/cmds", "--", "true"}, "cannot read the command file"},
	} {
		_, stderr, err := runTaiji(t, tc.args...)
		oneLine(t, stderr, err, tc.want)
	}
	// A bad command in a batch: its error on stdout, the next command
	// runs, exit status 1.
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	// A condition that does not parse is refused when it is set, as gdb
	// does, not first at a hit.
	out, stderr, err := runTaiji(t, "debug", "--batch", "-ex", "break nosuch", "-ex", "frobnicate", "-ex", "break add if $rdi ==",
		"-ex", "continue", "--", bin, "lines")
	if !strings.Contains(out, `no function "nosuch"`) || !strings.Contains(out, `unknown command "frobnicate"`) || !strings.Contains(out, "sum 21") ||
		!strings.Contains(out, `bad condition: cannot parse "$rdi =="`) {
		t.Errorf("batch with bad commands printed:\n%s", out)
	}
	oneLine(t, stderr, err, "3 commands failed")
	// condition N with a bad expression keeps the breakpoint's condition.
	out, _, _ = runTaiji(t, "debug", "--batch", "-ex", "break add if 0", "-ex", "condition 1 a +", "-ex", "continue", "--", bin, "lines")
	if !strings.Contains(out, `bad condition: cannot parse "a +"`) || !strings.Contains(out, "sum 21") {
		t.Errorf("a bad condition replaced the breakpoint's:\n%s", out)
	}
}

// TestDebugVariables: print, args, x and set reach the DWARF evaluator
// (debugger/eval) through the CLI: a breakpoint condition on an argument,
// arguments read from their registers at entry, an expression over them, a
// package variable, raw memory at $sp, and a set the target then computes
// with (add(3, 4) with a = 10: sum 1+2 + 10+4 + 5+6 = 28).
func TestDebugVariables(t *testing.T) {
	bin := testprog.BuildGo(t, "debuggo")
	r := debugBatch(t, []string{"break main.add if b == 4", "continue", "args", "print a+b", "print main.counter",
		"x/2xg $sp", "set a = 10", "continue"}, "--", bin, "lines")
	res := map[string]any{}
	for _, c := range r.commands {
		res[fmt.Sprint(c["command"])] = c["result"]
	}
	if got := fmt.Sprint(res["args"]); !strings.HasPrefix(got, "[a = 3 b = 4") {
		t.Errorf("args at add(3, 4): %s", got)
	}
	// print's JSON result is docs/debug-expr.md's value object.
	if v, _ := res["print a+b"].(map[string]any); v["value"] != "7" || v["type"] != "int" {
		t.Errorf("print a+b = %v, want {type: int, value: 7}", res["print a+b"])
	}
	counter, _ := res["print main.counter"].(map[string]any)
	found := false
	for _, c := range counter["children"].([]any) {
		if c := c.(map[string]any); c["name"] == "v" && c["value"] == "3" {
			found = true
		}
	}
	if !found || counter["addr"] != fmt.Sprintf("%#x", symbolAddr(t, bin, "main.counter")) {
		t.Errorf("print main.counter = %v, want a child v = 3 (add(1, 2) ran) and the variable's address", counter)
	}
	if got := fmt.Sprint(res["x/2xg $sp"]); !strings.Contains(got, ":\t0x") {
		t.Errorf("x/2xg $sp = %q", got)
	}
	if !strings.Contains(r.stdout, "sum 28") {
		t.Errorf("after set a = 10 the target printed %q, want sum 28", r.stdout)
	}
}

// TestDebugPrintFormats: print's formats, delve's %x and gdb's /x, and bt
// -full's variables.
func TestDebugPrintFormats(t *testing.T) {
	bin := testprog.BuildGo(t, "debuggo")
	r := debugBatch(t, []string{"break main.add", "continue", "print %x a+b+10", "p/d b", "bt 1 -full"}, "--", bin, "lines")
	res := map[string]any{}
	for _, c := range r.commands {
		res[fmt.Sprint(c["command"])] = c
	}
	value := func(cmd string) any { return res[cmd].(map[string]any)["result"].(map[string]any)["value"] }
	if got := value("print %x a+b+10"); got != "0xd" {
		t.Errorf("print %%x a+b+10 at add(1, 2) = %v, want 0xd", got)
	}
	if got := value("p/d b"); got != "2" {
		t.Errorf("p/d b = %v, want 2", got)
	}
	if got := fmt.Sprint(res["bt 1 -full"].(map[string]any)["result"]); !strings.Contains(got, "vars:[a = 1 b = 2") {
		t.Errorf("bt -full does not list add's arguments: %s", got)
	}
}

// TestDebugExamineRodata: x/s of a string in .rodata prints it with no
// symbol: the size-less _fini before it names code only (gdb prints none).
func TestDebugExamineRodata(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ro := f.Section(".rodata")
	data, err := ro.Data()
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("sum %d"))
	if i < 0 {
		t.Fatalf("no %q in .rodata", "sum %d")
	}
	addr := ro.Addr + uint64(i)
	r := debugBatch(t, []string{"break main", "continue", fmt.Sprintf("x/s %#x", addr)}, "--", bin, "lines")
	got := fmt.Sprint(r.commands[2]["result"])
	if want := fmt.Sprintf("%#x:\t\"sum %%d\\n\"", addr); !strings.HasPrefix(got, want) {
		t.Errorf("x/s %#x = %q, want %q (no symbol)", addr, got, want)
	}
}

// TestDebugAddressExpressions: break *ADDR and disassemble -a take
// expressions, as gdb does ($pc, $pc+8), not only numbers.
func TestDebugAddressExpressions(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	r := debugBatch(t, []string{"break add", "continue", "tbreak *$pc", "disassemble -a $pc $pc+4"}, "--", bin, "lines")
	pc := r.stops[1].PC
	bp := r.commands[2]["result"].(map[string]any)["locations"].([]any)[0].(map[string]any)
	if bp["addr"] != pc {
		t.Errorf("tbreak *$pc at %v, the PC is %s", bp["addr"], pc)
	}
	insns := r.commands[3]["result"].([]any)
	if len(insns) == 0 || insns[0].(map[string]any)["addr"] != pc {
		t.Errorf("disassemble -a $pc $pc+4 = %v, want it to start at %s", insns, pc)
	}
}
