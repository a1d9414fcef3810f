package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/target"
)

// buildDir holds the programs built once per test binary run.
var buildDir string

func TestMain(m *testing.M) {
	if h := os.Getenv("TAIJI_PROC_HELPER"); h != "" {
		helper(h)
		return
	}
	var err error
	buildDir, err = os.MkdirTemp("", "proctest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// helper is the test binary re-executed as a separate tracer process:
// it freezes $TAIJI_PROC_PID and prints the outcome, so tests can kill it
// mid-freeze, interrupt it, or run it as another user.
func helper(mode string) {
	pid, _ := strconv.Atoi(os.Getenv("TAIJI_PROC_PID"))
	if mode == "inject" {
		injectHelper(pid)
	}
	if mode == "rest" {
		restHelper(pid)
	}
	if mode == "inject-sleep" {
		tid, _ := strconv.Atoi(os.Getenv("TAIJI_PROC_TID"))
		injectSleepHelper(pid, tid)
	}
	if mode == "sleep" {
		testHookStopped = func(int) {
			fmt.Println("stopped")
			time.Sleep(time.Second)
		}
	}
	// The helper plays the command line: it owns the signals and hands
	// Freeze a context they cancel.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, err := Freeze(ctx, pid, FreezeOptions{})
	for _, s := range []error{ErrNoProcess, ErrPermission, ErrTraced, ErrExited, ErrInterrupted} {
		if errors.Is(err, s) {
			fmt.Printf("sentinel %q\n", s.Error())
		}
	}
	fmt.Printf("result %v\n", err)
	switch {
	case errors.Is(err, ErrInterrupted):
		os.Exit(130)
	case err != nil:
		os.Exit(1)
	}
	os.Exit(0)
}

var buildOnce = map[string]*sync.Once{"c": {}, "go": {}}
var buildErr = map[string]error{}

// skipInVM skips a test that needs host programs the xarch VM lacks.
func skipInVM(t testing.TB, why string) {
	t.Helper()
	if _, ok := xarch.InVM(); ok {
		t.Skip(why + ": the xarch VM has no such program")
	}
}

// program builds (once) and returns the C target or the Go target.
func program(t testing.TB, kind string) string {
	t.Helper()
	if _, ok := xarch.InVM(); ok {
		t.Skip("needs gcc and go to build its target; the xarch VM has neither")
	}
	out := filepath.Join(buildDir, "target-"+kind)
	buildOnce[kind].Do(func() {
		var cmd *exec.Cmd
		if kind == "c" {
			cmd = exec.Command("gcc", "-O1", "-g", "-pthread", "-o", out, "testdata/target.c")
		} else {
			cmd = exec.Command("go", "build", "-o", out, "testdata/gotarget.go")
			cmd.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr[kind] = fmt.Errorf("%v: %v\n%s", cmd.Args, err, b)
		}
	})
	if err := buildErr[kind]; err != nil {
		t.Fatal(err)
	}
	return out
}

type running struct {
	cmd   *exec.Cmd
	pid   int
	ready []string // fields of the "ready" line
}

// start runs a target and waits for its "ready" line. The target is
// killed at cleanup. Nothing waits for it before then: a concurrent wait
// from this process would steal the ptrace stops Freeze waits for.
func start(t testing.TB, bin string, args ...string) *running {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.StdinPipe(); err != nil { // kept open: reads block
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		t.Fatalf("target %s: no ready line: %q %v", bin, line, err)
	}
	return &running{cmd: cmd, pid: cmd.Process.Pid, ready: strings.Fields(line)[1:]}
}

func (tg *running) field(t testing.TB, i int) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(tg.ready[i], "0x"), 0, 64)
	if err != nil {
		v, err = strconv.ParseUint(strings.TrimPrefix(tg.ready[i], "0x"), 16, 64)
	}
	if err != nil {
		t.Fatalf("ready field %d: %v", i, err)
	}
	return v
}

// waitState polls until thread tid of pid is in one of the states.
func waitState(t testing.TB, pid, tid int, states string) {
	t.Helper()
	var info TaskInfo
	for i := 0; i < 400; i++ {
		var err error
		if info, err = Task(pid, tid); err == nil && strings.Contains(states, info.State) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("thread %d of %d: state %q, want one of %q", tid, pid, info.State, states)
}

// checkRunning fails unless every thread of pid soon leaves the stopped
// states: Freeze must never leave a thread stopped.
func checkRunning(t testing.TB, pid int) {
	t.Helper()
	var stuck []string
	for i := 0; i < 200; i++ {
		stuck = nil
		tids, err := Tasks(pid)
		if err != nil {
			t.Fatal(err)
		}
		for _, tid := range tids {
			if info, err := Task(pid, tid); err == nil && (info.State == "t" || info.State == "T") {
				stuck = append(stuck, fmt.Sprintf("%d:%s", tid, info.State))
			}
		}
		if len(stuck) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("threads left stopped: %v", stuck)
}

func readU64(t testing.TB, pid int, addr uint64) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := NewMemory(pid).ReadAt(b[:], int64(addr)); err != nil {
		t.Fatal(err)
	}
	return binary.NativeEndian.Uint64(b[:])
}

// checkAdvancing fails unless the counter at addr changes.
func checkAdvancing(t testing.TB, pid int, addr uint64) {
	t.Helper()
	a := readU64(t, pid, addr)
	for i := 0; i < 100; i++ {
		time.Sleep(5 * time.Millisecond)
		if readU64(t, pid, addr) != a {
			return
		}
	}
	t.Fatalf("counter at %#x stuck at %d: the spinner is not running", addr, a)
}

// checkSnapshot checks what must hold for every thread of any snapshot.
func checkSnapshot(t *testing.T, s *target.Snapshot, pid int, before []int) {
	t.Helper()
	tids, err := Tasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]*target.Thread{}
	for _, th := range s.Threads {
		got[th.TID] = th
	}
	for _, tid := range tids {
		th := got[tid]
		if th == nil {
			// A thread born after the snapshot (the Go runtime starts
			// Ms when it needs them) is not in it; one that lived before
			// must be.
			if slices.Contains(before, tid) {
				t.Errorf("thread %d missing from snapshot", tid)
			}
			continue
		}
		if th.Err != nil {
			t.Errorf("thread %d: %v", tid, th.Err)
			continue
		}
		if m := Find(s.Maps, th.Regs.PC); m == nil || !m.Exec() {
			t.Errorf("thread %d: PC %#x not in an executable mapping (%v)", tid, th.Regs.PC, m)
		}
		sp, ok := th.Regs.Get(s.Arch.SP)
		if !ok || Find(s.Maps, sp) == nil {
			t.Errorf("thread %d: SP %#x not in a mapping", tid, sp)
		}
		if th.Stack.Addr != sp || len(th.Stack.Data) == 0 {
			t.Errorf("thread %d: stack %#x+%d, SP %#x", tid, th.Stack.Addr, len(th.Stack.Data), sp)
		}
		if th.Frozen <= 0 {
			t.Errorf("thread %d: Frozen = %v", tid, th.Frozen)
		}
		if th.Info.Name == "" {
			t.Errorf("thread %d: no name", tid)
		}
	}
	if s.Threads[0].TID != pid {
		t.Errorf("first thread %d, want the leader %d", s.Threads[0].TID, pid)
	}
	if s.VDSO == nil || !bytes.HasPrefix(s.VDSO, []byte("\x7fELF")) {
		t.Errorf("vDSO not copied: %d bytes", len(s.VDSO))
	}
}

func kernelMentions(frames []KernelFrame, words ...string) bool {
	for _, f := range frames {
		for _, w := range words {
			if strings.Contains(f.Function, w) {
				return true
			}
		}
	}
	return false
}

func TestFreezeC(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	pid := tg.pid
	reader, sleeper, spinner := int(tg.field(t, 1)), int(tg.field(t, 2)), int(tg.field(t, 4))
	counter := tg.field(t, 5)
	// The kernel stacks are only meaningful once the threads block.
	waitState(t, pid, reader, "S")
	waitState(t, pid, sleeper, "S")

	before, _ := Tasks(pid)
	s, err := Freeze(context.Background(), pid, FreezeOptions{Kernel: true})
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, pid, before)
	if len(s.Threads) != 5 {
		t.Errorf("%d threads, want 5", len(s.Threads))
	}
	if !strings.HasSuffix(s.Exe, "target-c") {
		t.Errorf("Exe = %q", s.Exe)
	}
	for _, th := range s.Threads {
		if th.KernelErr != nil {
			t.Errorf("thread %d: kernel stack: %v", th.TID, th.KernelErr)
		}
		switch th.TID {
		case reader:
			if !kernelMentions(th.Kernel, "pipe_read") {
				t.Errorf("reader's kernel stack does not show pipe_read: %v", th.Kernel)
			}
		case sleeper:
			if !kernelMentions(th.Kernel, "nanosleep") {
				t.Errorf("sleeper's kernel stack does not show nanosleep: %v", th.Kernel)
			}
		case spinner:
			if th.Info.State != "R" {
				t.Errorf("spinner state %q", th.Info.State)
			}
		}
		// The stack copy is what the process holds at SP, and
		// Snapshot.Memory serves it.
		if th.Err == nil && th.TID != spinner {
			live := make([]byte, 64)
			if _, err := NewMemory(pid).ReadAt(live, int64(th.Stack.Addr)); err != nil {
				t.Fatal(err)
			}
			if th.TID == sleeper && !bytes.Equal(live, th.Stack.Data[:64]) {
				// A thread asleep in nanosleep does not touch its stack.
				t.Errorf("sleeper's stack copy differs from live memory")
			}
		}
	}
	checkRunning(t, pid)
	checkAdvancing(t, pid, counter)

	// Snapshot.Memory: copied stacks, the copied vDSO, and live reads.
	mem := s.Memory()
	th := s.Threads[1]
	buf := make([]byte, len(th.Stack.Data))
	if _, err := mem.ReadAt(buf, int64(th.Stack.Addr)); err != nil || !bytes.Equal(buf, th.Stack.Data) {
		t.Errorf("Memory().ReadAt(stack): %v", err)
	}
	elf := make([]byte, 4)
	if _, err := mem.ReadAt(elf, int64(s.VDSOAddr)); err != nil || string(elf) != "\x7fELF" {
		t.Errorf("Memory().ReadAt(vdso) = %q, %v", elf, err)
	}
	var c [8]byte
	if _, err := mem.ReadAt(c[:], int64(counter)); err != nil {
		t.Errorf("Memory().ReadAt(counter): %v", err)
	}
	if _, err := mem.ReadAt(c[:], 8); err == nil {
		t.Errorf("Memory().ReadAt(8) succeeded")
	}
}

// TestFreezeGDB compares registers with gdb's for the threads blocked in
// system calls, whose PC and SP do not change between the two looks.
func TestFreezeGDB(t *testing.T) {
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("gdb not installed (apt-get install -y gdb)")
	}
	tg := start(t, program(t, "c"), "threads")
	pid := tg.pid
	blocked := []int{pid, int(tg.field(t, 1)), int(tg.field(t, 2)), int(tg.field(t, 3))}
	for _, tid := range blocked {
		waitState(t, pid, tid, "S")
	}
	s, err := Freeze(context.Background(), pid, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := arch.Host()
	out, err := exec.Command("gdb", "-p", strconv.Itoa(pid), "-batch", "-nx",
		"-ex", "thread apply all printf \"REGS %lx %lx\\n\", $pc, $sp").CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	// "Thread 2 (Thread 0x... (LWP 123) "target-c"):" then "REGS pc sp".
	gdbRegs := map[int][2]uint64{}
	lwp := 0
	for _, line := range strings.Split(string(out), "\n") {
		if i := strings.Index(line, "(LWP "); i >= 0 {
			lwp, _ = strconv.Atoi(strings.Fields(line[i+5:])[0][:len(strings.Fields(line[i+5:])[0])-1])
		}
		var pc, sp uint64
		if n, _ := fmt.Sscanf(line, "REGS %x %x", &pc, &sp); n == 2 && lwp != 0 {
			gdbRegs[lwp] = [2]uint64{pc, sp}
		}
	}
	for _, th := range s.Threads {
		want, ok := gdbRegs[th.TID]
		if !ok {
			t.Errorf("gdb did not report thread %d:\n%s", th.TID, out)
			continue
		}
		isBlocked := false
		for _, b := range blocked {
			isBlocked = isBlocked || b == th.TID
		}
		if !isBlocked {
			continue
		}
		sp, _ := th.Regs.Get(a.SP)
		if th.Regs.PC != want[0] || sp != want[1] {
			t.Errorf("thread %d: pc %#x sp %#x, gdb says pc %#x sp %#x", th.TID, th.Regs.PC, sp, want[0], want[1])
		}
	}
	checkRunning(t, pid)
}

func TestFreezeGo(t *testing.T) {
	tg := start(t, program(t, "go"))
	before, _ := Tasks(tg.pid)
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, tg.pid, before)
	if len(s.Threads) < 2 {
		t.Errorf("only %d threads in a Go process", len(s.Threads))
	}
	// The Go target is not position independent: its text is in the
	// executable's own mapping, where the spinning goroutine runs.
	inExe := 0
	for _, th := range s.Threads {
		if m := Find(s.Maps, th.Regs.PC); m != nil && strings.HasSuffix(m.Path, "target-go") {
			inExe++
		}
	}
	if inExe == 0 {
		t.Errorf("no thread has its PC in the Go executable")
	}
	checkRunning(t, tg.pid)
}

func TestFreezeTIDs(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	reader := int(tg.field(t, 1))
	// PID 1 is no thread of the target: it must not be touched.
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{TIDs: []int{reader, 1}, StackBytes: 256})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Threads) != 2 || s.Threads[0].TID != reader || s.Threads[0].Err != nil {
		t.Fatalf("threads: %+v", s.Threads)
	}
	if err := s.Threads[1].Err; !errors.Is(err, ErrNoProcess) || s.Threads[1].Frozen != 0 {
		t.Errorf("PID 1 as a TID of %d: %v", tg.pid, err)
	}
	if n := len(s.Threads[0].Stack.Data); n == 0 || n > 256 {
		t.Errorf("stack copy of %d bytes, want 1..256", n)
	}
	checkRunning(t, tg.pid)
}

// TestFreezeChurn freezes a process whose threads come and go while
// Freeze attaches: threads may vanish, the snapshot must not fail.
func TestFreezeChurn(t *testing.T) {
	tg := start(t, program(t, "c"), "churn")
	vanished, most := 0, 0
	for i := 0; i < 100 || (most < 2 && i < 1000); i++ {
		t0 := time.Now()
		s, err := Freeze(context.Background(), tg.pid, FreezeOptions{StackBytes: 4096})
		if d := time.Since(t0); d > 500*time.Millisecond {
			for _, th := range s.Threads {
				t.Logf("slow freeze %v: thread %d %+v frozen %v err %v", d, th.TID, th.Info, th.Frozen, th.Err)
			}
		}
		if err != nil {
			t.Fatalf("freeze %d: %v", i, err)
		}
		ok := 0
		for _, th := range s.Threads {
			switch {
			case th.Err == nil:
				ok++
			case errors.Is(th.Err, ErrExited):
				vanished++
			default:
				t.Errorf("freeze %d: thread %d: %v", i, th.TID, th.Err)
			}
		}
		if s.Threads[0].Err != nil {
			t.Errorf("freeze %d: leader: %v", i, s.Threads[0].Err)
		}
		most = max(most, ok)
	}
	t.Logf("%d threads vanished during 100 freezes; at most %d threads at once", vanished, most)
	if most < 2 {
		st, _ := os.ReadFile(taskPath(tg.pid, tg.pid, "stack"))
		info, _ := Task(tg.pid, tg.pid)
		tids, _ := Tasks(tg.pid)
		t.Errorf("never caught a short-lived thread; leader %+v, threads %v, kernel stack:\n%s", info, tids, st)
	}
	checkRunning(t, tg.pid)
}

// TestFreezeSignals sends queued real-time signals while freezing in a
// loop. A signal that races the stop is handed to the tracer; Freeze must
// pass it back, or the target's count falls short.
func TestFreezeSignals(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	sigcount := tg.field(t, 6)
	stop := make(chan struct{})
	sentc := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				sentc <- n
				return
			default:
			}
			if syscall.Kill(tg.pid, syscall.Signal(40)) == nil {
				n++
			}
			if n%4 == 0 {
				time.Sleep(time.Microsecond)
			}
		}
	}()
	reinjected := 0
	for i := 0; i < 300 || (reinjected == 0 && i < 3000); i++ {
		s, err := Freeze(context.Background(), tg.pid, FreezeOptions{StackBytes: 512})
		if err != nil {
			close(stop)
			t.Fatal(err)
		}
		for _, th := range s.Threads {
			if th.Signal != 0 {
				reinjected++
			}
		}
	}
	close(stop)
	sent := <-sentc
	var got uint64
	for i := 0; i < 200; i++ {
		if got = readU64(t, tg.pid, sigcount); got == uint64(sent) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d signals sent, %d received, %d re-injected by Freeze", sent, got, reinjected)
	if got != uint64(sent) {
		t.Errorf("target received %d of %d signals", got, sent)
	}
	if reinjected == 0 {
		t.Errorf("no signal raced a stop in 3000 freezes: the re-injection path went untested")
	}
	checkRunning(t, tg.pid)
}

// TestFreezeStopped: a process stopped by SIGSTOP stays stopped.
func TestFreezeStopped(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	syscall.Kill(tg.pid, syscall.SIGSTOP)
	defer syscall.Kill(tg.pid, syscall.SIGCONT)
	waitState(t, tg.pid, int(tg.field(t, 4)), "T")
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "5 threads were stopped") {
		t.Errorf("warnings %q, want one about 5 stopped threads", s.Warnings)
	}
	for _, th := range s.Threads {
		if th.Err != nil {
			t.Errorf("thread %d: %v", th.TID, th.Err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	tids, _ := Tasks(tg.pid)
	for _, tid := range tids {
		if info, _ := Task(tg.pid, tid); info.State != "T" {
			t.Errorf("thread %d state %q after Freeze, want T (still stopped)", tid, info.State)
		}
	}
	syscall.Kill(tg.pid, syscall.SIGCONT)
	checkRunning(t, tg.pid)
	checkAdvancing(t, tg.pid, tg.field(t, 5))
}

// TestFreezeTimeout: a thread that cannot stop (in vfork, waiting for the
// child) is captured from /proc after the timeout, marked NotStopped, and
// is not left stopped when it wakes up: the tracer thread's exit detached
// it.
func TestFreezeTimeout(t *testing.T) {
	tg := start(t, program(t, "c"), "vfork")
	waitState(t, tg.pid, tg.pid, "D")
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{Timeout: 100 * time.Millisecond})
	if err == nil {
		if len(s.Threads) != 1 {
			t.Fatalf("%d threads", len(s.Threads))
		}
		th := s.Threads[0]
		sp, _ := th.Regs.Get(s.Arch.SP)
		if th.Err != nil || !errors.Is(th.NotStopped, ErrNotStopped) ||
			!strings.Contains(th.NotStopped.Error(), "did not stop within 100ms: uninterruptible sleep (state D) in vfork") ||
			th.Regs.PC == 0 || sp == 0 || th.Stack.Addr != sp || len(th.Stack.Data) == 0 {
			t.Errorf("thread %+v", th)
		}
	} else if !errors.Is(err, ErrExited) {
		t.Errorf("Freeze: %v", err)
	}
	waitState(t, tg.pid, tg.pid, "R")
	checkRunning(t, tg.pid)
	checkAdvancing(t, tg.pid, tg.field(t, 0))
}

// TestFreezeZombieLeader: the main thread exited (pthread_exit) and
// the kernel refuses to attach to it; the other threads are frozen, and
// memory is read through them.
func TestFreezeZombieLeader(t *testing.T) {
	tg := start(t, program(t, "c"), "leaderexit")
	waitState(t, tg.pid, tg.pid, "Z")
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Threads) != 3 || !errors.Is(s.Threads[0].Err, ErrExited) {
		t.Fatalf("threads %+v", s.Threads)
	}
	for _, th := range s.Threads[1:] {
		if th.Err != nil || len(th.Stack.Data) == 0 {
			t.Errorf("thread %d: %v, %d stack bytes", th.TID, th.Err, len(th.Stack.Data))
		}
	}
	if s.VDSO == nil {
		t.Errorf("vDSO not copied")
	}
	var b [8]byte
	if _, err := s.Memory().ReadAt(b[:], int64(tg.field(t, 0))); err != nil {
		t.Errorf("live read through the snapshot: %v", err)
	}
	checkRunning(t, tg.pid)
}

func TestFreezeNoProcess(t *testing.T) {
	skipInVM(t, "runs true(1)")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := Freeze(context.Background(), os.Getpid(), FreezeOptions{}); !errors.Is(err, ErrPermission) {
		t.Errorf("Freeze(context.Background(), self) = %v", err)
	}
	for _, pid := range []int{cmd.Process.Pid, 0, -1} {
		_, err := Freeze(context.Background(), pid, FreezeOptions{})
		if !errors.Is(err, ErrNoProcess) {
			t.Errorf("Freeze(%d) = %v, want ErrNoProcess", pid, err)
		} else if want := fmt.Sprintf("no process with PID %d", pid); err.Error() != want {
			t.Errorf("Freeze(%d) = %q, want %q", pid, err, want)
		}
	}
}

func TestFreezeTraced(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not installed")
	}
	tg := start(t, program(t, "c"), "threads")
	st := exec.Command("strace", "-p", strconv.Itoa(tg.pid), "-o", "/dev/null")
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		st.Process.Signal(syscall.SIGTERM)
		st.Wait()
	}()
	for i := 0; tracerOf(tg.pid, tg.pid) == 0; i++ {
		if i > 500 {
			t.Fatal("strace did not attach")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := Freeze(context.Background(), tg.pid, FreezeOptions{})
	if !errors.Is(err, ErrTraced) {
		t.Fatalf("Freeze = %v, want ErrTraced", err)
	}
	want := fmt.Sprintf("PID %d is already traced by PID %d (strace?)", tg.pid, st.Process.Pid)
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	st.Process.Signal(syscall.SIGTERM)
	st.Wait()
	checkRunning(t, tg.pid)
}

// runHelper starts this test binary as a separate tracer of pid, with
// the extra environment variables env.
func runHelper(t *testing.T, mode string, pid int, cred *syscall.Credential, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	bin := os.Args[0]
	if cred != nil {
		// The go test binary lives in a directory only root can enter.
		dir, err := os.MkdirTemp("", "prochelper")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		os.Chmod(dir, 0o755)
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "helper")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "TAIJI_PROC_HELPER="+mode, "TAIJI_PROC_PID="+strconv.Itoa(pid)), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out)
}

func TestFreezePermission(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch to user nobody")
	}
	tg := start(t, program(t, "c"), "threads")
	cmd, out := runHelper(t, "plain", tg.pid, &syscall.Credential{Uid: 65534, Gid: 65534})
	b, _ := io.ReadAll(out)
	cmd.Wait()
	if !strings.Contains(string(b), fmt.Sprintf("sentinel %q", ErrPermission.Error())) {
		t.Errorf("helper as nobody: %s", b)
	}
	if !strings.Contains(string(b), fmt.Sprintf("not permitted to trace PID %d: run as root or grant CAP_SYS_PTRACE", tg.pid)) {
		t.Errorf("helper as nobody: %s", b)
	}
	checkRunning(t, tg.pid)
}

// TestFreezeKilled: SIGKILL the tracer while every thread is stopped; the
// kernel must detach them, and they must run again.
func TestFreezeKilled(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	cmd, out := runHelper(t, "sleep", tg.pid, nil)
	line, err := out.ReadString('\n')
	if err != nil || line != "stopped\n" {
		cmd.Process.Kill()
		t.Fatalf("helper: %q %v", line, err)
	}
	// The test means something only if the target is stopped now.
	if info, err := Task(tg.pid, int(tg.field(t, 4))); err != nil || info.State != "t" {
		t.Errorf("spinner state %q while frozen, want t", info.State)
	}
	cmd.Process.Kill()
	cmd.Wait()
	checkRunning(t, tg.pid)
	checkAdvancing(t, tg.pid, tg.field(t, 5))
}

// TestFreezeInterrupted: Ctrl-C during Freeze resumes the target and
// returns ErrInterrupted (exit 130).
func TestFreezeInterrupted(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	cmd, out := runHelper(t, "sleep", tg.pid, nil)
	line, err := out.ReadString('\n')
	if err != nil || line != "stopped\n" {
		cmd.Process.Kill()
		t.Fatalf("helper: %q %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	b, _ := io.ReadAll(out)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("helper exit: %v, want 130; output:\n%s", err, b)
	}
	if !strings.Contains(string(b), fmt.Sprintf("sentinel %q", ErrInterrupted.Error())) {
		t.Errorf("helper output:\n%s", b)
	}
	checkRunning(t, tg.pid)
	checkAdvancing(t, tg.pid, tg.field(t, 5))
}

// TestFreezeCancelled: the caller's context, cancelled while every thread
// is stopped, ends Freeze with ErrInterrupted naming the cause, and the
// threads run again; proc itself catches no signal.
func TestFreezeCancelled(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	ctx, cancel := context.WithCancelCause(context.Background())
	testHookStopped = func(int) { cancel(errors.New("the user pressed stop")) }
	defer func() { testHookStopped = nil }()
	_, err := Freeze(ctx, tg.pid, FreezeOptions{})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "(the user pressed stop) while freezing") {
		t.Fatalf("Freeze = %v, want ErrInterrupted naming the cause", err)
	}
	checkRunning(t, tg.pid)
	checkAdvancing(t, tg.pid, tg.field(t, 5))
}

// TestFreezeExits: the target dies while stopped.
func TestFreezeExits(t *testing.T) {
	tg := start(t, program(t, "c"), "threads")
	testHookStopped = func(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
	defer func() { testHookStopped = nil }()
	_, err := Freeze(context.Background(), tg.pid, FreezeOptions{})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Freeze = %v, want ErrExited", err)
	}
}

// TestFreezeShortLived freezes processes that exit on their own at any
// moment: only ErrExited or ErrNoProcess may come back, and nothing hangs.
func TestFreezeShortLived(t *testing.T) {
	skipInVM(t, "runs sh(1)")
	counts := map[string]int{}
	for i := 0; i < 50; i++ {
		cmd := exec.Command("sh", "-c", "exit 0")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		_, err := Freeze(context.Background(), cmd.Process.Pid, FreezeOptions{})
		switch {
		case err == nil:
			counts["ok"]++
		case errors.Is(err, ErrExited):
			counts["exited"]++
		case errors.Is(err, ErrNoProcess):
			counts["noprocess"]++
		default:
			t.Errorf("Freeze: %v", err)
		}
		cmd.Wait() // may fail: Freeze may have reaped the exit
	}
	t.Log(counts)
}

func BenchmarkFreeze(b *testing.B) {
	tg := start(b, program(b, "c"), "idle", "10")
	b.ResetTimer()
	threads := 0
	for i := 0; i < b.N; i++ {
		s, err := Freeze(context.Background(), tg.pid, FreezeOptions{StackBytes: 64 << 10})
		if err != nil {
			b.Fatal(err)
		}
		threads += len(s.Threads)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(threads), "ns/thread")
	// How long each thread stood still, which is what the target feels;
	// the mean above also counts reading /proc before stopping.
	s, err := Freeze(context.Background(), tg.pid, FreezeOptions{StackBytes: 64 << 10})
	if err != nil {
		b.Fatal(err)
	}
	var frozen time.Duration
	for _, th := range s.Threads {
		frozen += th.Frozen
	}
	b.ReportMetric(float64(frozen.Nanoseconds())/float64(len(s.Threads)), "frozen-ns/thread")
}
