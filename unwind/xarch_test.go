package unwind_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/unwind"
)

// TestStackInVM runs the whole stack pipeline (freeze, CFI and Go
// unwinding, signal frames, naming) on a real kernel of another
// architecture, under scripts/xarch-test. There is no gdb in the VM: the
// expected frames come from the targets' sources (internal/testprog).
func TestStackInVM(t *testing.T) {
	goarch, ok := xarch.InVM()
	if !ok {
		t.Skip("runs in the qemu VMs of scripts/xarch-test; on the host, cmd/taiji's tests compare every stack with gdb's")
	}
	testprog.ReadyTimeout = 3 * time.Minute // emulated CPUs are slow
	for _, name := range []string{"native", "gotarget", "gotarget-stripped", "cgotarget"} {
		t.Run(name, func(t *testing.T) {
			bin, ok := xarch.Target(name)
			if !ok {
				t.Fatalf("target %s missing from the VM (xarch_targets.txt, testdata/xarch/build)", name)
			}
			p := testprog.Start(t, bin)
			snap, err := proc.Freeze(context.Background(), p.Pid, proc.FreezeOptions{Kernel: true})
			if err != nil {
				t.Fatal(err)
			}
			u := unwind.New(arch.Host(), module.Options{Root: proc.Root(p.Pid)})
			defer u.Close()
			threads, notes := u.Process(snap, unwind.Options{})
			var text strings.Builder
			for _, th := range threads {
				text.WriteString(th.String())
			}
			t.Logf("%s on %s, notes %q:\n%s", name, goarch, notes, text.String())
			switch name {
			case "native":
				checkNative(t, threads)
			case "cgotarget":
				checkCgo(t, threads)
			default:
				checkGo(t, threads)
			}
		})
	}
}

func byName(threads []*unwind.Thread) map[string]*unwind.Thread {
	m := map[string]*unwind.Thread{}
	for _, th := range threads {
		m[th.Name] = th
	}
	return m
}

// inOrder reports whether names appear in frames in this order ("" stands
// for the signal frame).
func inOrder(frames []unwind.Frame, names ...string) bool {
	i := 0
	for _, f := range frames {
		if i < len(names) && ((names[i] == "" && f.Kind == unwind.Signal) || (names[i] != "" && f.Function == names[i])) {
			i++
		}
	}
	return i == len(names)
}

func checkNative(t *testing.T, threads []*unwind.Thread) {
	th := byName(threads)
	for name, want := range map[string][]string{
		"reader":  {"reader_level1", "reader_level2", "reader_level3", "reader_thread", "start_thread"},
		"sleeper": {"sleeper_level1", "sleeper_thread", "start_thread"},
		"inline":  {"leaf_inline", "mid_inline", "inline_host", "inline_thread", "start_thread"},
		"signal":  {"handler_block", "usr1_handler", "", "interrupted_level1", "interrupted_level2", "signal_thread", "start_thread"},
	} {
		x := th[name]
		if x == nil {
			t.Errorf("no thread %q", name)
			continue
		}
		if !inOrder(x.Frames, want...) {
			t.Errorf("thread %q lacks %q in order", name, want)
		}
		if len(x.Notes) > 0 {
			t.Errorf("thread %q: walk ended early: %q", name, x.Notes)
		}
	}
	if x := th["inline"]; x != nil {
		for _, f := range x.Frames {
			if (f.Function == "leaf_inline" || f.Function == "mid_inline") && f.Kind != unwind.Inline {
				t.Errorf("%s is not an inline frame", f.Function)
			}
		}
	}
	if x := th["recurse"]; x != nil {
		n := 0
		for _, f := range x.Frames {
			if f.Function == "recurse" {
				n++
			}
		}
		if n != 1001 {
			t.Errorf("recursion: %d recurse frames, want 1001", n)
		}
	}
}

var goEnds = map[string]bool{"runtime.goexit": true, "runtime.mstart": true, "runtime.rt0_go": true,
	"runtime.mcall": true, "runtime.systemstack": true, "runtime.morestack": true}

func checkGo(t *testing.T, threads []*unwind.Thread) {
	found := false
	for _, th := range threads {
		if len(th.Frames) == 0 {
			t.Errorf("thread %d: no frames (%s)", th.TID, th.Err)
			continue
		}
		if last := th.Frames[len(th.Frames)-1]; !goEnds[last.Function] {
			t.Errorf("thread %d ends at %q, not at an outermost Go frame (notes %q)", th.TID, last.Function, th.Notes)
		}
		for _, f := range th.Frames {
			if f.Kind != unwind.Kernel && f.Function == "" {
				t.Errorf("thread %d: unnamed frame at %#x", th.TID, f.PC)
			}
		}
		if inOrder(th.Frames, "syscall.read", "main.syscallLeafInline", "main.syscallHost", "runtime.goexit") {
			found = true
		}
	}
	if !found {
		t.Error("no thread shows the goroutine blocked in read (syscall.read .. main.syscallHost .. runtime.goexit)")
	}
}

// checkCgo: the goroutine blocked in C shows its C frames, then, through
// runtime.asmcgocall and g.sched, the Go frames that made the call.
func checkCgo(t *testing.T, threads []*unwind.Thread) {
	cthread, gocall := false, false
	for _, th := range threads {
		if inOrder(th.Frames, "c_thread_level1", "c_thread_main", "start_thread") {
			cthread = true
		}
		if inOrder(th.Frames, "c_blocking_read", "runtime.asmcgocall") {
			gocall = true
			if !inOrder(th.Frames, "c_blocking_read", "runtime.asmcgocall", "runtime.cgocall", "main.goCallsC", "runtime.goexit") {
				t.Errorf("thread %d: the cgo call is not followed back to its goroutine (notes %q)", th.TID, th.Notes)
			}
		}
	}
	if !cthread || !gocall {
		t.Errorf("C thread found: %v, goroutine in C found: %v", cthread, gocall)
	}
}
