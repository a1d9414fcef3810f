package testprog_test

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/gdboracle"
	"github.com/taijidbg/taiji/internal/testprog"
)

// subsequence reports whether want appears in got in order (not necessarily
// adjacent), returning the index in got of each match.
func subsequence(got []string, want ...string) ([]int, bool) {
	idx := make([]int, 0, len(want))
	i := 0
	for _, w := range want {
		for i < len(got) && got[i] != w {
			i++
		}
		if i == len(got) {
			return idx, false
		}
		idx = append(idx, i)
		i++
	}
	return idx, true
}

// thread returns gdb's view of the thread called name.
func thread(t *testing.T, p *testprog.Proc, threads []gdboracle.Thread, name string) *gdboracle.Thread {
	t.Helper()
	tid := p.TID(t, name)
	th := gdboracle.Find(threads, tid)
	if th == nil {
		t.Fatalf("gdb did not report thread %s (tid %d)\n%s", name, tid, gdboracle.Format(threads))
	}
	return th
}

func backtrace(t *testing.T, pid int, opts gdboracle.Options) []gdboracle.Thread {
	t.Helper()
	threads, out, err := gdboracle.BacktraceOutput(pid, opts)
	if err != nil {
		t.Fatalf("%v\ngdb output:\n%s", err, out)
	}
	return threads
}

// checkNative asserts the stable states native.c promises, as gdb sees them.
func checkNative(t *testing.T, p *testprog.Proc, threads []gdboracle.Thread, depth int) {
	t.Helper()
	fail := func(th *gdboracle.Thread, format string, args ...any) {
		t.Helper()
		t.Errorf("thread %s (%d): %s\n%s", th.Name, th.TID, fmt.Sprintf(format, args...), gdboracle.Format([]gdboracle.Thread{*th}))
	}
	want := map[string][]string{
		"reader":  {"reader_level1", "reader_level2", "reader_level3", "reader_thread", "start_thread"},
		"sleeper": {"sleeper_level1", "sleeper_thread", "start_thread"},
		"signal": {"handler_block", "usr1_handler", "interrupted_level1", "interrupted_level2",
			"signal_thread", "start_thread"},
		"inline":                  {"leaf_inline", "mid_inline", "inline_host", "inline_thread", "start_thread"},
		"recurse":                 {"recurse", "recurse_thread", "start_thread"},
		filepath.Base(p.Cmd.Path): {"main_wait", "main"},
	}
	for name, fns := range want {
		th := thread(t, p, threads, name)
		if _, ok := subsequence(th.Functions(), fns...); !ok {
			fail(th, "want functions %v in this order", fns)
		}
		// Every thread is asleep in a libc system-call wrapper, which sits
		// below the first function of ours.
		if len(th.Frames) == 0 || th.Frames[0].Function == fns[0] {
			fail(th, "innermost frame should be libc's, not %s", fns[0])
		}
	}

	// The signal frame lies between the handler and the interrupted code.
	sig := thread(t, p, threads, "signal")
	fns := sig.Functions()
	if idx, ok := subsequence(fns, "usr1_handler", "interrupted_level1"); ok {
		n := 0
		for _, f := range sig.Frames[idx[0]+1 : idx[1]] {
			if f.Type == "sigtramp" {
				n++
			}
		}
		if n != 1 {
			fail(sig, "want one sigtramp frame between usr1_handler and interrupted_level1, got %d", n)
		}
	}

	// The read() in the inline thread returns into inlined code: gdb shows
	// leaf_inline and mid_inline as inline frames sharing inline_host's PC.
	in := thread(t, p, threads, "inline")
	if idx, ok := subsequence(in.Functions(), "leaf_inline", "mid_inline", "inline_host"); ok {
		leaf, mid, host := in.Frames[idx[0]], in.Frames[idx[1]], in.Frames[idx[2]]
		if leaf.Type != "inline" || mid.Type != "inline" || host.Type != "normal" {
			fail(in, "frame types leaf_inline=%s mid_inline=%s inline_host=%s, want inline, inline, normal",
				leaf.Type, mid.Type, host.Type)
		}
		if leaf.PC != host.PC || mid.PC != host.PC {
			fail(in, "inline frames should share inline_host's PC")
		}
		if !strings.HasSuffix(leaf.File, "native.c") || leaf.Line == 0 {
			fail(in, "leaf_inline has no source line in native.c: %s:%d", leaf.File, leaf.Line)
		}
	}

	// Recursion: recurse(depth) .. recurse(0) is depth+1 frames.
	rec := thread(t, p, threads, "recurse")
	n := 0
	for _, f := range rec.Frames {
		if f.Function == "recurse" {
			n++
		}
	}
	if n != depth+1 {
		t.Errorf("recurse thread has %d recurse frames, want %d (depth %d)", n, depth+1, depth)
	}
}

func TestNative(t *testing.T) {
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native")
	const depth = 300
	p := testprog.Start(t, bin, fmt.Sprint(depth))
	threads := backtrace(t, p.Pid, gdboracle.Options{})
	checkNative(t, p, threads, depth)
	if len(threads) != 6 {
		t.Errorf("gdb saw %d threads, want 6\n%s", len(threads), gdboracle.Format(threads))
	}

	// Nothing changes between two observers: a second attach sees exactly
	// the same frames (PCs, SPs, types, names).
	again := backtrace(t, p.Pid, gdboracle.Options{})
	if !reflect.DeepEqual(threads, again) {
		t.Errorf("stacks changed between two gdb runs:\nfirst:\n%s\nsecond:\n%s",
			gdboracle.Format(threads), gdboracle.Format(again))
	}
	if !p.Alive() {
		t.Fatalf("target died after gdb detached; stderr: %s", p.Stderr())
	}
}

func TestNativeDefaultDepth(t *testing.T) {
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native")
	p := testprog.Start(t, bin)
	checkNative(t, p, backtrace(t, p.Pid, gdboracle.Options{}), 1000)

	// $TESTPROG_DEPTH is the fallback when there is no argument.
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "TESTPROG_DEPTH=17")
	p = testprog.StartCmd(t, cmd)
	checkNative(t, p, backtrace(t, p.Pid, gdboracle.Options{}), 17)
}

// TestNativeO0 builds with extra flags; later flags win.
func TestNativeO0(t *testing.T) {
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native", "-O0", "-fno-omit-frame-pointer")
	p := testprog.Start(t, bin, "5")
	checkNative(t, p, backtrace(t, p.Pid, gdboracle.Options{}), 5)
}

func sectionNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]bool{}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS {
			m[s.Name] = true
		}
	}
	return m
}

func TestSplitDebug(t *testing.T) {
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native")
	const depth = 20
	full := testprog.Start(t, bin, fmt.Sprint(depth))
	fullThreads := backtrace(t, full.Pid, gdboracle.Options{})

	for _, how := range []string{testprog.DebuglinkSameDir, testprog.DebuglinkDotDebug, testprog.BuildID} {
		t.Run(how, func(t *testing.T) {
			s := testprog.SplitDebugFiles(t, bin, how)
			stripped, debug := testprog.SplitDebug(t, bin, how)
			if filepath.Base(stripped) != filepath.Base(s.Stripped) || filepath.Base(debug) != filepath.Base(s.Debug) {
				t.Errorf("SplitDebug and SplitDebugFiles disagree: %s %s vs %+v", stripped, debug, s)
			}

			ss := sectionNames(t, s.Stripped)
			for _, sec := range []string{".symtab", ".debug_info", ".debug_line"} {
				if ss[sec] {
					t.Errorf("stripped binary still has %s", sec)
				}
			}
			if !ss[".eh_frame"] {
				t.Errorf("stripped binary lost .eh_frame")
			}
			if ss[".gnu_debuglink"] == (how == testprog.BuildID) {
				t.Errorf(".gnu_debuglink present=%v for layout %s", ss[".gnu_debuglink"], how)
			}
			ds := sectionNames(t, s.Debug)
			if !ds[".debug_info"] || !ds[".symtab"] {
				t.Errorf("debug file lacks .debug_info or .symtab: %v", ds)
			}
			if id, err := testprog.ReadBuildID(s.Stripped); err != nil || id != s.BuildID || id == "" {
				t.Errorf("stripped build ID %q (%v), want %q", id, err, s.BuildID)
			}
			switch how {
			case testprog.DebuglinkDotDebug:
				if filepath.Join(filepath.Dir(s.Stripped), ".debug", filepath.Base(s.Debug)) != s.Debug {
					t.Errorf("debug file %s not in .debug next to %s", s.Debug, s.Stripped)
				}
			case testprog.BuildID:
				want := filepath.Join(s.DebugDir, ".build-id", s.BuildID[:2], s.BuildID[2:]+".debug")
				if s.Debug != want {
					t.Errorf("debug file %s, want %s", s.Debug, want)
				}
			}

			p := testprog.Start(t, s.Stripped, fmt.Sprint(depth))
			threads := backtrace(t, p.Pid, gdboracle.Options{DebugFileDirectory: s.DebugDir})
			checkNative(t, p, threads, depth)
			// Same functions, thread by thread (matched by name), as the
			// unsplit binary.
			for name, tids := range mustThreads(t, p) {
				got := gdboracle.Find(threads, tids[0])
				wantName := name
				if tids[0] == p.Pid {
					wantName = filepath.Base(bin)
				}
				want := gdboracle.Find(fullThreads, full.TID(t, wantName))
				if got == nil || want == nil {
					t.Fatalf("thread %s missing", name)
				}
				if !reflect.DeepEqual(got.Functions(), want.Functions()) {
					t.Errorf("thread %s: split binary gives\n%s\nunsplit gives\n%s", name,
						gdboracle.Format([]gdboracle.Thread{*got}), gdboracle.Format([]gdboracle.Thread{*want}))
				}
			}

			if how == testprog.BuildID {
				// Without the debug root gdb must not find our names: this
				// proves the lookup above went through the build ID.
				threads := backtrace(t, p.Pid, gdboracle.Options{})
				th := gdboracle.Find(threads, p.TID(t, "reader"))
				if _, ok := subsequence(th.Functions(), "reader_level1"); ok {
					t.Errorf("gdb found reader_level1 without the debug directory:\n%s", gdboracle.Format(threads))
				}
			}
		})
	}
}

func mustThreads(t *testing.T, p *testprog.Proc) map[string][]int {
	t.Helper()
	m, err := p.Threads()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGoTarget(t *testing.T) {
	gdboracle.Require(t)
	for _, flags := range [][]string{nil, {"-buildmode=pie"}} {
		t.Run(strings.Join(append([]string{"default"}, flags...), ","), func(t *testing.T) {
			bin := testprog.BuildGo(t, "gotarget", flags...)
			p := testprog.Start(t, bin)
			threads := backtrace(t, p.Pid, gdboracle.Options{})
			var found *gdboracle.Thread
			for i := range threads {
				if _, ok := subsequence(threads[i].Functions(), "main.syscallHost"); ok {
					found = &threads[i]
				}
			}
			if found == nil {
				t.Fatalf("no thread in main.syscallHost\n%s", gdboracle.Format(threads))
			}
			idx, ok := subsequence(found.Functions(), "syscall.read", "main.syscallLeafInline", "main.syscallOuterInline", "main.syscallHost")
			if !ok {
				t.Fatalf("syscall thread lacks the inline chain\n%s", gdboracle.Format([]gdboracle.Thread{*found}))
			}
			if found.Frames[idx[1]].Type != "inline" && found.Frames[idx[2]].Type != "inline" {
				t.Errorf("no inline frames in the syscall chain\n%s", gdboracle.Format([]gdboracle.Thread{*found}))
			}
		})
	}
	t.Run("stripped", func(t *testing.T) {
		// -s -w leaves only pclntab: gdb knows nothing, but the target runs.
		bin := testprog.BuildGo(t, "gotarget", "-ldflags=-s -w")
		if sectionNames(t, bin)[".symtab"] {
			t.Errorf("-ldflags=-s -w binary has .symtab")
		}
		p := testprog.Start(t, bin)
		if !p.Alive() || p.Stdout() != "ready\n" {
			t.Errorf("alive=%v stdout=%q", p.Alive(), p.Stdout())
		}
	})
}

func TestCgoTarget(t *testing.T) {
	gdboracle.Require(t)
	bin := testprog.BuildGo(t, "cgotarget")
	p := testprog.Start(t, bin)
	threads := backtrace(t, p.Pid, gdboracle.Options{})
	cth := thread(t, p, threads, "cthread")
	if _, ok := subsequence(cth.Functions(), "c_thread_level1", "c_thread_main", "start_thread"); !ok {
		t.Errorf("C thread:\n%s", gdboracle.Format([]gdboracle.Thread{*cth}))
	}
	n := 0
	for _, th := range threads {
		if _, ok := subsequence(th.Functions(), "c_blocking_read"); ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d threads in c_blocking_read, want 1\n%s", n, gdboracle.Format(threads))
	}
}

func TestReadBuildID(t *testing.T) {
	bin := testprog.BuildC(t, "native")
	id, err := testprog.ReadBuildID(bin)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("readelf", "-n", bin).CombinedOutput()
	if err != nil {
		t.Skipf("readelf: %v", err)
	}
	if len(id) != 40 || !strings.Contains(string(out), "Build ID: "+id) {
		t.Errorf("build ID %q not in readelf -n output:\n%s", id, out)
	}
	// A Go binary without external linking has a Go build ID note but no
	// GNU one unless asked for.
	if id, err := testprog.ReadBuildID("/proc/self/exe"); err != nil {
		t.Errorf("ReadBuildID(/proc/self/exe): %v (id %q)", err, id)
	}
}

func TestStartFailures(t *testing.T) {
	// A target that exits before "ready" fails the test with its output;
	// run that in a subprocess-free way with a fake testing.TB.
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		testprog.Start(ft, "/bin/sh", "-c", "echo hello; echo oops >&2; exit 3")
	}()
	<-done
	if !strings.Contains(ft.msg, "exited before printing ready") || !strings.Contains(ft.msg, "oops") {
		t.Errorf("Start failure message: %q", ft.msg)
	}
}

// fatalTB records the first Fatal message and ends the goroutine, like
// testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Helper() {}
