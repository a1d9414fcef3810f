package debugger

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/proc"
)

func launch(t *testing.T, argv ...string) *Debugger {
	t.Helper()
	d, err := Launch(context.Background(), argv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

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

// gdbBreak returns the address gdb gives a breakpoint at loc in bin.
func gdbBreak(t *testing.T, bin, loc string) uint64 {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb not installed")
	}
	out, err := exec.Command("gdb", "-batch", "-nx", "-ex", "break "+loc, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Breakpoint 1 at (0x[0-9a-f]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("gdb set no breakpoint at %s:\n%s", loc, out)
	}
	v, _ := strconv.ParseUint(string(m[1]), 0, 64)
	return v
}

// TestResolveLikeGDB: function and FILE:LINE locations of a C program
// are where gdb puts them, at -O0 and -O2.
func TestResolveLikeGDB(t *testing.T) {
	src, _ := testprog.DebugSources()
	for _, opt := range []string{"-O0", "-O2"} {
		t.Run(opt, func(t *testing.T) {
			bin := testprog.BuildC(t, "debug", opt, "-no-pie")
			d := launch(t, bin, "lines")
			hit := markedLine(t, src, "hit_body")
			for _, loc := range []string{"add", "hit", "main", fmt.Sprintf("debug.c:%d", markedLine(t, src, "call2")), fmt.Sprintf("debug.c:%d", markedLine(t, src, "add_second")),
				// hit's opening line, and the blank line before it (no
				// code: the next line that has some).
				fmt.Sprintf("debug.c:%d", hit-1), fmt.Sprintf("debug.c:%d", hit-2)} {
				locs, err := d.Resolve(loc)
				if err != nil {
					t.Errorf("%s: %v", loc, err)
					continue
				}
				if want := gdbBreak(t, bin, loc); locs[0].Addr != want {
					t.Errorf("%s resolved to %#x, gdb to %#x", loc, locs[0].Addr, want)
				}
			}
			for _, bad := range []string{"nosuch", "debug.c:0", "debug.c:x", "nosuch.c:3", "*zz", ""} {
				if _, err := d.Resolve(bad); err == nil {
					t.Errorf("%q resolved, want an error", bad)
				}
			}
		})
	}
}

// TestConditionOnRegister: a breakpoint with a condition on the first C
// argument's register stops only in the call where it holds, and counts
// that hit alone; the exit is reported with the target's status.
func TestConditionOnRegister(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	d := launch(t, bin, "lines")
	a := arch.Host()
	b, err := d.SetBreakpoint("add", "$"+a.RegNames[a.CIntArgs[0]]+" == 5", false)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := d.Continue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ev.Reason != "breakpoint" || ev.Breakpoint != b.ID {
		t.Fatalf("stop %+v, want breakpoint %d", ev, b.ID)
	}
	fs, err := d.Frames()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := testprog.DebugSources()
	if len(fs) < 2 || fs[1].Function != "main" || fs[1].Line != markedLine(t, src, "call3") {
		t.Errorf("stopped in the call from %+v, want main at the third call", fs[1])
	}
	if fs[0].CFA == 0 || fs[0].SetReg == nil || fs[1].SetReg != nil {
		t.Errorf("frame 0 has CFA %#x, SetReg %v; frame 1 SetReg %v", fs[0].CFA, fs[0].SetReg != nil, fs[1].SetReg != nil)
	}
	ev, err = d.Continue(context.Background())
	if err != nil || ev.Reason != "exited" || ev.Status != 0 {
		t.Fatalf("after the hit: %+v, %v; want the exit, status 0", ev, err)
	}
	if b.Hits != 1 {
		t.Errorf("%d hits counted, want 1", b.Hits)
	}
	if _, err := d.Continue(context.Background()); err == nil {
		t.Error("continue after the exit succeeded")
	}
}

// TestInterruptedContinue: a cancelled context ends a continue with every
// thread stopped, and the session goes on.
func TestInterruptedContinue(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	d := launch(t, bin, "loop")
	if _, err := d.SetBreakpoint("never_called", "", false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev, err := d.Continue(ctx)
	if err != nil || ev.Reason != "interrupted" {
		t.Fatalf("continue with a cancelled context: %+v, %v", ev, err)
	}
	b, err := d.SetBreakpoint("add", "", true)
	if err != nil {
		t.Fatal(err)
	}
	ev, err = d.Continue(context.Background())
	if err != nil || ev.Breakpoint != b.ID {
		t.Fatalf("after the interruption: %+v, %v", ev, err)
	}
	if len(d.Breakpoints()) != 1 {
		t.Errorf("the tbreak is still there: %v", d.Breakpoints())
	}
}

func TestLaunchErrors(t *testing.T) {
	_, err := Launch(context.Background(), []string{"/nonexistent/program"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Errorf("launching a missing program: %v", err)
	}
	_, err = Attach(context.Background(), 1<<30, Options{})
	if !errors.Is(err, proc.ErrNoProcess) {
		t.Errorf("attaching to no process: %v", err)
	}
}

// TestGoroutinesAtBreakpoint: stopped in a stripped Go program, the
// goroutine of the stop is among Goroutines, running on the stop's thread.
func TestGoroutinesAtBreakpoint(t *testing.T) {
	bin := testprog.BuildGo(t, "debuggo", "-ldflags=-s -w")
	d := launch(t, bin, "threads", "3", "5")
	if _, err := d.SetBreakpoint("main.hit", "", false); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Continue(context.Background())
	if err != nil || ev.Reason != "breakpoint" || ev.Goroutine == 0 {
		t.Fatalf("stop %+v, %v; want a breakpoint hit by a goroutine", ev, err)
	}
	res, err := d.Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range res.Goroutines {
		if g.ID == ev.Goroutine {
			found = true
			if g.Thread != ev.TID || g.Stack == nil || len(g.Stack.Frames) == 0 || g.Stack.Frames[0].Function != "main.hit" {
				t.Errorf("goroutine %d: thread %d (want %d), stack %+v", g.ID, g.Thread, ev.TID, g.Stack)
			}
		}
	}
	if !found {
		t.Errorf("goroutine %d of the stop is not listed", ev.Goroutine)
	}
}

// TestStepOverPassedSignal: a signal that passes without stopping, arriving
// before a stepped instruction runs, has its handler run on its own: the
// step ends on the next instruction of the stepped code, not in the
// handler (a Go thread preempted by SIGURG while stepped).
func TestStepOverPassedSignal(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	d := launch(t, bin, "lines")
	if _, err := d.SetBreakpoint("add", "", false); err != nil {
		t.Fatal(err)
	}
	ev, err := d.Continue(context.Background())
	if err != nil || ev.Reason != "breakpoint" {
		t.Fatalf("%+v, %v", ev, err)
	}
	if _, err := d.Handle(syscall.SIGUSR1, []string{"nostop", "noprint", "pass"}); err != nil {
		t.Fatal(err)
	}
	in, err := d.insnAt(ev.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Tgkill(d.Pid, ev.TID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ev, err = d.StepInstruction(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := in.Addr + uint64(in.Len); ev.Reason != "step" || ev.Addr != want || ev.Function != "add" {
		t.Errorf("stepi with a SIGUSR1 waiting stopped at %+v, want %#x in add", ev, want)
	}
	if err := d.ClearBreakpoint(1); err != nil {
		t.Fatal(err)
	}
	ev, err = d.Continue(context.Background())
	if err != nil || ev.Reason != "exited" {
		t.Fatalf("%+v, %v", ev, err)
	}
}
