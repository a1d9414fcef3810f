package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// oneLine checks the house rule for bad input: exit status 1 and a single
// line on stderr that names the problem.
func oneLine(t *testing.T, stderr string, err error, want ...string) {
	t.Helper()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit status 1, got %v (stderr %q)", err, stderr)
	}
	if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 {
		t.Errorf("want one line on stderr, got %d:\n%s", n+1, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not say %q", stderr, w)
		}
	}
}

func TestStackBadInput(t *testing.T) {
	_, stderr, err := runTaiji(t, "stack", "99999999")
	oneLine(t, stderr, err, "no process with PID 99999999")

	_, stderr, err = runTaiji(t, "stack", "notapid")
	oneLine(t, stderr, err, `"notapid" is not a PID`)

	_, stderr, err = runTaiji(t, "stack", "--", "/nonexistent/program")
	oneLine(t, stderr, err, "cannot start /nonexistent/program")

	_, stderr, err = runTaiji(t, "stack", "--tid", "1", strconv.Itoa(os.Getpid()))
	oneLine(t, stderr, err, "1 is not a thread of PID "+strconv.Itoa(os.Getpid()))
}

// runAs runs taiji as another user.
func runAs(t *testing.T, uid int, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(taijiBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

func TestStackNotPermitted(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildC(t, "native"))
	_, stderr, err := runAs(t, 65534, "stack", strconv.Itoa(p.Pid))
	oneLine(t, stderr, err, "not permitted", "CAP_SYS_PTRACE")
	if !p.Alive() {
		t.Fatal("target died")
	}
}

// TestStackProtectedEvenForRoot: when the kernel refuses even a tracer with
// CAP_SYS_PTRACE (PID 1 of this sandbox lives in a user namespace above
// ours), taiji does not tell root to become root.
func TestStackProtectedEvenForRoot(t *testing.T) {
	requireRoot(t)
	if _, err := os.Readlink("/proc/1/exe"); err == nil {
		t.Skip("PID 1 is not protected from this root here")
	}
	_, stderr, err := runTaiji(t, "stack", "1")
	oneLine(t, stderr, err, "not permitted to trace PID 1, even with CAP_SYS_PTRACE")
}

// TestStackOwnChildUnprivileged: without root, taiji can still show a
// program it starts itself; the kernel half is then unavailable, said once.
func TestStackOwnChildUnprivileged(t *testing.T) {
	requireRoot(t) // to switch to nobody
	// nobody must reach the target: t.TempDir() is 0700, so copy it into
	// a directory of its own that nobody may enter (and touch nothing else).
	dir, err := os.MkdirTemp("", "taiji-nobody")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	data, err := os.ReadFile(testprog.BuildC(t, "native"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "native")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := runAs(t, 65534, "stack", "--after", "2s", "--", bin)
	if err != nil {
		t.Fatalf("taiji stack as nobody on its own child: %v\n%s", err, stderr)
	}
	if n := strings.Count(out, "kernel frames unavailable"); n != 1 {
		t.Errorf("the missing kernel half must be said exactly once, said %d times:\n%s", n, out)
	}
	for _, fn := range []string{"reader_level1", "leaf_inline", "<signal handler called>", "clone3"} {
		if !strings.Contains(out, fn) {
			t.Errorf("output lacks %q:\n%s", fn, out)
		}
	}
}

func TestStackMaxFramesKeepsBothEnds(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildC(t, "native"))
	full := stackJSON(t, p.Pid, "--max-frames", "0", "--no-kernel")
	cut := stackJSON(t, p.Pid, "--max-frames", "40", "--no-kernel")
	var f, c *jsonThread
	for i := range full.Threads {
		if full.Threads[i].Name == "recurse" {
			f, c = &full.Threads[i], &cut.Threads[i]
		}
	}
	if f == nil || c == nil || f.TID != c.TID {
		t.Fatal("no recurse thread in both reports")
	}
	if f.Omitted != 0 || len(f.Frames) < 1000 {
		t.Fatalf("unlimited: %d frames, omitted %d", len(f.Frames), f.Omitted)
	}
	// --max-frames counts physical frames; inline frames come with theirs
	// (libc's read has one), so the head is one frame longer.
	phys := func(fs []jsonFrame) (n int) {
		for _, f := range fs {
			if f.Kind != "inline" {
				n++
			}
		}
		return n
	}
	if c.Omitted != phys(f.Frames)-40 || phys(c.Frames) != 40 {
		t.Fatalf("--max-frames 40: %d physical frames, %d omitted; unlimited had %d", phys(c.Frames), c.Omitted, phys(f.Frames))
	}
	head, tail := 31, 10
	for i := 0; i < head; i++ {
		if c.Frames[i].PC != f.Frames[i].PC {
			t.Errorf("innermost frame %d differs: %s vs %s", i, c.Frames[i].PC, f.Frames[i].PC)
		}
	}
	for i := 1; i <= tail; i++ {
		if c.Frames[len(c.Frames)-i].PC != f.Frames[len(f.Frames)-i].PC {
			t.Errorf("outermost frame -%d differs", i)
		}
	}
	if last := c.Frames[len(c.Frames)-1].Function; last != "clone3" {
		t.Errorf("cut stack ends at %q, want clone3", last)
	}
	text, _, err := runTaiji(t, "stack", "--no-kernel", "--max-frames", "40", "--tid", strconv.Itoa(c.TID), strconv.Itoa(p.Pid))
	if err != nil || !strings.Contains(text, strconv.Itoa(c.Omitted)+" frames omitted") {
		t.Errorf("text output does not say how many frames were omitted (%v):\n%s", err, text)
	}
	if strings.Count(text, "Thread ") != 1 {
		t.Errorf("--tid: want one thread:\n%s", text)
	}
}

// TestStackNoSource: --no-source gives the same frames and names, without
// file:line for native code.
func TestStackNoSource(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildC(t, "native"))
	full := stackJSON(t, p.Pid, "--no-kernel")
	bare := stackJSON(t, p.Pid, "--no-kernel", "--no-source")
	for i, th := range full.Threads {
		b := bare.Threads[i]
		if len(b.Frames) != len(th.Frames) {
			t.Errorf("thread %d: %d frames with --no-source, %d without", th.TID, len(b.Frames), len(th.Frames))
			continue
		}
		for j, f := range th.Frames {
			g := b.Frames[j]
			if g.PC != f.PC || g.Function != f.Function || g.Kind != f.Kind {
				t.Errorf("thread %d frame %d: %+v vs %+v", th.TID, j, g, f)
			}
			if g.File != "" || g.Line != 0 {
				t.Errorf("thread %d frame %d: --no-source still has %s:%d", th.TID, j, g.File, g.Line)
			}
		}
	}
}

// TestGoroutinesBadInput: what taiji goroutines cannot list is one line
// that says what to use instead, and the target runs on untouched.
func TestGoroutinesBadInput(t *testing.T) {
	requireRoot(t)
	_, stderr, err := runTaiji(t, "goroutines", "99999999")
	oneLine(t, stderr, err, "no process with PID 99999999")

	_, stderr, err = runTaiji(t, "goroutines", "2")
	oneLine(t, stderr, err, "kernel thread")

	p := testprog.Start(t, testprog.BuildC(t, "native"))
	_, stderr, err = runTaiji(t, "goroutines", strconv.Itoa(p.Pid))
	oneLine(t, stderr, err, "not a Go program", "taiji stack "+strconv.Itoa(p.Pid))
	if !p.Alive() {
		t.Fatal("target died")
	}
	// Refused before any thread stopped: none is left in a ptrace stop.
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/stat")
	if f := strings.Fields(string(stat)); len(f) > 2 && (f[2] == "t" || f[2] == "T") {
		t.Errorf("target left stopped: state %s", f[2])
	}
	_, stderr, err = runAs(t, 65534, "goroutines", strconv.Itoa(p.Pid))
	oneLine(t, stderr, err, "not permitted")
}
