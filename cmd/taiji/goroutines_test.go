package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/gotraceback"
	"github.com/taijidbg/taiji/internal/testprog"
)

// TestGoroutinesViews: --group, the filters, --pprof and the goroutine in
// each thread's header of taiji stack, on goroutinestates built by the
// newest toolchain.
func TestGoroutinesViews(t *testing.T) {
	requireRoot(t)
	tcs := testprog.Toolchains(t)
	tc := tcs[len(tcs)-1]
	p := testprog.StartGoroutineStates(t, testprog.BuildGoroutineStates(t, tc, testprog.GoModes[0]))
	pid := strconv.Itoa(p.Pid)

	// --state and --match select; --group counts.
	out, errOut, err := runTaiji(t, "goroutines", "--state", "chan receive", pid)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if !strings.Contains(out, "main.chanRecvHost(") || strings.Contains(out, "main.selectHost(") || strings.Contains(out, "[select]") {
		t.Errorf("--state 'chan receive':\n%s", out)
	}
	out, _, _ = runTaiji(t, "goroutines", "--match", `^main\.(mutex|cond)Host$`, pid)
	if n := strings.Count(out, "\ngoroutine "); n != 2 || !strings.Contains(out, "[sync.Mutex.Lock]") {
		t.Errorf("--match mutexHost|condHost shows %d goroutines:\n%s", n, out)
	}
	out, _, _ = runTaiji(t, "goroutines", "--group", "--json", pid)
	var groups struct {
		Total  int `json:"total"`
		Groups []struct {
			Count int      `json:"count"`
			IDs   []uint64 `json:"ids"`
			State string   `json:"state"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &groups); err != nil {
		t.Fatalf("--group --json: %v\n%s", err, out)
	}
	sum := 0
	for i, g := range groups.Groups {
		if g.Count != len(g.IDs) || i > 0 && g.Count > groups.Groups[i-1].Count {
			t.Errorf("group %d: count %d, %d ids, after a group of %d", i, g.Count, len(g.IDs), groups.Groups[max(i-1, 0)].Count)
		}
		sum += g.Count
	}
	if sum == 0 || sum > groups.Total {
		t.Errorf("groups hold %d goroutines of %d", sum, groups.Total)
	}

	// --pprof writes a profile go tool pprof reads, with the user frames.
	prof := filepath.Join(t.TempDir(), "goroutine.pb.gz")
	if _, errOut, err := runTaiji(t, "goroutines", "--pprof", prof, "--system", pid); err != nil {
		t.Fatalf("--pprof: %v: %s", err, errOut)
	}
	top, err := exec.Command(tc.Go, "tool", "pprof", "-top", "-nodecount=200", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, top)
	}
	for _, fn := range []string{"main.chanRecvHost", "main.mutexHost", "runtime.gopark"} {
		if !strings.Contains(string(top), fn) {
			t.Errorf("the profile lacks %s:\n%s", fn, top)
		}
	}

	// taiji stack names the goroutine a thread runs: the busy loop's.
	out, _, _ = runTaiji(t, "stack", "--json", pid)
	var st struct {
		Threads []struct {
			Goroutine uint64 `json:"goroutine"`
			Frames    []struct {
				Function string `json:"function"`
			} `json:"frames"`
		} `json:"threads"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, th := range st.Threads {
		for _, f := range th.Frames {
			if f.Function == "main.busyHost" || f.Function == "main.busyStep" {
				found = true
				if th.Goroutine == 0 {
					t.Errorf("the thread running main.busyHost names no goroutine")
				}
			}
		}
	}
	if !found {
		t.Errorf("no thread runs main.busyHost:\n%s", out)
	}
}

// TestGoroutinesCore: the goroutines of a core taiji dump wrote (and of its
// zstd copy) are the live process's, taken just before, goroutine by
// goroutine; DWARF and stripped builds.
func TestGoroutinesCore(t *testing.T) {
	requireRoot(t)
	tcs := testprog.Toolchains(t)
	tc := tcs[len(tcs)-1]
	for _, m := range testprog.GoModes[:2] { // default, stripped
		t.Run(m.Name, func(t *testing.T) {
			p := testprog.StartGoroutineStates(t, testprog.BuildGoroutineStates(t, tc, m))
			pid := strconv.Itoa(p.Pid)
			live, errOut, err := runTaiji(t, "goroutines", pid)
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			dir := t.TempDir()
			corePath := filepath.Join(dir, "core")
			if _, errOut, err := runTaiji(t, "dump", "-o", corePath, pid); err != nil {
				t.Fatalf("taiji dump: %v: %s", err, errOut)
			}
			if out, err := exec.Command("zstd", "-q", "-k", corePath, "-o", corePath+".zst").CombinedOutput(); err != nil {
				t.Fatalf("zstd: %v: %s", err, out)
			}
			want := parseListing(t, live)
			for _, c := range []string{corePath, corePath + ".zst"} {
				out, errOut, err := runTaiji(t, "goroutines", "--core", c)
				if err != nil {
					t.Fatalf("goroutines --core %s: %v: %s", c, err, errOut)
				}
				if diffs := gotraceback.Compare(want, parseListing(t, out), gotraceback.Options{SkipUnstable: true, Offsets: true}); len(diffs) > 0 {
					t.Errorf("goroutines --core %s differs from the live listing:\n%s\n\ncore:\n%s\n\nlive:\n%s", filepath.Base(c), strings.Join(diffs, "\n"), out, live)
				}
			}
		})
	}
}

// parseListing parses taiji goroutines' text after its summary lines.
func parseListing(t *testing.T, text string) []gotraceback.Goroutine {
	t.Helper()
	_, body, ok := strings.Cut(text, "\n\n")
	if !ok {
		t.Fatalf("no goroutines in:\n%s", text)
	}
	gs, err := gotraceback.Parse(body)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return gs
}

// notStarted holds goroutines that have not run yet: one P (GOMAXPROCS=1
// in its environment), no async preemption, and main spins without
// yielding after creating them. It says "ready" with a raw write(2): a
// system call through the runtime would let the scheduler hand its P to
// them.
const notStarted = `package main

import (
	"syscall"
	"unsafe"
)

var sink int

//go:noinline
func worker() { sink++ }

//go:noinline
func withArg(n int) { sink += n }

func main() {
	go worker()
	go withArg(7)
	msg := []byte("ready\n")
	syscall.RawSyscall(syscall.SYS_WRITE, 1, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)))
	for i := 0; ; i++ {
		sink += i
	}
}
`

// TestGoroutinesNotStarted: a goroutine that has not run yet resumes at its
// function's entry (g.sched.pc), not after a call: it is named there, as
// Go's traceback names it (the function, or the wrapper of a go statement
// with arguments), with no offset and no note, on every release.
func TestGoroutinesNotStarted(t *testing.T) {
	requireRoot(t)
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			bin := testprog.BuildGoSource(t, tc, "notstarted", []byte(notStarted), testprog.GoModes[0])["default"]
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "GODEBUG=asyncpreemptoff=1", "GOMAXPROCS=1")
			p := testprog.StartCmd(t, cmd)
			out, errOut, err := runTaiji(t, "goroutines", strconv.Itoa(p.Pid))
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			gs := parseListing(t, out)
			var runnable []gotraceback.Goroutine
			for _, g := range gs {
				if g.State == "runnable" {
					runnable = append(runnable, g)
				}
			}
			if len(runnable) != 2 || strings.Contains(out, "[taiji:") {
				t.Fatalf("want 2 runnable goroutines and no note:\n%s", out)
			}
			for i, want := range []string{"main.worker", "main.main.gowrap1"} {
				f := runnable[i].Frames
				if tc.Minor() < 22 && i == 1 {
					want = "main.main.func1" // the wrapper's name before go1.22
				}
				if len(f) != 1 || f[0].Func != want || f[0].HasOffset {
					t.Errorf("goroutine %d: frames %+v, want only %s at its entry (no +0x)\n%s", runnable[i].ID, f, want, out)
				}
			}
		})
	}
}

// taiji stack and taiji goroutines interrupted by SIGINT or SIGTERM at any
// moment (reading the binary, stopping 100k goroutines' process, copying,
// walking, printing): the target is never left stopped or traced, and goes
// on working (it answers SIGUSR1 with its own runtime.Stack afterwards). The
// command line owns the signals and hands proc.Freeze a context; this is
// what holds that together.
func TestFreezeCommandsInterrupted(t *testing.T) {
	requireRoot(t)
	bin := filepath.Join(t.TempDir(), "manyg")
	if out, err := exec.Command("go", "build", "-o", bin, "../../internal/testprog/manyg").CombinedOutput(); err != nil {
		t.Fatalf("go build manyg: %v\n%s", err, out)
	}
	p := testprog.Start(t, bin, "-n", "100000")
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	for _, command := range [][]string{{"goroutines", "--group"}, {"stack"}} {
		for i, delay := range []time.Duration{0, 5, 20, 50, 100, 200, 400, 800} {
			cmd := exec.Command(taijiBin, append(command, strconv.Itoa(p.Pid))...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			delay *= time.Millisecond // the phases above take tens to hundreds of ms here
			time.Sleep(delay)
			sig := sigs[i%2]
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			state, tracer := taskState(t, p.Pid)
			if state == "t" || state == "T" || tracer != "0" {
				t.Fatalf("taiji %s after %v at %v: the target is left in state %s, TracerPid %s (taiji: %v, %s)",
					command[0], sig, delay, state, tracer, err, stderr.String())
			}
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 130 {
				if !strings.Contains(stderr.String(), "all threads were resumed") || strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
					t.Errorf("taiji %s interrupted by %v: want one line saying the threads were resumed, got %q", command[0], sig, stderr.String())
				}
			}
			t.Logf("taiji %s, %v at %v: %v %s", command[0], sig, delay, err, strings.TrimSpace(stderr.String()))
		}
	}
	before := strings.Count(p.Stdout(), "stack_ns=")
	syscall.Kill(p.Pid, syscall.SIGUSR1)
	for deadline := time.Now().Add(time.Minute); strings.Count(p.Stdout(), "stack_ns=") == before; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the target no longer answers SIGUSR1 after the interrupted runs:\n%s", p.Stdout())
		}
	}
}
