package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/xarch"
	"golang.org/x/sys/unix"
)

// The run-control tests drive internal/testprog/runctl: workers calling
// hit() in a loop, threads created and joined, an exit, a SIGUSR1 handler.

var (
	runctlOnce sync.Once
	runctlPath string
	runctlErr  error
)

// rtarget is a running runctl target.
type rtarget struct {
	*itarget
	hit, hits, usr1 uint64
	workers         []int
}

func startRunctl(t *testing.T, args ...string) *rtarget {
	t.Helper()
	requireRootPtrace(t)
	path := ""
	if _, ok := xarch.InVM(); ok {
		p, ok := xarch.Target("runctl")
		if !ok {
			t.Fatal("xarch target runctl missing: the harness should have built it")
		}
		path = p
	} else {
		runctlOnce.Do(func() {
			runctlPath = filepath.Join(buildDir, "runctl")
			cmd := exec.Command("gcc", "-O2", "-g", "-pthread", "-o", runctlPath, "../internal/testprog/runctl/runctl.c")
			if b, err := cmd.CombinedOutput(); err != nil {
				runctlErr = fmt.Errorf("%v: %v\n%s", cmd.Args, err, b)
			}
		})
		if runctlErr != nil {
			t.Fatal(runctlErr)
		}
		path = runctlPath
	}
	cmd := exec.Command(path, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tg := &rtarget{itarget: &itarget{pid: cmd.Process.Pid, cmd: cmd}}
	tg.cond = sync.NewCond(&tg.mu)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		r := bufio.NewScanner(stdout)
		for r.Scan() {
			tg.mu.Lock()
			tg.lines = append(tg.lines, r.Text())
			tg.cond.Broadcast()
			tg.mu.Unlock()
		}
		tg.mu.Lock()
		tg.eof = true
		tg.cond.Broadcast()
		tg.mu.Unlock()
	}()
	for _, l := range tg.waitLines(t, 0, "ready", 20*time.Second) {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseUint(f[1], 0, 64)
		switch f[0] {
		case "hit":
			tg.hit = v
		case "hits":
			tg.hits = v
		case "usr1":
			tg.usr1 = v
		case "worker":
			tg.workers = append(tg.workers, int(v))
		}
	}
	return tg
}

// allStopped fails unless every thread of the session's process is in a
// ptrace stop and listed by Threads.
func allStopped(t *testing.T, s *Session) {
	t.Helper()
	tids, err := Tasks(s.Pid)
	if err != nil {
		t.Fatal(err)
	}
	in := map[int]bool{}
	for _, tid := range s.Threads() {
		in[tid] = true
	}
	for _, tid := range tids {
		info, err := Task(s.Pid, tid)
		if err != nil {
			continue // exited meanwhile
		}
		if info.State != "t" && info.State != "Z" {
			t.Errorf("thread %d: state %s, want t: all-stop leaves no thread running", tid, info.State)
		}
		if !in[tid] && info.State != "Z" {
			t.Errorf("thread %d is not in the session's threads %v", tid, s.Threads())
		}
	}
}

// released fails unless pid is untraced and running, with the bytes at
// each address as want says.
func released(t *testing.T, pid int, want map[uint64][]byte) {
	t.Helper()
	tids, _ := Tasks(pid)
	for _, tid := range tids {
		if tp := tracerOf(pid, tid); tp != 0 {
			t.Errorf("thread %d still traced by %d", tid, tp)
		}
	}
	checkRunning(t, pid)
	for addr, b := range want {
		got := make([]byte, len(b))
		if _, err := NewMemory(pid).ReadAt(got, int64(addr)); err != nil || string(got) != string(b) {
			t.Errorf("bytes at %#x = % x (%v), want the original % x", addr, got, err, b)
		}
	}
}

func original(t *testing.T, pid int, addr uint64, n int) map[uint64][]byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := NewMemory(pid).ReadAt(b, int64(addr)); err != nil {
		t.Fatal(err)
	}
	return map[uint64][]byte{addr: b}
}

func needStep(t *testing.T) {
	if a := arch.Host(); !a.Syscall.SingleStep && a.Syscall.NextPCs == nil {
		t.Skipf("stepping over a breakpoint needs single-step, which %s lacks", a.Name)
	}
}

// TestRunBreakpointAllThreads plants a breakpoint on hit(), which four
// threads call in a loop: every hit is reported, by several threads, each
// stepped over in turn, and no call runs unreported.
func TestRunBreakpointAllThreads(t *testing.T) {
	needStep(t)
	tg := startRunctl(t, "spin", "4")
	s := attach(t, tg.pid)
	want := original(t, tg.pid, tg.hit, len(s.Arch.Syscall.Trap))
	if err := s.SetBreakpoint(tg.hit); err != nil {
		t.Fatal(err)
	}
	// A second user of the address shares the breakpoint.
	if err := s.SetBreakpoint(tg.hit); err != nil {
		t.Fatal(err)
	}
	if bps := s.Breakpoints(); len(bps) != 1 || bps[0].Refs != 2 {
		t.Fatalf("Breakpoints() = %+v, want one with 2 references", bps)
	}
	start := readU64(t, tg.pid, tg.hits)
	threads := map[int]int{}
	queued := 0
	const rounds = 60
	for i := 0; i < rounds; i++ {
		st, err := s.Continue(bounded(t))
		if err != nil {
			t.Fatalf("Continue %d: %v", i, err)
		}
		if st.Reason != StopBreakpoint || st.Breakpoint != tg.hit || st.PC != tg.hit {
			t.Fatalf("Continue %d: %+v, want the breakpoint at %#x", i, st, tg.hit)
		}
		if r, err := s.Regs(st.TID); err != nil || r.PC != tg.hit {
			t.Errorf("thread %d: PC %#x (%v), want it back on the breakpoint %#x", st.TID, r.PC, err, tg.hit)
		}
		threads[st.TID]++
		if len(s.pending) > 0 {
			queued++
		}
		allStopped(t, s)
		// Every call of hit() that completed was reported first: none
		// ran past the breakpoint unseen. A thread stopped inside hit()
		// at attach (past the entry, before the increment: arm64 and
		// mips have a prologue) completes one call unreported.
		if done := readU64(t, tg.pid, tg.hits) - start; done > uint64(i+1+len(tg.workers)) {
			t.Fatalf("after %d reported hits hit() completed %d times: hits were lost", i+1, done)
		}
	}
	done := readU64(t, tg.pid, tg.hits) - start
	t.Logf("%d hits by threads %v; %d stops found others queued; hit() completed %d times", rounds, threads, queued, done)
	if len(threads) < 2 {
		t.Errorf("only threads %v hit the breakpoint, want several", threads)
	}
	if done < rounds-uint64(len(tg.workers)) {
		t.Errorf("hit() completed %d times after %d hits: stepping over failed", done, rounds)
	}
	if queued == 0 && runtime.NumCPU() > 1 {
		t.Errorf("no two threads hit the breakpoint in the same stop in %d rounds", rounds)
	}
	if err := s.ClearBreakpoint(tg.hit); err != nil {
		t.Fatal(err)
	}
	if bps := s.Breakpoints(); len(bps) != 1 || bps[0].Refs != 1 {
		t.Fatalf("after one ClearBreakpoint: %+v, want one reference left", bps)
	}
	// Detach with the breakpoint still planted: it goes, and so does any
	// trap taken but not reported.
	detach(t, s)
	released(t, tg.pid, want)
	checkAdvancing(t, tg.pid, tg.hits)
}

// TestRunBreakpointUnderThread plants a breakpoint on the instruction a
// stopped worker is about to execute: that worker runs it without a report
// (it is stepped over), and whoever executes it later is reported.
func TestRunBreakpointUnderThread(t *testing.T) {
	tg := startRunctl(t, "spin", "2")
	w := tg.workers[0]
	// The worker must be caught in its loop (inside hit()), not still
	// leaving pthread_barrier_wait, whose instructions it never runs
	// again: a breakpoint there would never be hit.
	var s *Session
	var r arch.Regs
	for try := 0; ; try++ {
		s = attach(t, tg.pid)
		var err error
		if r, err = s.Regs(w); err != nil {
			t.Fatal(err)
		}
		if r.PC >= tg.hit && r.PC < tg.hit+64 {
			break
		}
		if try == 200 {
			t.Fatalf("worker %d never caught inside hit() (%#x): last PC %#x", w, tg.hit, r.PC)
		}
		detach(t, s)
		time.Sleep(5 * time.Millisecond)
	}
	want := original(t, tg.pid, r.PC, len(s.Arch.Syscall.Trap))
	if err := s.SetBreakpoint(r.PC); err != nil {
		t.Fatal(err)
	}
	rounds := 10
	if !s.canStep() {
		// The thread runs into the trap; stepping over it later is not
		// possible without single-step.
		rounds = 1
	}
	for i := 0; i < rounds; i++ {
		// A spinning worker comes back to the breakpoint in microseconds:
		// a minute without it is a failure, not a reason to hang.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st, err := s.Continue(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if st.Reason != StopBreakpoint || st.PC != r.PC {
			t.Fatalf("Continue %d: %+v, want the breakpoint at %#x", i, st, r.PC)
		}
		allStopped(t, s)
	}
	detach(t, s)
	released(t, tg.pid, want)
}

// TestRunStep steps a worker, from a plain instruction and from a
// breakpoint, the others stopped.
func TestRunStep(t *testing.T) {
	tg := startRunctl(t, "spin", "2")
	s := attach(t, tg.pid)
	w := tg.workers[0]
	if !s.canStep() {
		if _, err := s.Step(context.Background(), w); !errors.Is(err, ErrNotSupported) {
			t.Errorf("Step on %s: %v, want ErrNotSupported", s.Arch.Name, err)
		}
		detach(t, s)
		return
	}
	want := original(t, tg.pid, tg.hit, len(s.Arch.Syscall.Trap))
	if err := s.SetBreakpoint(tg.hit); err != nil {
		t.Fatal(err)
	}
	st, err := s.Continue(bounded(t))
	if err != nil || st.Reason != StopBreakpoint {
		t.Fatalf("Continue: %+v, %v; want a breakpoint hit", st, err)
	}
	before := readU64(t, tg.pid, tg.hits)
	// From the breakpoint: the original instruction runs (hit's first).
	st2, err := s.Step(context.Background(), st.TID)
	if err != nil || st2.Reason != StopStep || st2.TID != st.TID || st2.PC == tg.hit {
		t.Fatalf("Step from the breakpoint: %+v, %v; want a step of thread %d off %#x", st2, err, st.TID, tg.hit)
	}
	raw := make([]byte, len(s.Arch.Syscall.Trap))
	NewMemory(tg.pid).ReadAt(raw, int64(tg.hit))
	if string(raw) != string(s.Arch.Syscall.Trap) {
		t.Errorf("after the step, bytes at %#x = % x, want the trap back", tg.hit, raw)
	}
	for i := 0; i < 5; i++ {
		prev := st2.PC
		if st2, err = s.Step(context.Background(), st.TID); err != nil || st2.Reason != StopStep {
			t.Fatalf("Step %d: %+v, %v", i, st2, err)
		}
		if st2.PC == prev {
			t.Logf("step %d stayed at %#x", i, prev)
		}
		allStopped(t, s)
	}
	// Six instructions of one thread increment hits at most six times;
	// the other worker, had it run, would have looped far more.
	if got := readU64(t, tg.pid, tg.hits); got-before > 6 {
		t.Errorf("hits went from %d to %d in six steps of one thread: others ran", before, got)
	}
	detach(t, s)
	released(t, tg.pid, want)
}

// TestRunSignalWhileStopped sends SIGUSR1 to a stopped worker: Continue
// reports it with its siginfo, and the next resume delivers it.
func TestRunSignalWhileStopped(t *testing.T) {
	tg := startRunctl(t, "spin", "2")
	s := attach(t, tg.pid)
	w := tg.workers[1]
	if err := unix.Tgkill(tg.pid, w, unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	st, err := s.Continue(bounded(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Reason != StopSignal || st.TID != w || st.Signal != unix.SIGUSR1 || st.Siginfo == nil {
		t.Fatalf("Continue: %+v, want SIGUSR1 for thread %d", st, w)
	}
	if si := st.Siginfo; si.Signo != unix.SIGUSR1 || si.Code != -6 || si.Pid != os.Getpid() {
		t.Errorf("siginfo %+v, want SIGUSR1, SI_TKILL (-6), sent by %d", *si, os.Getpid())
	}
	allStopped(t, s)
	if n := readU64(t, tg.pid, tg.usr1); n != 0 {
		t.Fatalf("handler ran %d times before the resume", n)
	}
	// Resumed, the thread takes the signal; run until interrupted.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st, err = s.Continue(ctx)
	if err != nil || st.Reason != StopInterrupted {
		t.Fatalf("Continue: %+v, %v; want StopInterrupted", st, err)
	}
	allStopped(t, s)
	if n := readU64(t, tg.pid, tg.usr1); n != 1 {
		t.Errorf("handler ran %d times after the resume, want 1", n)
	}
	// A signal discarded with SetSignal never reaches the handler.
	unix.Tgkill(tg.pid, w, unix.SIGUSR1)
	time.Sleep(20 * time.Millisecond)
	if st, err = s.Continue(bounded(t)); err != nil || st.Reason != StopSignal {
		t.Fatalf("Continue: %+v, %v; want SIGUSR1", st, err)
	}
	if err := s.SetSignal(st.TID, 0); err != nil {
		t.Fatal(err)
	}
	detach(t, s)
	released(t, tg.pid, nil)
	time.Sleep(20 * time.Millisecond)
	if n := readU64(t, tg.pid, tg.usr1); n != 1 {
		t.Errorf("handler ran %d times, want 1: the discarded signal was delivered", n)
	}
}

// TestRunThreads continues a target that creates and joins a thread every
// millisecond: creation and exit are reported, the new thread joins the
// session, stopped with the others, and leaves it on exit.
func TestRunThreads(t *testing.T) {
	tg := startRunctl(t, "churn")
	s := attach(t, tg.pid)
	created := map[int]bool{} // the threads there at attach count as created
	for _, tid := range s.Threads() {
		created[tid] = true
	}
	var exitedNew int
	for i := 0; i < 200 && exitedNew < 3; i++ {
		st, err := s.Continue(bounded(t))
		if err != nil {
			t.Fatalf("Continue %d: %v", i, err)
		}
		switch st.Reason {
		case StopThreadCreated:
			created[st.NewTID] = true
			in := false
			for _, tid := range s.Threads() {
				in = in || tid == st.NewTID
			}
			if !in && len(s.pending) > 0 && s.pending[0].Reason == StopThreadExited && s.pending[0].TID == st.NewTID {
				break // gone before its creation was seen: its exit comes next
			}
			if !in {
				t.Errorf("new thread %d not in Threads() %v", st.NewTID, s.Threads())
			}
			if info, err := Task(tg.pid, st.NewTID); err != nil || info.State != "t" {
				t.Errorf("new thread %d: state %q (%v), want t", st.NewTID, info.State, err)
			}
		case StopThreadExited:
			if !created[st.TID] {
				t.Errorf("thread %d exited, never reported created", st.TID)
			}
			exitedNew++
			for _, tid := range s.Threads() {
				if tid == st.TID {
					t.Errorf("exited thread %d still in Threads()", tid)
				}
			}
		default:
			t.Fatalf("Continue %d: %+v, want thread creations and exits", i, st)
		}
		allStopped(t, s)
	}
	if exitedNew < 3 {
		t.Errorf("%d threads seen created, %d exited", len(created), exitedNew)
	}
	detach(t, s)
	released(t, tg.pid, nil)
}

// TestRunExit continues a target until it exits with status 7.
func TestRunExit(t *testing.T) {
	tg := startRunctl(t, "exit", "300")
	s := attach(t, tg.pid)
	var st Stop
	for i := 0; i < 20; i++ {
		var err error
		if st, err = s.Continue(bounded(t)); err != nil {
			t.Fatal(err)
		}
		if st.Reason == StopExited {
			break
		}
		if st.Reason != StopThreadExited {
			t.Fatalf("Continue: %+v, want the exit", st)
		}
	}
	if st.Reason != StopExited || st.Status != 7 || st.TID != tg.pid {
		t.Fatalf("Continue: %+v, want StopExited with status 7", st)
	}
	if _, err := s.Continue(bounded(t)); !errors.Is(err, ErrExited) {
		t.Errorf("Continue after the exit: %v, want ErrExited", err)
	}
	if err := s.Detach(); err != nil {
		t.Errorf("Detach after the exit: %v", err)
	}
	// The tracer thread belongs to the target's parent (this test), so
	// its wait reaped the exit: nothing else reports it.
}

// TestRunInterrupt cancels a Continue while every thread runs and a
// breakpoint is planted that nothing hits: every thread stops, and detach
// leaves nothing traced, stopped or patched.
func TestRunInterrupt(t *testing.T) {
	tg := startRunctl(t, "spin", "2")
	s := attach(t, tg.pid)
	// main's pause(): planted on the code after hit(), never reached.
	addr := tg.hit
	want := original(t, tg.pid, addr, len(s.Arch.Syscall.Trap))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	st, err := s.Continue(ctx)
	if err != nil || st.Reason != StopInterrupted {
		t.Fatalf("Continue: %+v, %v; want StopInterrupted", st, err)
	}
	allStopped(t, s)
	if err := s.SetBreakpoint(addr); err != nil {
		t.Fatal(err)
	}
	// Cancelled already: nothing runs.
	before := readU64(t, tg.pid, tg.hits)
	if st, err := s.Continue(ctx); err != nil || st.Reason != StopInterrupted {
		t.Fatalf("Continue with a cancelled context: %+v, %v", st, err)
	}
	if after := readU64(t, tg.pid, tg.hits); after != before {
		t.Errorf("hits moved from %d to %d under a cancelled Continue", before, after)
	}
	detach(t, s)
	released(t, tg.pid, want)
	checkAdvancing(t, tg.pid, tg.hits)
}

// TestRunKilledTarget: the process is killed while stopped by the
// session; Continue reports its death and Detach releases nothing.
func TestRunKilledTarget(t *testing.T) {
	tg := startRunctl(t, "spin", "2")
	s := attach(t, tg.pid)
	syscall.Kill(tg.pid, syscall.SIGKILL)
	st, err := s.Continue(bounded(t))
	for err == nil && st.Reason == StopThreadExited {
		st, err = s.Continue(bounded(t))
	}
	if err != nil || st.Reason != StopExited || st.Signal != syscall.SIGKILL {
		t.Fatalf("Continue: %+v, %v; want StopExited by SIGKILL", st, err)
	}
	if err := s.Detach(); err != nil {
		t.Errorf("Detach: %v", err)
	}
}

// TestRunErrors: bad requests fail with one clear error and change nothing.
func TestRunErrors(t *testing.T) {
	tg := startRunctl(t, "spin", "1")
	s := attach(t, tg.pid)
	want := original(t, tg.pid, tg.hit, len(s.Arch.Syscall.Trap))
	if err := s.SetBreakpoint(8); err == nil {
		t.Error("SetBreakpoint on an unmapped page succeeded")
	}
	if a := uint64(s.Arch.Syscall.InsnAlign); a > 1 {
		if err := s.SetBreakpoint(tg.hit + 1); err == nil {
			t.Error("SetBreakpoint at an unaligned address succeeded")
		}
	}
	if err := s.ClearBreakpoint(tg.hit); err == nil {
		t.Error("ClearBreakpoint where none is planted succeeded")
	}
	if len(s.Breakpoints()) != 0 {
		t.Errorf("breakpoints after failed requests: %+v", s.Breakpoints())
	}
	if _, err := s.Step(context.Background(), 1<<30); err == nil {
		t.Error("Step of a thread not in the session succeeded")
	}
	if err := s.SetSignal(1<<30, unix.SIGUSR1); !errors.Is(err, ErrNoProcess) {
		t.Errorf("SetSignal of a thread not in the session: %v, want ErrNoProcess", err)
	}
	if err := s.SetBreakpoint(tg.hit); err != nil {
		t.Fatal(err)
	}
	detach(t, s)
	released(t, tg.pid, want)
	if _, err := s.Continue(bounded(t)); err == nil {
		t.Error("Continue after Detach succeeded")
	}
	if err := s.SetBreakpoint(tg.hit); err == nil {
		t.Error("SetBreakpoint after Detach succeeded")
	}
}

// bounded is the context of a Continue in these tests: every stop they wait
// for comes in microseconds, so one that has not come in two minutes fails
// the test instead of hanging it (and the whole make test).
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSessionKill: Kill ends an attached process whose threads are stopped
// (one of them on a breakpoint trap not yet reported would do too) without
// waiting for anything of it: the process dies of SIGKILL, and its parent
// reaps it.
func TestSessionKill(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	s, err := Attach(context.Background(), tg.pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- tg.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the target ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the killed target was never reaped")
	}
	if err := s.Kill(); err != nil {
		t.Errorf("a second Kill: %v", err)
	}
}
