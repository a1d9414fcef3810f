package gdboracle

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// lineOf returns the 1-based line of the only source line of native.c that
// contains marker after the line containing after.
func lineOf(t *testing.T, after, marker string) int {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(testprog.NativeSource()))
	n, seen := 0, false
	for sc.Scan() {
		n++
		if strings.Contains(sc.Text(), after) {
			seen = true
		}
		if seen && strings.Contains(sc.Text(), marker) {
			return n
		}
	}
	t.Fatalf("native.c has no %q after %q", marker, after)
	return 0
}

func procField(t *testing.T, pid int, file, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func startNative(t testing.TB, depth int) *testprog.Proc {
	t.Helper()
	bin := testprog.BuildC(t, "native")
	return testprog.Start(t, bin, fmt.Sprint(depth))
}

func TestBacktraceNative(t *testing.T) {
	Require(t)
	p := startNative(t, 10)
	threads, out, err := BacktraceOutput(p.Pid, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format+"\ngdb output:\n%s\nparsed:\n%s", append(args, out, Format(threads))...)
	}

	// One Thread per task, sorted by TID, names from comm.
	tasks, err := testprog.Threads(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var tids []int
	for name, ids := range tasks {
		for _, id := range ids {
			tids = append(tids, id)
			if th := Find(threads, id); th == nil || th.Name != name {
				fail("task %d %q: gdb thread %+v", id, name, th)
			}
		}
	}
	sort.Ints(tids)
	if len(threads) != len(tids) {
		fail("gdb saw %d threads, /proc has %v", len(threads), tids)
	}
	for i := range threads {
		if i < len(tids) && threads[i].TID != tids[i] {
			fail("thread %d has TID %d, want %d (sorted)", i, threads[i].TID, tids[i])
		}
	}

	// The main thread runs past main to _start (past-main/past-entry on).
	main := Find(threads, p.Pid)
	if main == nil || len(main.Frames) == 0 || main.Frames[len(main.Frames)-1].Function != "_start" {
		fail("main thread does not end in _start")
	}

	// File and line of a caller frame are those of the call; SP is known
	// and grows outward; the module of our frames is the executable.
	reader := Find(threads, p.TID(t, "reader"))
	wantLine := lineOf(t, "NOINLINE long reader_level1", "read(fd, &c, 1)")
	var prevSP uint64
	found := false
	for i, f := range reader.Frames {
		if f.SP == 0 {
			fail("frame %d has no SP", i)
		}
		if f.SP < prevSP {
			fail("frame %d SP %#x below inner frame's %#x", i, f.SP, prevSP)
		}
		prevSP = f.SP
		if f.Function == "reader_level1" {
			found = true
			if !strings.HasSuffix(f.File, "native.c") || f.Line != wantLine {
				fail("reader_level1 at %s:%d, want native.c:%d", f.File, f.Line, wantLine)
			}
			if f.Module != p.Cmd.Path || f.Type != "normal" {
				fail("reader_level1 module %q type %q", f.Module, f.Type)
			}
		}
	}
	if !found {
		fail("no reader_level1 frame")
	}

	// gdb detached: the target is neither traced nor stopped.
	for _, tid := range tids {
		st := procField(t, p.Pid, fmt.Sprintf("task/%d/status", tid), "State")
		tr := procField(t, p.Pid, fmt.Sprintf("task/%d/status", tid), "TracerPid")
		if !strings.HasPrefix(st, "S") || tr != "0" {
			t.Errorf("after gdb: task %d state %q tracer %q", tid, st, tr)
		}
	}
}

func TestMaxFrames(t *testing.T) {
	Require(t)
	p := startNative(t, 100)
	threads, out, err := BacktraceOutput(p.Pid, Options{MaxFrames: 50})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rec := Find(threads, p.TID(t, "recurse"))
	if len(rec.Frames) != 50 || rec.StopReason != "frame limit" {
		t.Errorf("recurse thread: %d frames, stop %q; want 50, frame limit", len(rec.Frames), rec.StopReason)
	}
	rd := Find(threads, p.TID(t, "reader"))
	if len(rd.Frames) >= 50 || rd.StopReason == "frame limit" {
		t.Errorf("reader thread: %d frames, stop %q", len(rd.Frames), rd.StopReason)
	}
}

func TestBacktraceNoProcess(t *testing.T) {
	Require(t)
	// A reaped child's PID is free (reuse within the test is unlikely, and
	// would still be a different, probably untraceable, process).
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	threads, err := Backtrace(cmd.Process.Pid)
	if err == nil {
		t.Errorf("Backtrace of exited pid %d: no error, threads %v", cmd.Process.Pid, threads)
	}
}

// TestEuStackAgrees cross-checks the two oracles on the native target:
// after dropping gdb's synthesized tail-call frames, both report the same
// PCs, frame by frame, and agree on which frames are inline.
func TestEuStackAgrees(t *testing.T) {
	Require(t)
	RequireEuStack(t)
	p := startNative(t, 30)
	g, gout, err := BacktraceOutput(p.Pid, Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, gout)
	}
	e, eout, err := EuStackOutput(p.Pid)
	if err != nil {
		t.Fatalf("%v\n%s", err, eout)
	}
	if len(g) != len(e) {
		t.Fatalf("gdb has %d threads, eu-stack %d\ngdb:\n%s\neu-stack:\n%s", len(g), len(e), Format(g), Format(e))
	}
	for i := range g {
		var gf []Frame
		for _, f := range g[i].Frames {
			if f.Type != "tailcall" {
				gf = append(gf, f)
			}
		}
		ef := e[i].Frames
		same := g[i].TID == e[i].TID && len(gf) == len(ef)
		for j := 0; same && j < len(gf); j++ {
			same = gf[j].PC == ef[j].PC && (gf[j].Type == "inline") == (ef[j].Type == "inline")
		}
		if !same {
			t.Errorf("thread %d differs\ngdb:\n%s\neu-stack:\n%s", g[i].TID,
				Format([]Thread{{TID: g[i].TID, Frames: gf}}), Format(e[i:i+1]))
		}
		if e[i].StopReason != "outermost" {
			t.Errorf("eu-stack thread %d stop reason %q", e[i].TID, e[i].StopReason)
		}
	}
	if t.Failed() {
		t.Logf("eu-stack output:\n%s", eout)
	}
}

func TestEuStackGo(t *testing.T) {
	RequireEuStack(t)
	bin := testprog.BuildGo(t, "gotarget")
	p := testprog.Start(t, bin)
	threads, out, err := EuStackOutput(p.Pid)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	n := 0
	for _, th := range threads {
		for _, f := range th.Frames {
			if f.Function == "main.syscallHost" {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("%d frames in main.syscallHost, want 1\n%s", n, Format(threads))
	}
}

func TestSplitSource(t *testing.T) {
	for _, c := range []struct {
		in   string
		file string
		line int
	}{
		{"/a/b.c:12:3", "/a/b.c", 12},
		{"../x.S:81", "../x.S", 81},
		{"C:/odd:7:1", "C:/odd", 7},
		{"nofile", "nofile", 0},
		{"gcc_amd64.S", "gcc_amd64.S", 0},
	} {
		f, l := splitSource(c.in)
		if f != c.file || l != c.line {
			t.Errorf("splitSource(%q) = %q, %d; want %q, %d", c.in, f, l, c.file, c.line)
		}
	}
}

func TestParseGDBErrors(t *testing.T) {
	_, done, err := parseGDB([]byte("noise\nTAIJI-GDB {\"tid\": 1, \"frames\": [{\"pc\": \"x\"}]}\n"))
	if err == nil || done {
		t.Errorf("bad JSON: err %v done %v", err, done)
	}
	ts, done, err := parseGDB([]byte("TAIJI-GDB {\"tid\": 5, \"name\": \"a\", \"frames\": [{\"pc\": 16, \"sp\": null, \"type\": \"normal\", \"func\": \"f\", \"file\": \"\", \"line\": 0}], \"stop\": \"outermost\"}\nTAIJI-GDB {\"done\": 1}\n"))
	if err != nil || !done || len(ts) != 1 || ts[0].Frames[0].PC != 16 || ts[0].Frames[0].SP != 0 {
		t.Errorf("parseGDB: %+v %v %v", ts, done, err)
	}
}

// realOutputs runs gdb and eu-stack on a live native target for fuzz seeds.
func realOutputs(f *testing.F) (gdbOut, euOut, euErr []byte) {
	p := startNative(f, 3)
	if _, err := exec.LookPath("gdb"); err == nil {
		_, gdbOut, _ = BacktraceOutput(p.Pid, Options{})
	}
	if bin, err := exec.LookPath("eu-stack"); err == nil {
		cmd := exec.Command(bin, "-p", fmt.Sprint(p.Pid), "-v", "-n", "0")
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run()
		euOut, euErr = o.Bytes(), e.Bytes()
	}
	return
}

func FuzzParseGDB(f *testing.F) {
	g, _, _ := realOutputs(f)
	f.Add(g)
	f.Add([]byte("TAIJI-GDB {\"done\": 0}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, _, _ := parseGDB(b)
		for i := 1; i < len(ts); i++ {
			if ts[i-1].TID > ts[i].TID {
				t.Fatalf("threads not sorted: %v", ts)
			}
		}
	})
}

func FuzzParseEuStack(f *testing.F) {
	_, o, e := realOutputs(f)
	f.Add(o, e)
	f.Add([]byte("TID 1:\n#0  0x10 - 1 f - /x\n    a.c:1:2\n"), []byte("eu-stack: tid 1: bad"))
	f.Fuzz(func(t *testing.T, stdout, stderr []byte) {
		ts, _ := parseEuStack(stdout, stderr)
		for _, th := range ts {
			for _, fr := range th.Frames {
				if fr.Function == "" || (fr.Type != "normal" && fr.Type != "inline") {
					t.Fatalf("bad frame %+v", fr)
				}
			}
		}
	})
}
