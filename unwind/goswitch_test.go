package unwind

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
)

// The Go releases whose builds the stack-switch tests run against, and the
// two kinds of binary: with DWARF, and stripped (-s -w), where the runtime
// layout comes from goruntime's generated tables.
var switchReleases = map[string]bool{"go1.19": true, "go1.22": true, "go1.26": true}

var switchBuilds = []struct {
	name  string
	flags []string
}{
	{"default", nil},
	{"stripped", []string{"-ldflags=-s -w"}},
}

// forSwitchTargets builds the program testdata/goswitch/<prog> with each
// toolchain and kind and runs f on it, started and ready.
func forSwitchTargets(t *testing.T, prog string, cgo bool, f func(t *testing.T, pid int, stripped bool)) {
	forSwitchTargetsIn(t, switchReleases, prog, cgo, f)
}

// forSwitchTargetsIn is forSwitchTargets for the given releases.
func forSwitchTargetsIn(t *testing.T, releases map[string]bool, prog string, cgo bool, f func(t *testing.T, pid int, stripped bool)) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ptrace")
	}
	ran := 0
	for _, tc := range testprog.Toolchains(t) {
		if !releases[tc.Version] {
			continue
		}
		for _, b := range switchBuilds {
			t.Run(tc.Version+"/"+b.name, func(t *testing.T) {
				bin := testprog.BuildGoDir(t, tc, filepath.Join("testdata", "goswitch", prog), cgo, b.flags...)
				p := testprog.Start(t, bin)
				f(t, p.Pid, b.name == "stripped")
			})
			ran++
		}
	}
	if ran == 0 {
		t.Skip("none of the Go toolchains the test wants is installed (scripts/go-toolchains --install)")
	}
}

// snapshot freezes pid as taiji stack does and unwinds every thread.
func snapshot(t *testing.T, u *Unwinder, pid int) []*Thread {
	t.Helper()
	s, err := proc.Freeze(context.Background(), pid, proc.FreezeOptions{Copy: u.CopyGoState})
	if err != nil {
		t.Fatal(err)
	}
	threads, _ := u.Process(s, Options{NoKernel: true, NoSource: true})
	return threads
}

func names(th *Thread) []string {
	var out []string
	for _, f := range th.Frames {
		out = append(out, f.Function)
	}
	return out
}

// hasInOrder reports whether want appears in got in order (not necessarily
// adjacent).
func hasInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func contains(got []string, name string) bool { return hasInOrder(got, []string{name}) }

// switchEnds are the stack-switching functions a stack must not end at
// when Go's own traceback goes on.
var switchEnds = map[string]bool{"runtime.systemstack": true, "runtime.morestack": true, "runtime.cgocallback": true}

// sampleSwitches takes snapshots until it has seen want threads inside
// marker (at most 300 snapshots), checks each such thread's stack with
// check, and counts every thread that ends at a stack switch. A thread idle
// in the scheduler ends at runtime.mcall, with no note: Go's stacks end
// there too. So does a thread in runtime.schedule under a switch (a
// goroutine preempted while growing its stack: newstack > gopreempt_m >
// schedule): dropg cleared m.curg, and Go's traceback stops at the switch.
func sampleSwitches(t *testing.T, pid int, marker string, want int, check func(th *Thread) bool) {
	u := New(arch.Host(), module.Options{})
	defer u.Close()
	seen, bad, threads, switchEnded := 0, 0, 0, 0
	for i := 0; i < 300 && seen < want; i++ {
		for _, th := range snapshot(t, u, pid) {
			n := names(th)
			if len(n) == 0 {
				continue
			}
			threads++
			if last := n[len(n)-1]; switchEnds[last] && !notSwitchedYet(n) && !contains(n, "runtime.schedule") {
				switchEnded++
				t.Logf("ends at a stack switch: %s (notes %q)", strings.Join(n, " > "), th.Notes)
			} else if last == "runtime.mcall" && len(th.Notes) > 0 {
				t.Errorf("an idle thread ends at runtime.mcall with notes %q", th.Notes)
			}
			if !contains(n, marker) {
				continue
			}
			seen++
			if !check(th) {
				bad++
				t.Logf("wrong: %s (notes %q)", strings.Join(n, " > "), th.Notes)
			}
		}
	}
	if seen < want {
		t.Fatalf("saw only %d threads in %s in 300 snapshots", seen, marker)
	}
	// Go's own traceback crosses these switches every time; so must
	// taiji, but for the rare instant a thread is inside the switch
	// itself (a few instructions), which at most 1 in 20 samples hits.
	if bad > max(1, seen/20) || switchEnded > max(1, threads/20) {
		t.Errorf("%d of %d stacks through %s are wrong; %d of %d thread stacks end at a stack switch", bad, seen, marker, switchEnded, threads)
	}
	t.Logf("%d stacks through %s, %d wrong; %d of %d thread stacks end at a stack switch", seen, marker, bad, switchEnded, threads)
}

// notSwitchedYet: the thread is inside the switching function before the
// switch (innermost, or saving its state in gosave_systemstack_switch):
// it is still on the goroutine's stack, an SPWRITE frame, where Go's own
// traceback stops too.
func notSwitchedYet(n []string) bool {
	return len(n) == 1 || (len(n) == 2 && n[0] == "gosave_systemstack_switch")
}

// endsAtGoexit: the stack reaches the goroutine's outermost frame.
func endsAtGoexit(n []string) bool { return len(n) > 0 && n[len(n)-1] == "runtime.goexit" }

// TestSystemstackToGoroutine: a goroutine in runtime.Callers runs its
// traceback on the system stack; the thread's stack must continue from
// runtime.systemstack into the goroutine (runtime.callers, the user
// function, runtime.goexit), as Go's traceback does from m.curg.sched.
func TestSystemstackToGoroutine(t *testing.T) {
	forSwitchTargets(t, "callers", false, func(t *testing.T, pid int, _ bool) {
		sampleSwitches(t, pid, "runtime.callers.func1", 10, func(th *Thread) bool {
			n := names(th)
			// On the system stack, the thread still runs the goroutine
			// (m.curg), and its header names it.
			return hasInOrder(n, []string{"runtime.callers.func1", "runtime.systemstack", "runtime.callers", "main.callersLoop", "runtime.goexit"}) &&
				endsAtGoexit(n) && th.Goroutine != 0
		})
	})
}

// TestMorestackToGoroutine: a thread growing a goroutine's stack runs
// runtime.newstack on the system stack under runtime.morestack; its stack
// must continue into the goroutine that is growing (main.grow ... goexit).
func TestMorestackToGoroutine(t *testing.T) {
	forSwitchTargets(t, "morestack", false, func(t *testing.T, pid int, _ bool) {
		sampleSwitches(t, pid, "runtime.newstack", 10, func(th *Thread) bool {
			n := names(th)
			return hasInOrder(n, []string{"runtime.newstack", "runtime.morestack", "main.grow", "main.grow", "runtime.goexit"}) &&
				endsAtGoexit(n)
		})
	})
}

// TestCgoCallbackToCaller: C called by Go calls back into Go, which blocks.
// The stack runs from the callback through runtime.cgocallback into the C
// frames on the system stack, then from runtime.asmcgocall back to the Go
// code that made the cgo call, down to runtime.goexit.
func TestCgoCallbackToCaller(t *testing.T) {
	forSwitchTargets(t, "cgocb", true, func(t *testing.T, pid int, stripped bool) {
		u := New(arch.Host(), module.Options{})
		defer u.Close()
		want := []string{"main.goCB", "runtime.cgocallback", "crosscall2", "goCB", "c_call", "c_outer",
			"runtime.asmcgocall", "runtime.cgocall", "main.callC", "main.main", "runtime.main", "runtime.goexit"}
		if stripped {
			// Without a symbol table C functions have no names; the Go
			// ones come from pclntab.
			want = []string{"main.goCB", "runtime.cgocallback", "crosscall2", "runtime.asmcgocall",
				"runtime.cgocall", "main.callC", "main.main", "runtime.main", "runtime.goexit"}
		}
		for _, th := range snapshot(t, u, pid) {
			n := names(th)
			if !contains(n, "main.goCB") {
				continue
			}
			if !hasInOrder(n, want) || !endsAtGoexit(n) {
				t.Fatalf("the callback's thread:\n  %s\nnotes %q\nwant in order: %s", strings.Join(n, "\n  "), th.Notes, strings.Join(want, " > "))
			}
			if stripped {
				// Two C frames (goCB's cgo wrapper, c_call, c_outer: at
				// least c_call and c_outer) lie between.
				i, j := indexOf(n, "crosscall2"), indexOf(n, "runtime.asmcgocall")
				if j-i-1 < 2 {
					t.Errorf("only %d frames between crosscall2 and asmcgocall:\n  %s", j-i-1, strings.Join(n, "\n  "))
				}
			}
			return
		}
		t.Fatal("no thread in main.goCB")
	})
}

func indexOf(n []string, s string) int {
	for i, x := range n {
		if x == s {
			return i
		}
	}
	return -1
}

// TestVDSOToGoroutine: goroutines reading the clock (time.Now, time.Since)
// spend their time in the vDSO, called on the system stack by time.now or
// runtime.nanotime1 (runtime.walltime on LR arches), which save their
// caller's PC and SP in m.vdsoPC and m.vdsoSP. Every stack through the
// vDSO, and every one caught in those functions, must continue to the user
// function and runtime.goexit (or, for the runtime's own clock reads on an
// M's g0, end at runtime.mstart), with no note: Go's traceback does.
func TestVDSOToGoroutine(t *testing.T) {
	vdsoFuncs := map[string]bool{"time.now": true, "runtime.nanotime1": true, "runtime.walltime": true}
	releases := map[string]bool{"go1.27": true}
	for r := range switchReleases {
		releases[r] = true
	}
	forSwitchTargetsIn(t, releases, "vdso", false, func(t *testing.T, pid int, _ bool) {
		u := New(arch.Host(), module.Options{})
		defer u.Close()
		inVDSO, inFunc, bad := 0, 0, 0
		// Caught in the caller after the vDSO returned (SP still on the
		// system stack) is rarer: a few samples of it are worth waiting for.
		for i := 0; i < 300 && (inVDSO < 20 || inFunc < 5); i++ {
			for _, th := range snapshot(t, u, pid) {
				n := names(th)
				at := -1
				for j, name := range n {
					if vdsoFuncs[name] {
						at = j
						break
					}
				}
				if at < 0 {
					continue
				}
				if at > 0 {
					inVDSO++
				} else {
					inFunc++
				}
				user := contains(n, "main.clock") || contains(n, "main.since")
				// The runtime reads the clock on an M's own g0 stack too
				// (sysmon, the scheduler's findRunnable): no goroutine is
				// under it, and the stack ends where every g0 stack does.
				scheduler := !user && len(n) > 0 && (n[len(n)-1] == "runtime.mstart" || n[len(n)-1] == "runtime.rt0_go")
				if !scheduler && (!user || !endsAtGoexit(n)) || len(th.Notes) > 0 {
					bad++
					t.Logf("wrong: %s (notes %q)", strings.Join(n, " > "), th.Notes)
				}
			}
		}
		if inVDSO < 20 {
			t.Fatalf("saw only %d threads in the vDSO in 300 snapshots", inVDSO)
		}
		if bad > 0 {
			t.Errorf("%d of %d stacks through a vDSO call (%d inside the vDSO) are wrong", bad, inVDSO+inFunc, inVDSO)
		}
		t.Logf("%d stacks in the vDSO, %d in its callers, %d wrong", inVDSO, inFunc, bad)
	})
}
