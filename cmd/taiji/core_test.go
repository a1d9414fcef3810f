package main

// Cores: written by the kernel (a crashing C program, a Go program killed
// with SIGQUIT under GOTRACEBACK=crash) and by taiji dump, read by taiji
// stack --core, with gdb on the same core as the oracle.

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/gdboracle"
	"github.com/taijidbg/taiji/internal/testprog"
)

// stackCoreJSON runs taiji stack --json --core core.
func stackCoreJSON(t *testing.T, core string, args ...string) jsonReport {
	t.Helper()
	out, errOut, err := runTaiji(t, append([]string{"stack", "--json", "--max-frames", "0", "--core", core}, args...)...)
	if err != nil {
		t.Fatalf("taiji stack --core %s: %v\n%s", core, err, errOut)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("taiji stack --core --json printed invalid JSON: %v\n%s", err, out)
	}
	return r
}

// compareCoreWithGDB checks taiji's frames of every thread of a core
// against gdb's on the same core, frame PC by frame PC (diffFrames).
func compareCoreWithGDB(t *testing.T, exe, core string, co compareOpts) jsonReport {
	t.Helper()
	r := stackCoreJSON(t, core)
	gdb, raw, err := gdboracle.CoreBacktrace(exe, core, "", gdboracle.Options{})
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, raw)
	}
	if len(gdb) != len(r.Threads) {
		t.Errorf("gdb sees %d threads in the core, taiji %d", len(gdb), len(r.Threads))
	}
	for _, g := range gdb {
		th := findThread(r, g.TID)
		if th == nil {
			t.Errorf("thread %d: missing from taiji's output", g.TID)
			continue
		}
		var want []gdboracle.Frame
		for _, f := range g.Frames {
			if f.Type != "tailcall" {
				want = append(want, f)
			}
		}
		if msg := diffFrames(th.Frames, want, co); msg != "" {
			t.Errorf("thread %d: %s\ntaiji:\n%s\ngdb:\n%s", g.TID, msg, formatJSONFrames(th.Frames), gdboracle.Format([]gdboracle.Thread{g}))
		}
	}
	return r
}

func findThread(r jsonReport, tid int) *jsonThread {
	for i := range r.Threads {
		if r.Threads[i].TID == tid {
			return &r.Threads[i]
		}
	}
	return nil
}

// userPCs returns a thread's frame PCs, kernel frames left out.
func userPCs(th *jsonThread) []string {
	var s []string
	for _, f := range th.Frames {
		if f.Kind != "kernel" {
			s = append(s, f.PC)
		}
	}
	return s
}

// kernelCoreDir returns a directory where a process started in it with
// RLIMIT_CORE unlimited gets its core written by the kernel, or skips the
// test when the machine's core_pattern sends cores elsewhere (a pipe to
// systemd-coredump or apport, an absolute path): the test changes nothing
// of the machine's setting.
func kernelCoreDir(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		t.Skipf("no core_pattern: %v", err)
	}
	pat := strings.TrimSpace(string(b))
	if strings.HasPrefix(pat, "|") || strings.Contains(pat, "/") {
		t.Skipf("core_pattern is %q: cores do not land in the crashing process's directory, and this test does not change it", pat)
	}
	return t.TempDir()
}

// findCore returns the one core file the kernel wrote in dir.
func findCore(t *testing.T, dir string) string {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(dir, "core*"))
	if len(ms) != 1 {
		t.Fatalf("want one core in %s, found %q", dir, ms)
	}
	return ms[0]
}

// withCoreLimit wraps a command so that it may dump core (ulimit -c
// unlimited for it alone), run in dir.
func withCoreLimit(dir, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -c unlimited && exec "$0" "$@"`, bin}, args...)...)
	cmd.Dir = dir
	return cmd
}

// crashCore builds testdata/crash.c with flags, runs it to its SIGSEGV and
// returns the binary and the core the kernel wrote.
func crashCore(t *testing.T, flags ...string) (bin, core string) {
	t.Helper()
	dir := kernelCoreDir(t)
	bin = filepath.Join(t.TempDir(), "crash")
	gcc(t, append(append([]string{"-pthread", "-o", bin}, flags...), "testdata/crash.c")...)
	err := withCoreLimit(dir, bin).Run()
	if ee, ok := err.(*exec.ExitError); !ok || !ee.Sys().(syscall.WaitStatus).CoreDump() {
		t.Fatalf("crash did not dump core: %v", err)
	}
	return bin, findCore(t, dir)
}

// A multi-threaded C program dies of SIGSEGV in one thread while the others
// are blocked: taiji reads the kernel's core as gdb does, frame by frame.
func TestStackKernelCoreCrash(t *testing.T) {
	gdboracle.Require(t)
	bin, core := crashCore(t, "-g", "-O1")
	r := compareCoreWithGDB(t, bin, core, compareOpts{})
	if len(r.Threads) != 4 {
		t.Errorf("want 4 threads, got %d", len(r.Threads))
	}
	if ns := notesContaining(r, "received SIGSEGV", "fault address 0x0"); len(ns) != 1 {
		t.Errorf("want one note saying which thread received SIGSEGV at 0x0; notes: %q", r.Notes)
	}
	for _, want := range [][]string{
		{"crash_leaf", "crash_mid", "crasher", "start_thread", "clone3"},
		{"blocked_read", "reader", "start_thread", "clone3"},
		{"blocked_wait", "waiter", "start_thread", "clone3"},
		{"main", "__libc_start_call_main"},
	} {
		found := false
		for _, th := range r.Threads {
			found = found || hasSubsequence(th.Frames, want)
		}
		if !found {
			t.Errorf("no thread shows %q", want)
		}
	}
	// A compressed copy, as systemd-coredump stores it, reads the same.
	for _, tool := range []struct{ name, ext string }{{"zstd", ".zst"}, {"xz", ".xz"}, {"lz4", ".lz4"}} {
		if c := stackCoreJSON(t, compress(t, tool.name, core, tool.ext)); !sameReports(r, c) {
			t.Errorf("the %s copy reads differently", tool.name)
		}
	}
}

// compress writes a copy of file compressed by tool (zstd, xz, lz4: what
// systemd-coredump uses) as file+ext.
func compress(t *testing.T, tool, file, ext string) string {
	t.Helper()
	out, err := os.Create(file + ext)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(tool, "-c", file)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s -c %s: %v\n%s (the Makefile's DEBS install it)", tool, file, err, stderr.String())
	}
	return file + ext
}

// sameReports reports whether two reports have the same threads with the
// same frames.
func sameReports(a, b jsonReport) bool {
	if len(a.Threads) != len(b.Threads) {
		return false
	}
	for i := range a.Threads {
		if a.Threads[i].TID != b.Threads[i].TID || !slices.Equal(a.Threads[i].Frames, b.Threads[i].Frames) {
			return false
		}
	}
	return true
}

// A Go program killed by SIGQUIT under GOTRACEBACK=crash dumps core from
// its signal handler: every thread's stack runs through signal frames,
// and taiji reads it as gdb does.
func TestStackKernelCoreGoSIGQUIT(t *testing.T) {
	gdboracle.Require(t)
	dir := kernelCoreDir(t)
	bin := testprog.BuildGo(t, "gotarget")
	cmd := withCoreLimit(dir, bin)
	cmd.Env = append(os.Environ(), "GOTRACEBACK=crash")
	p := testprog.StartCmd(t, cmd)
	if err := syscall.Kill(p.Pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); p.Alive(); {
		if time.Now().After(deadline) {
			t.Fatal("the target did not die of SIGQUIT")
		}
		time.Sleep(20 * time.Millisecond)
	}
	core := findCore(t, dir)
	r := compareCoreWithGDB(t, bin, core, compareOpts{goJunk: true})
	// After its traceback, the runtime dies of SIGABRT (dieFromSignal).
	if ns := notesContaining(r, "received SIGABRT"); len(ns) != 1 {
		t.Errorf("want one note saying which thread received SIGABRT; notes: %q", r.Notes)
	}
	// The goroutine blocked in read is on some thread's stack, above the
	// signal frame of the SIGQUIT that stopped it, or on none: Go parks
	// it; what every thread must show is its way out to the runtime's
	// outermost frames.
	for _, th := range r.Threads {
		if len(th.Frames) == 0 {
			t.Errorf("thread %d: no frames: %q", th.TID, th.Notes)
			continue
		}
		if last := th.Frames[len(th.Frames)-1].Function; !goEnds[last] {
			t.Errorf("thread %d: ends at %q:\n%s", th.TID, last, formatJSONFrames(th.Frames))
		}
	}
}

// taiji dump of the stack test targets: taiji stack --core prints what a
// live taiji stack printed just before, frame PC by frame PC; gdb reads
// the core the same way; a zstd copy reads the same.
func TestDumpMatchesLive(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	for _, tc := range []struct {
		name string
		bin  func(t *testing.T) string
		co   compareOpts
	}{
		{"native", func(t *testing.T) string { return testprog.BuildC(t, "native") }, compareOpts{}},
		{"go", func(t *testing.T) string { return testprog.BuildGo(t, "gotarget") }, compareOpts{goJunk: true}},
		{"cgo", func(t *testing.T) string { return testprog.BuildGo(t, "cgotarget") }, compareOpts{goJunk: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := tc.bin(t)
			p := testprog.Start(t, bin)
			before := stackJSON(t, p.Pid, "--max-frames", "0")
			core := filepath.Join(t.TempDir(), "core")
			_, errOut, err := runTaiji(t, "dump", "-o", core, strconv.Itoa(p.Pid))
			if err != nil {
				t.Fatalf("taiji dump: %v\n%s", err, errOut)
			}
			after := stackJSON(t, p.Pid, "--max-frames", "0")
			if !p.Alive() {
				t.Fatal("the target died")
			}
			c := compareCoreWithGDB(t, bin, core, tc.co)
			if len(c.Threads) != len(before.Threads) {
				t.Errorf("the core has %d threads, the live process %d", len(c.Threads), len(before.Threads))
			}
			moved := 0
			for i := range before.Threads {
				live := &before.Threads[i]
				if !sameUserPCs(live, after) {
					moved++ // the Go runtime's sysmon wakes now and then
					continue
				}
				th := findThread(c, live.TID)
				if th == nil {
					t.Errorf("thread %d is not in the core", live.TID)
					continue
				}
				if !slices.Equal(userPCs(th), userPCs(live)) {
					t.Errorf("thread %d: the core's frames differ from the live process's\ncore:\n%s\nlive:\n%s", live.TID, formatJSONFrames(th.Frames), formatJSONFrames(live.Frames))
				}
			}
			if moved > 1 {
				t.Errorf("%d threads changed between observations", moved)
			}
			if z := stackCoreJSON(t, compress(t, "zstd", core, ".zst")); !sameReports(c, z) {
				t.Errorf("the zstd copy reads differently")
			}
			// By default the text of files is left out (coredump_filter
			// 0x33), all but the vDSO's; --all-mappings keeps it.
			if n := fullTextSegments(t, core); n != 1 {
				t.Errorf("the core holds the text of %d mappings, want 1 (the vDSO)", n)
			}
			all := core + ".all"
			if _, errOut, err := runTaiji(t, "dump", "--all-mappings", "-o", all, strconv.Itoa(p.Pid)); err != nil {
				t.Fatalf("taiji dump --all-mappings: %v\n%s", err, errOut)
			}
			if n := fullTextSegments(t, all); n < 2 {
				t.Errorf("with --all-mappings, the core holds the text of %d mappings, want the program's too", n)
			}
			if tc.name == "go" {
				checkDelve(t, bin, core)
			}
		})
	}
}

// fullTextSegments counts the executable segments a core holds in full.
func fullTextSegments(t *testing.T, core string) int {
	t.Helper()
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Filesz > 0 && p.Filesz == p.Memsz {
			n++
		}
	}
	return n
}

// checkDelve opens a core of the gotarget with delve (bin/dlv, from make
// bench-deps, or on PATH), if it is there: it must list the goroutines.
func checkDelve(t *testing.T, bin, core string) {
	t.Helper()
	dlv, err := filepath.Abs("../../bin/dlv")
	if _, serr := os.Stat(dlv); err != nil || serr != nil {
		if dlv, err = exec.LookPath("dlv"); err != nil {
			t.Log("delve not installed (make bench-deps): not checked")
			return
		}
	}
	cmd := exec.Command(dlv, "core", "--allow-non-terminal-interactive=true", bin, core)
	cmd.Stdin = strings.NewReader("goroutines\nexit\n")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "Version of Delve is too old") {
		// A delve on PATH older than the toolchain (the pinned one is
		// bin/dlv): it refuses before reading anything.
		t.Logf("%s is too old for this Go release: not checked", dlv)
		return
	}
	if err != nil || !strings.Contains(string(out), "main.chanRecvHost") {
		t.Errorf("dlv core: %v; want the goroutine in main.chanRecvHost:\n%s", err, out)
	}
}

// A binary that is not the one the process ran (--exe of another build),
// or files missing (an empty --sysroot), are named in one note each kind;
// the frames they hold are shown unnamed, the others named.
func TestStackCoreWrongFiles(t *testing.T) {
	bin, core := crashCore(t, "-g", "-O1", "-Wl,--build-id")
	other := filepath.Join(t.TempDir(), "other")
	gcc(t, "-g", "-O0", "-pthread", "-Wl,--build-id", "-o", other, "testdata/crash.c")

	r := stackCoreJSON(t, core, "--exe", other)
	if ns := notesContaining(r, other, "is not the file the process mapped", "build-id"); len(ns) != 1 || len(r.Notes) != 2 {
		t.Errorf("want the SIGSEGV note and one naming %s as another build; notes: %q", other, r.Notes)
	}
	named, unnamed := 0, 0
	for _, th := range r.Threads {
		for _, f := range th.Frames {
			switch {
			case f.Module == bin && f.Function != "":
				t.Errorf("frame %s in %s named %q from the wrong binary", f.PC, bin, f.Function)
			case f.Module == bin:
				unnamed++
			case f.Function != "":
				named++
			}
		}
	}
	if unnamed == 0 || named == 0 {
		t.Errorf("want the program's frames unnamed (%d) and libc's named (%d)", unnamed, named)
	}

	r = stackCoreJSON(t, core, "--sysroot", t.TempDir())
	if ns := notesContaining(r, "not found", bin, "libc.so.6"); len(ns) != 1 || len(r.Notes) != 2 {
		t.Errorf("want the SIGSEGV note and one naming every missing file; notes: %q", r.Notes)
	}
	if th := findThread(r, r.Pid); th == nil || len(th.Frames) == 0 {
		t.Errorf("no frames shown without the files")
	}
}

func TestStackCoreBadInput(t *testing.T) {
	_, stderr, err := runTaiji(t, "stack", "--core", "/bin/true")
	oneLine(t, stderr, err, "/bin/true is an ELF", "not a core", "--exe")

	_, stderr, err = runTaiji(t, "stack", "--core", "/nonexistent/core")
	oneLine(t, stderr, err, "/nonexistent/core", "no such file")

	_, stderr, err = runTaiji(t, "stack", "--core", "core_test.go")
	oneLine(t, stderr, err, "core_test.go", "not an ELF core file")

	_, stderr, err = runTaiji(t, "stack", "--core", "x", "1")
	oneLine(t, stderr, err, "either --core FILE or a PID")

	_, stderr, err = runTaiji(t, "stack", "--exe", "x", "1")
	oneLine(t, stderr, err, "--exe and --sysroot go with --core")

	_, stderr, err = runTaiji(t, "dump", "99999999")
	oneLine(t, stderr, err, "no process", "99999999")
}

// taiji dump interrupted by SIGINT at any moment (before, during, after the
// copy of 256 MiB): the target is left running, never stopped or traced,
// and a run that failed leaves no file behind.
func TestDumpInterrupted(t *testing.T) {
	requireRoot(t)
	bin := filepath.Join(t.TempDir(), "bigheap")
	gcc(t, "-O1", "-pthread", "-o", bin, "testdata/bigheap.c")
	p := testprog.Start(t, bin)
	dir := t.TempDir()
	for i, delay := range []time.Duration{0, 50, 200, 300, 400, 500, 600, 800, 1000, 1300} {
		out := filepath.Join(dir, "core"+strconv.Itoa(i))
		cmd := exec.Command(taijiBin, "dump", "-o", out, strconv.Itoa(p.Pid))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay *= time.Millisecond // a run takes about a second here: stops land in every phase
		time.Sleep(delay)
		cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		state, tracer := taskState(t, p.Pid)
		if state == "t" || state == "T" || tracer != "0" {
			t.Fatalf("after SIGINT at %v: the target is left in state %s, TracerPid %s (taiji: %v, %s)", delay, state, tracer, err, stderr.String())
		}
		_, statErr := os.Stat(out)
		switch {
		case err == nil && statErr != nil:
			t.Errorf("SIGINT at %v: taiji succeeded but wrote no %s", delay, out)
		case err != nil && statErr == nil:
			t.Errorf("SIGINT at %v: taiji failed (%v: %s) and left %s behind", delay, err, stderr.String(), out)
		}
		t.Logf("SIGINT at %v: %v %s", delay, err, strings.TrimSpace(stderr.String()))
		os.Remove(out) // 256 MiB each
	}
}

// taskState returns every thread's worst state letter (stopped ones first)
// and the process's TracerPid.
func taskState(t *testing.T, pid int) (state, tracer string) {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	state = "S"
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 {
			if c := s[i+2 : i+3]; c == "t" || c == "T" {
				state = c
			}
		}
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			tracer = strings.TrimSpace(v)
		}
	}
	return state, tracer
}

// taiji dump keeps the vector registers (NT_X86_XSTATE, as the kernel's
// cores do): gdb reads ymm8 from the core as the thread held it.
func TestDumpVectorRegisters(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("an AVX target")
	}
	if b, _ := os.ReadFile("/proc/cpuinfo"); !strings.Contains(string(b), " avx2") {
		t.Skip("no AVX2 here")
	}
	bin := filepath.Join(t.TempDir(), "vecregs")
	gcc(t, "-O1", "-mavx2", "-o", bin, "testdata/vecregs.c")
	p := testprog.Start(t, bin)
	core := filepath.Join(t.TempDir(), "core")
	if _, errOut, err := runTaiji(t, "dump", "-o", core, strconv.Itoa(p.Pid)); err != nil {
		t.Fatalf("taiji dump: %v\n%s", err, errOut)
	}
	out, err := exec.Command("gdb", "-nx", "-batch", "-ex", "p/x $ymm8.v4_int64", bin, core).CombinedOutput()
	want := "{0x1111222233334444, 0x5555666677778888, 0x9999aaaabbbbcccc, 0xddddeeeeffff0001}"
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("gdb's ymm8 from the core: %v\n%s\nwant %s", err, out, want)
	}
}

// A core gdb's gcore wrote (which leaves out the segments it does not dump,
// text included: their permissions come from the files) reads as gdb reads
// it, and as the live process unwound.
func TestStackGcoreCore(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	bin := testprog.BuildC(t, "native")
	p := testprog.Start(t, bin)
	live := stackJSON(t, p.Pid, "--max-frames", "0")
	prefix := filepath.Join(t.TempDir(), "core")
	if out, err := exec.Command("gcore", "-o", prefix, strconv.Itoa(p.Pid)).CombinedOutput(); err != nil {
		t.Fatalf("gcore: %v\n%s", err, out)
	}
	c := compareCoreWithGDB(t, bin, prefix+"."+strconv.Itoa(p.Pid), compareOpts{})
	for i := range live.Threads {
		th := findThread(c, live.Threads[i].TID)
		if th == nil || !slices.Equal(userPCs(th), userPCs(&live.Threads[i])) {
			t.Errorf("thread %d: the gcore core's frames differ from the live process's", live.Threads[i].TID)
		}
	}
}
