package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/proc"
)

// vforkTarget builds and starts testdata/vfork.c (with "alone": without its
// worker thread) and returns its PID once the main thread sleeps in vfork
// (state D) and every other thread sleeps (state S).
func vforkTarget(t *testing.T, args ...string) int {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vfork")
	if out, err := exec.Command("gcc", "-O2", "-g", "-pthread", "-o", bin, "testdata/vfork.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // the child dies with it
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("target printed %q (%v)", line, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		tids, _ := proc.Tasks(pid)
		ready := len(tids) == 2 || (len(tids) == 1 && len(args) > 0)
		for _, tid := range tids {
			info, err := proc.Task(pid, tid)
			want := "S"
			if tid == pid {
				want = "D"
			}
			ready = ready && err == nil && info.State == want
		}
		if ready {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads of the vfork target never settled: %v", tids)
		}
	}
}

// exitCode returns the exit status of a finished taiji, or fails.
func exitCode(t *testing.T, err error, stderr string) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatalf("taiji did not run: %v (%s)", err, stderr)
	}
	return ee.ExitCode()
}

type jsonIncomplete struct {
	Threads []struct {
		jsonThread
		Incomplete string `json:"incomplete"`
	} `json:"threads"`
}

// TestStackThreadNotStopped: a vfork parent cannot be stopped. taiji shows
// its kernel frames and the user frames found from the PC and SP the kernel
// gives in /proc/PID/task/TID/syscall, marks it incomplete, shows the other
// threads in full, and exits with status 3 and one line saying why.
func TestStackThreadNotStopped(t *testing.T) {
	requireRoot(t)
	for _, alone := range []bool{false, true} {
		var args []string
		if alone {
			args = []string{"alone"}
		}
		pid := vforkTarget(t, args...)
		out, stderr, err := runTaiji(t, "stack", "--json", strconv.Itoa(pid))
		if code := exitCode(t, err, stderr); code != 3 {
			t.Fatalf("alone=%v: exit status %d, want 3 (stderr %q)", alone, code, stderr)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "did not stop") || !strings.Contains(stderr, "in vfork") {
			t.Errorf("alone=%v: stderr should be one line saying which thread did not stop, where: %q", alone, stderr)
		}
		var r jsonIncomplete
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("invalid JSON: %v\n%s", err, out)
		}
		if want := 2; alone && len(r.Threads) != 1 || !alone && len(r.Threads) != want {
			t.Fatalf("alone=%v: %d threads:\n%s", alone, len(r.Threads), out)
		}
		for _, th := range r.Threads {
			if th.TID == pid {
				if !strings.Contains(th.Incomplete, "did not stop") || !strings.Contains(th.Incomplete, "unverified") || th.Error != "" {
					t.Errorf("vfork parent: incomplete %q, error %q", th.Incomplete, th.Error)
				}
				if countKind(th.Frames, "kernel") == 0 {
					t.Errorf("vfork parent: no kernel frames:\n%s", formatJSONFrames(th.Frames))
				}
				if !hasSubsequence(th.Frames, []string{"vfork_level1", "vfork_level2", "main"}) {
					t.Errorf("vfork parent: user frames not found from its PC and SP:\n%s", formatJSONFrames(th.Frames))
				}
				continue
			}
			if th.Incomplete != "" || !hasSubsequence(th.Frames, []string{"worker_level1", "worker_thread", "start_thread"}) {
				t.Errorf("thread %d must be shown in full (incomplete %q):\n%s", th.TID, th.Incomplete, formatJSONFrames(th.Frames))
			}
		}
		if alone {
			continue
		}
		// The text says it too, in the thread's heading. And while taiji
		// waits for the vfork parent (still seized), the worker, captured,
		// runs again: it is not held for the whole timeout.
		cmd := exec.Command(taijiBin, "stack", strconv.Itoa(pid))
		var text strings.Builder
		cmd.Stdout = &text
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		worker := 0
		if tids, _ := proc.Tasks(pid); len(tids) == 2 {
			worker = tids[1]
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		released := false
	watch:
		for !released {
			select {
			case <-done:
				break watch
			default:
			}
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(worker) + "/status")
			l, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/status")
			released = strings.Contains(string(b), "TracerPid:\t0\n") && !strings.Contains(string(l), "TracerPid:\t0\n") &&
				strings.Contains(string(b), "State:\tS")
			time.Sleep(5 * time.Millisecond)
		}
		<-done
		if !released {
			t.Errorf("the worker was not resumed while taiji waited for the vfork parent")
		}
		if !strings.Contains(text.String(), `"vfork" (state D) [incomplete]:`) || !strings.Contains(text.String(), "incomplete: thread "+strconv.Itoa(pid)+" did not stop") {
			t.Errorf("text output does not mark the thread incomplete:\n%s", text.String())
		}
		// inject cannot make it call anything: it says why.
		_, stderr, err = runTaiji(t, "inject", strconv.Itoa(pid), "getpid")
		oneLine(t, stderr, err, "thread "+strconv.Itoa(pid)+" did not stop", "uninterruptible sleep (state D) in vfork", "--tid")
	}
}

// TestNotAUserProcess: a kernel thread and a zombie are named as such by
// every command, not reported missing or gone during the snapshot; stack
// shows a kernel thread's kernel frames.
func TestNotAUserProcess(t *testing.T) {
	requireRoot(t)
	if info, err := proc.Task(2, 2); err != nil || info.Name != "kthreadd" {
		t.Skip("PID 2 is not kthreadd here (a PID namespace?)")
	}
	out, stderr, err := runTaiji(t, "stack", "--json", "2")
	if err != nil {
		t.Fatalf("stack 2: %v\n%s", err, stderr)
	}
	var r struct {
		jsonReport
		KernelThread bool `json:"kernel_thread"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.KernelThread || len(r.Threads) != 1 || r.Threads[0].Name != "kthreadd" ||
		len(r.Threads[0].Frames) == 0 || countKind(r.Threads[0].Frames, "kernel") != len(r.Threads[0].Frames) ||
		countFunc(r.Threads[0].Frames, "kthreadd") != 1 {
		t.Errorf("stack 2 should show kthreadd's kernel frames:\n%s", out)
	}
	kthread := "PID 2 is a kernel thread (kthreadd): it has no user space"
	_, stderr, err = runTaiji(t, "stack", "--no-kernel", "2")
	oneLine(t, stderr, err, kthread)
	_, stderr, err = runTaiji(t, "trace", "-p", "2", "main.main")
	oneLine(t, stderr, err, kthread)
	_, stderr, err = runTaiji(t, "inject", "2", "getpid")
	oneLine(t, stderr, err, kthread)

	z := exec.Command("sh", "-c", "exit 7")
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	defer z.Wait()
	zpid := strconv.Itoa(z.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, err := proc.Task(z.Process.Pid, z.Process.Pid); err == nil && info.State == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sh never became a zombie")
		}
	}
	zombie := []string{"PID " + zpid + " (sh) is a zombie: it has exited with status 7 and waits for its parent (PID " + strconv.Itoa(os.Getpid())}
	for _, args := range [][]string{{"stack", zpid}, {"stack", "--json", zpid}, {"trace", "-p", zpid, "main.main"}, {"inject", zpid, "getpid"}} {
		_, stderr, err := runTaiji(t, args...)
		oneLine(t, stderr, err, zombie...)
	}
}

// TestStackCommandEndsBeforeSnapshot: a command that exits before --after
// is said to have, with its status.
func TestStackCommandEndsBeforeSnapshot(t *testing.T) {
	_, stderr, err := runTaiji(t, "stack", "--after", "300ms", "--", "true")
	oneLine(t, stderr, err, "true exited (status 0) before the snapshot at 300ms; try a shorter --after")
	_, stderr, err = runTaiji(t, "stack", "--after", "2s", "--", "sh", "-c", "kill -KILL $$")
	oneLine(t, stderr, err, "sh was killed by SIGKILL before the snapshot at 2s")
}

// TestTraceRefusedCommandReaped: when trace refuses to trace the command it
// started, the command, held at its exec, is killed before it runs a single
// instruction and reaped: none is left behind. A zombie taiji did not reap
// would be handed, when taiji exits, to this test made a subreaper.
func TestTraceRefusedCommandReaped(t *testing.T) {
	requireRoot(t)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	// Reap what earlier tests may have left, so what is reaped below is
	// taiji's.
	for {
		var ws syscall.WaitStatus
		if wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG|unix.WALL, nil); err != nil || wpid == 0 {
			break
		}
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho > "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "no_such_function_xyz", "--", "sh", "-c", "echo > " + mark}, "no such function"},
		{[]string{"trace", "--sig", "main.f(", "main.f", "--", "sh", "-c", "echo > " + mark}, "--sig"},
		{[]string{"trace", "main.main", "--", script}, script},
	} {
		_, stderr, err := runTaiji(t, c.args...)
		oneLine(t, stderr, err, c.want)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG|unix.WALL, nil)
			if err != nil {
				break // no child at all: good
			}
			if wpid > 0 {
				t.Errorf("%v: taiji left its child %d unreaped (status %v)", c.args, wpid, ws)
			}
		}
		if _, err := os.Stat(mark); err == nil {
			t.Errorf("%v: the command ran", c.args)
			os.Remove(mark)
		}
	}
}

// TestThreadIDAsPID: a thread's ID given as the PID (as top -H lists them)
// names its process: stack shows the process and says so; inject makes that
// thread the caller.
func TestThreadIDAsPID(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildC(t, "native"))
	tid := p.TID(t, "sleeper")
	r := stackJSON(t, tid, "--no-kernel")
	if r.Pid != p.Pid || len(r.Threads) < 2 || r.Threads[0].TID != p.Pid {
		t.Errorf("stack %d: pid %d, %d threads, want PID %d's", tid, r.Pid, len(r.Threads), p.Pid)
	}
	said := false
	for _, n := range r.Notes {
		said = said || strings.Contains(n, strconv.Itoa(tid)+" is a thread of PID "+strconv.Itoa(p.Pid))
	}
	if !said {
		t.Errorf("stack of a TID does not say it is a thread: notes %q", r.Notes)
	}
	j := inject(t, strconv.Itoa(tid), "gettid")
	if j.Pid != p.Pid || j.Tid != tid || j.Return != int64(tid) {
		t.Errorf("inject %d gettid: %+v, want pid %d, tid and result %d", tid, j, p.Pid, tid)
	}
	// trace -p TID traces the process (uprobes see all its threads).
	_, stderr, err := runTaiji(t, "trace", "--duration", "200ms", "-p", strconv.Itoa(tid), "sleeper_thread")
	if err != nil || !strings.Contains(stderr, strconv.Itoa(tid)+" is a thread of PID "+strconv.Itoa(p.Pid)+", not a process: tracing PID "+strconv.Itoa(p.Pid)) {
		t.Errorf("trace -p %d: %v, stderr %q; want it to trace PID %d and say so", tid, err, stderr, p.Pid)
	}
}

// TestStackFrozenCgroup: threads frozen by the cgroup v1 freezer sleep in
// state D (in __refrigerator, or frozen in their own sleep), where no ptrace
// stop reaches them: another kind of thread that cannot be stopped. Every thread is shown from /proc, down
// to its outermost frame, and marked incomplete.
func TestStackFrozenCgroup(t *testing.T) {
	requireRoot(t)
	root := "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		t.Skip("no cgroup v1 freezer here")
	}
	p := testprog.Start(t, testprog.BuildC(t, "native"))
	cg := filepath.Join(root, "taiji-test-"+strconv.Itoa(p.Pid))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cg)
	write := func(file, s string) {
		if err := os.WriteFile(filepath.Join(cg, file), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup.procs", strconv.Itoa(p.Pid))
	defer func() {
		os.WriteFile(filepath.Join(cg, "freezer.state"), []byte("THAWED"), 0o644)
		p.Cmd.Process.Kill()
		// testprog reaps it (a second cmd.Wait here could block forever on
		// the output copier the first one consumed): wait until it is
		// gone, out of the cgroup, so the cgroup can be removed.
		for deadline := time.Now().Add(10 * time.Second); p.Alive() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}()
	write("freezer.state", "FROZEN")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(cg, "freezer.state")); strings.TrimSpace(string(b)) == "FROZEN" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cgroup never froze")
		}
	}
	out, stderr, err := runTaiji(t, "stack", "--json", strconv.Itoa(p.Pid))
	if code := exitCode(t, err, stderr); code != 3 {
		t.Fatalf("exit status %d, want 3 (stderr %q)", code, stderr)
	}
	var r jsonIncomplete
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, out)
	}
	if len(r.Threads) < 6 {
		t.Fatalf("%d threads", len(r.Threads))
	}
	for _, th := range r.Threads {
		last := ""
		if n := len(th.Frames); n > 0 {
			last = th.Frames[n-1].Function
		}
		if !strings.Contains(th.Incomplete, "did not stop") || countKind(th.Frames, "kernel") == 0 ||
			(last != "clone3" && last != "_start") {
			t.Errorf("thread %d %q: incomplete %q, want its kernel frames and user frames down to clone3 or _start:\n%s",
				th.TID, th.Name, th.Incomplete, formatJSONFrames(th.Frames))
		}
	}
}
