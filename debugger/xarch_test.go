package debugger

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
)

// TestDebugInVM drives the debugger on a real kernel of another
// architecture, under scripts/xarch-test, on the C target built by
// testdata/xarch/build (-O0, static) and the Go target of
// xarch_targets.txt. With no gdb in the VM, stops are checked against the
// "// LINE name" markers of the sources, the ELF symbols of the target file
// and what the target prints. On the host, cmd/taiji's TestDebug* tests
// cover the same flows against gdb.
func TestDebugInVM(t *testing.T) {
	goarch, ok := xarch.InVM()
	if !ok {
		t.Skip("runs in the qemu VMs of scripts/xarch-test; on the host, cmd/taiji's TestDebug* tests cover it against gdb")
	}
	testprog.ReadyTimeout = 3 * time.Minute // emulated CPUs are slow
	target := func(t *testing.T, name string) string {
		t.Helper()
		bin, ok := xarch.Target(name)
		if !ok {
			t.Fatalf("target %s missing from the VM (xarch_targets.txt, testdata/xarch/build)", name)
		}
		return bin
	}
	csrc, gosrc := testprog.DebugSources()
	t.Logf("debugging on %s", goarch)

	t.Run("c-lines", func(t *testing.T) {
		bin := target(t, "debug")
		l := func(name string) int { return markedLine(t, csrc, name) }
		d, out := launchCapture(t, bin, "lines")
		b := mustBreak(t, d, "add", "")
		ev := mustStop(t, d.Continue, "breakpoint", "add", l("add_body"))
		if ev.Breakpoint != b.ID || ev.Addr != b.Addrs()[0] {
			t.Errorf("stop %+v, want breakpoint %d at %#x", ev, b.ID, b.Addrs()[0])
		}
		// stepi runs one instruction: the next one, none of add's body
		// branches at -O0 before the first store.
		// With no decoder for the arch (mips64le), instructions are
		// fixed-width: InsnAlign bytes.
		size := uint64(d.Arch.Syscall.InsnAlign)
		if in, err := d.insnAt(ev.Addr); err == nil {
			size = uint64(in.Len)
		}
		from := ev.Addr
		ev = mustStop(t, d.StepInstruction, "step", "add", 0)
		if want := from + size; ev.Addr != want {
			t.Errorf("stepi from %#x stopped at %#x, want %#x", from, ev.Addr, want)
		}
		mustStop(t, d.Next, "step", "add", l("add_second"))
		mustStop(t, d.StepOut, "step", "main", l("call1"))
		if err := d.ClearBreakpoint(b.ID); err != nil {
			t.Fatal(err)
		}
		mustStop(t, d.Next, "step", "main", l("call2"))
		// nexti steps over the call to add: every stop is in main, and
		// the line after the call comes.
		reached := false
		for range 40 {
			ev = mustStop(t, d.NextInstruction, "step", "main", 0)
			if ev.Line == l("call3") {
				reached = true
				break
			}
		}
		if !reached {
			t.Errorf("40 nexti from line %d never reached line %d", l("call2"), l("call3"))
		}
		// On ppc64le the call enters add at its local entry, past the
		// TOC set-up: step still runs the prologue.
		mustStop(t, d.Step, "step", "add", l("add_body"))
		mustExit(t, d, out, "sum 21")
	})

	t.Run("c-conditions", func(t *testing.T) {
		bin := target(t, "debug")
		// The second argument's register: gcc -O0 on s390x moves b into
		// r2 (lgr %r2,%r3) before add's first line, while r3 keeps it
		// on every arch.
		a := arch.Host() // the guest's: the test binary is built for it
		for _, cond := range []string{"$" + a.RegNames[a.CIntArgs[1]] + " == 6", "b == 6"} {
			d, out := launchCapture(t, bin, "lines")
			b := mustBreak(t, d, "add", cond)
			mustStop(t, d.Continue, "breakpoint", "add", markedLine(t, csrc, "add_body"))
			fs, err := d.Frames()
			if err != nil {
				t.Fatal(err)
			}
			if want := markedLine(t, csrc, "call3"); len(fs) < 2 || fs[1].Function != "main" || fs[1].Line != want {
				t.Errorf("%s stopped in the call from %v, want main line %d", cond, fs, want)
			}
			mustExit(t, d, out, "sum 21")
			if b.Hits != 1 {
				t.Errorf("%s: %d hits counted, want 1", cond, b.Hits)
			}
		}
	})

	t.Run("c-set", func(t *testing.T) {
		d, out := launchCapture(t, target(t, "debug"), "lines")
		if _, err := d.SetBreakpoint("add", "", true); err != nil {
			t.Fatal(err)
		}
		mustStop(t, d.Continue, "breakpoint", "add", markedLine(t, csrc, "add_body"))
		f, err := d.CurrentFrame()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Assign(f, "a", "100"); err != nil {
			t.Fatal(err)
		}
		if v, err := d.Evaluate(f, "a+b"); err != nil || v != "102" {
			t.Errorf("print a+b after set a = 100: %q, %v; want 102", v, err)
		}
		mustExit(t, d, out, "sum 120") // 100+2 + 3+4 + 5+6
	})

	t.Run("c-threads", func(t *testing.T) {
		const threads, each = 3, 8
		d, out := launchCapture(t, target(t, "debug"), "threads", fmt.Sprint(threads), fmt.Sprint(each))
		mustBreak(t, d, "hit", "")
		hits, tids := everyHit(t, d, "hit")
		if hits != threads*each || len(tids) != threads {
			t.Errorf("%d hits in threads %v, want %d in %d threads", hits, tids, threads*each, threads)
		}
		checkOut(t, out, fmt.Sprintf("hits %d", threads*each))
	})

	t.Run("c-llsc", func(t *testing.T) {
		// si through hit()'s atomic add (ldaxr/stlxr on arm64, lld/scd
		// on mips64le, ldarx/stdcx. on ppc64le, a compare-and-swap's
		// lr.d/sc.d on riscv64): each si from the load-exclusive runs to
		// past the store-conditional, so the loop ends rather than fail
		// its store forever.
		d, out := launchCapture(t, target(t, "debug"), "threads", "1", "2")
		b := mustBreak(t, d, "hit", "")
		mustStop(t, d.Continue, "breakpoint", "hit", 0)
		if err := d.ClearBreakpoint(b.ID); err != nil {
			t.Fatal(err)
		}
		unit, left := false, false
		for range 60 {
			pc := d.pc()
			code := make([]byte, 64)
			if err := d.ReadMemory(pc, code); err != nil {
				t.Fatal(err)
			}
			ends, isSeq := atomicEnds(d.Arch, code, pc)
			ev, err := d.StepInstruction(bounded(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("si from %#x: %v", pc, ev)
			if isSeq {
				unit = true
				if !containsAddr(ends, ev.Addr) {
					t.Errorf("si from the load-exclusive at %#x stopped at %#x, want one of %x", pc, ev.Addr, ends)
				}
			}
			if ev.Function != "hit" {
				left = true
				break
			}
		}
		_, llsc := exclusives[d.Arch.Name]
		if !left || unit != llsc {
			t.Errorf("60 si in hit: left hit %v, went through a load-exclusive sequence %v (want %v)", left, unit, llsc)
		}
		mustExit(t, d, out, "hits 2")
	})

	t.Run("c-sigill", func(t *testing.T) {
		bin := target(t, "debug")
		d, out := launchCapture(t, bin, "sigill")
		ev, err := d.Continue(bounded(t))
		if err != nil || ev.Reason != "signal" || ev.Signal != "SIGILL" || ev.Function != "fault_ill" {
			t.Fatalf("continue: %+v, %v; want SIGILL in fault_ill", ev, err)
		}
		ev = mustStop(t, d.StepInstruction, "step", "on_fault", 0)
		if want := testprog.Symbol(t, bin, "on_fault"); ev.Addr != want {
			t.Errorf("stepi from the fault stopped at %#x, want the handler's first instruction %#x", ev.Addr, want)
		}
		fs, err := d.Frames()
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) < 3 || !fs[1].Signal || fs[2].Function != "fault_ill" {
			t.Errorf("bt in the handler: %v; want on_fault, the signal frame, fault_ill", fs)
		}
		tramp, err := d.StepOut(bounded(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stepout of the handler: %v", tramp)
		// By name, or, where the vDSO keeps its trampoline's symbol local
		// (mips64le), by the code the unwinder knows it by.
		code := make([]byte, len(d.Arch.SigFrame.Trampoline))
		d.ReadMemory(tramp.Addr, code)
		if tramp.Function != "__restore_rt" && !strings.Contains(tramp.Function, "sigreturn") && !bytes.Equal(code, d.Arch.SigFrame.Trampoline) {
			t.Errorf("stepout of the handler stopped at %+v, want the trampoline", tramp)
		}
		resume, found := testprog.Symbol(t, bin, "fault_ill_end"), false
		for range 8 {
			ev, err := d.StepInstruction(bounded(t))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Addr == resume {
				found = true
				break
			}
			if ev.Function != tramp.Function {
				t.Fatalf("stepping the trampoline went to %+v, want %#x (fault_ill_end)", ev, resume)
			}
		}
		if !found {
			t.Errorf("stepping through the trampoline never reached %#x", resume)
		}
		mustExit(t, d, out, "handled 1")
	})

	t.Run("c-detach", func(t *testing.T) {
		bin := target(t, "debug")
		p := testprog.Start(t, bin, "loop")
		d, err := Attach(context.Background(), p.Pid, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		mustBreak(t, d, "add", "")
		mustStop(t, d.Continue, "breakpoint", "add", 0)
		mustStop(t, d.Continue, "breakpoint", "add", 0)
		if err := d.Detach(); err != nil {
			t.Fatal(err)
		}
		testprog.CodeIntact(t, p.Pid, bin, "add")
		if !p.Alive() || strings.Contains(p.Stdout(), "corrupt") {
			t.Errorf("after detach the target is alive %v, printed %q", p.Alive(), p.Stdout())
		}
	})

	t.Run("go-lines", func(t *testing.T) {
		bin := target(t, "debuggo-stripped")
		l := func(name string) int { return markedLine(t, gosrc, name) }
		d, out := launchCapture(t, bin, "lines")
		// main.main checks its stack (main.add, a leaf, may not): the
		// breakpoint is past the check, and is hit.
		b := mustBreak(t, d, "main.main", "")
		if entry := testprog.Symbol(t, target(t, "debuggo"), "main.main"); b.Addrs()[0] <= entry {
			t.Errorf("break main.main at %#x, want past the stack check after the entry %#x", b.Addrs()[0], entry)
		}
		mustStop(t, d.Continue, "breakpoint", "main.main", 0)
		if err := d.ClearBreakpoint(b.ID); err != nil {
			t.Fatal(err)
		}
		b = mustBreak(t, d, "main.add", "")
		mustStop(t, d.Continue, "breakpoint", "main.add", l("add_body"))
		mustStop(t, d.Next, "step", "main.add", l("add_body")+1)
		mustStop(t, d.Next, "step", "main.add", l("add_return"))
		mustStop(t, d.StepOut, "step", "main.main", l("call1"))
		if err := d.ClearBreakpoint(b.ID); err != nil {
			t.Fatal(err)
		}
		mustStop(t, d.Next, "step", "main.main", l("call2"))
		mustStop(t, d.Step, "step", "main.add", l("add_body"))
		mustExit(t, d, out, "sum 21")
	})

	t.Run("go-variables", func(t *testing.T) {
		d, out := launchCapture(t, target(t, "debuggo"), "lines")
		mustBreak(t, d, "main.add", "b == 4")
		mustStop(t, d.Continue, "breakpoint", "main.add", 0)
		f, err := d.CurrentFrame()
		if err != nil {
			t.Fatal(err)
		}
		for expr, want := range map[string]string{
			"a+b":          "^7$",
			"main.counter": `v: 3}`,                                                 // a struct (atomic.Int64); add(1, 2) ran
			"os.Args":      `^\[\]string len: 2, cap: 2, \[".*/debuggo","lines"\]$`, // a slice of strings
			"os.Args[1]":   `^"lines"$`,                                             // a string
		} {
			got, err := d.Evaluate(f, expr)
			if err != nil || !regexp.MustCompile(want).MatchString(got) {
				t.Errorf("print %s = %q, %v; want %s", expr, got, err, want)
			}
		}
		if err := d.Assign(f, "a", "10"); err != nil {
			t.Fatal(err)
		}
		mustExit(t, d, out, "sum 28") // 1+2 + 10+4 + 5+6
	})

	t.Run("go-threads", func(t *testing.T) {
		const goroutines, each = 3, 8
		d, out := launchCapture(t, target(t, "debuggo-stripped"), "threads", fmt.Sprint(goroutines), fmt.Sprint(each))
		mustBreak(t, d, "main.hit", "")
		if _, err := d.Handle(syscall.SIGURG, []string{"nostop", "print", "pass"}); err != nil {
			t.Fatal(err)
		}
		if hits, _ := everyHit(t, d, "main.hit"); hits != goroutines*each {
			t.Errorf("%d hits, want %d", hits, goroutines*each)
		}
		checkOut(t, out, fmt.Sprintf("hits %d", goroutines*each))
	})
}

// cmdTimeout bounds each debugger command of TestDebugInVM: one that never
// returns (a lost stop, a livelock) ends as "interrupted" and fails its
// subtest, rather than hang the VM until its timeout. Emulated CPUs are
// slow, so it is generous.
const cmdTimeout = 3 * time.Minute

// bounded returns the context of one command (see cmdTimeout).
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	t.Cleanup(cancel)
	return ctx
}

// launchCapture launches argv with its standard output in a file, whose
// contents the returned function reads.
func launchCapture(t *testing.T, argv ...string) (*Debugger, func() string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	// Launch gives the program taiji's os.Stdout; no test runs in
	// parallel with this one.
	stdout := os.Stdout
	os.Stdout = f
	d, err := Launch(context.Background(), argv, Options{})
	os.Stdout = stdout
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}

func mustBreak(t *testing.T, d *Debugger, loc, cond string) *Breakpoint {
	t.Helper()
	b, err := d.SetBreakpoint(loc, cond, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustStop runs a command and checks its stop: the reason, the function
// and, unless 0, the line.
func mustStop(t *testing.T, cmd func(context.Context) (*Event, error), reason, fn string, line int) *Event {
	t.Helper()
	ev, err := cmd(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Reason != reason || ev.Function != fn || (line != 0 && ev.Line != line) {
		t.Fatalf("stopped at %v (%+v), want %s in %s line %d", ev, ev, reason, fn, line)
	}
	return ev
}

// mustExit continues to the end and checks the target's output.
func mustExit(t *testing.T, d *Debugger, out func() string, want string) {
	t.Helper()
	ev, err := d.Continue(bounded(t))
	if err != nil || ev.Reason != "exited" || ev.Status != 0 {
		t.Fatalf("continue to the end: %+v, %v; want the exit, status 0", ev, err)
	}
	checkOut(t, out, want)
}

func checkOut(t *testing.T, out func() string, want string) {
	t.Helper()
	if got := out(); !strings.Contains(got, want) {
		t.Errorf("the target printed %q, want %q", got, want)
	}
}

// everyHit continues until the exit, counting the breakpoint stops in fn
// and the threads they came from.
func everyHit(t *testing.T, d *Debugger, fn string) (hits int, tids map[int]bool) {
	t.Helper()
	tids = map[int]bool{}
	for range 1000 {
		ev, err := d.Continue(bounded(t))
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Reason {
		case "exited":
			return hits, tids
		case "breakpoint":
			if ev.Function != fn {
				t.Fatalf("breakpoint stop %+v, want %s", ev, fn)
			}
			hits++
			tids[ev.TID] = true
			t.Logf("hit %d: thread %d goroutine %d %#x printed %v", hits, ev.TID, ev.Goroutine, ev.Addr, ev.Printed)
		default:
			t.Fatalf("stop %+v, want breakpoints in %s then the exit", ev, fn)
		}
	}
	t.Fatal("no exit after 1000 continues")
	return
}

func containsAddr(s []uint64, a uint64) bool {
	for _, v := range s {
		if v == a {
			return true
		}
	}
	return false
}
