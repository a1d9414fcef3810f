package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/proc"
)

// jsonInject mirrors the documented --json output (docs/inject.md).
type jsonInject struct {
	Pid         int     `json:"pid"`
	Tid         int     `json:"tid"`
	Syscall     string  `json:"syscall"`
	Number      int     `json:"number"`
	Return      int64   `json:"return"`
	Errno       *string `json:"errno"`
	ErrnoNumber *int    `json:"errno_number"`
}

func inject(t *testing.T, args ...string) jsonInject {
	t.Helper()
	out, errOut, err := runTaiji(t, append([]string{"inject", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("taiji inject %v: %v\n%s", args, err, errOut)
	}
	var r jsonInject
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("taiji inject --json printed invalid JSON: %v\n%s", err, out)
	}
	return r
}

// field returns the value after "name " in the target's startup lines.
func field(t *testing.T, p *testprog.Proc, name string) string {
	t.Helper()
	for _, l := range strings.Split(p.Stdout(), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("target printed no %q line:\n%s", name, p.Stdout())
	return ""
}

func counter(t *testing.T, pid int, addr string) uint64 {
	t.Helper()
	a, err := strconv.ParseUint(addr, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	if _, err := proc.NewMemory(pid).ReadAt(b[:], int64(a)); err != nil {
		t.Fatal(err)
	}
	return binary.NativeEndian.Uint64(b[:])
}

// waitSlept waits for the sleeper's next report after the first n bytes of
// output and returns it.
func waitSlept(t *testing.T, p *testprog.Proc, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := p.Stdout()
		if i := strings.Index(out[n:], "slept "); i >= 0 {
			if j := strings.Index(out[n+i:], "\n"); j >= 0 {
				return out[n+i : n+i+j]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no report from the sleeper:\n%s", p.Stdout())
	return ""
}

func TestInjectNative(t *testing.T) {
	requireRoot(t)
	a := arch.Host()
	p := testprog.Start(t, testprog.BuildC(t, "inject"), "2000")
	pid := strconv.Itoa(p.Pid)
	ctr := field(t, p, "counter")
	sleeper := field(t, p, "sleeper")
	spinner := field(t, p, "spinner")

	// Start right after a report, so the injections land mid-sleep.
	waitSlept(t, p, len(p.Stdout()))
	n := len(p.Stdout())
	time.Sleep(700 * time.Millisecond)

	r := inject(t, pid, "getpid")
	if r.Return != int64(p.Pid) || r.Errno != nil || r.Pid != p.Pid || r.Tid != p.Pid || r.Syscall != "getpid" {
		t.Errorf("getpid: %+v", r)
	}
	if want, _ := a.SyscallNumber("getpid"); r.Number != want {
		t.Errorf("getpid number %d, want %d", r.Number, want)
	}
	for _, tid := range []string{sleeper, spinner} {
		r = inject(t, "--tid", tid, pid, "gettid")
		if strconv.FormatInt(r.Return, 10) != tid || r.Tid != atoi(t, tid) {
			t.Errorf("gettid in %s: %+v", tid, r)
		}
	}
	r = inject(t, pid, "close", "12345")
	ebadf, _ := a.Errno("EBADF")
	if r.Return != -1 || r.Errno == nil || *r.Errno != "EBADF" || r.ErrnoNumber == nil || *r.ErrnoNumber != ebadf {
		t.Errorf("close(12345): %+v, want EBADF", r)
	}
	msg := fmt.Sprintf("hello from taiji inject %d\n", rand.Int())
	r = inject(t, "--tid", sleeper, pid, "write", "1", msg)
	if r.Return != int64(len(msg)) {
		t.Errorf("write: %+v, want %d", r, len(msg))
	}
	r = inject(t, pid, "mmap", "0", "8192", "PROT_READ|PROT_WRITE", "MAP_PRIVATE|MAP_ANONYMOUS", "-1", "0")
	if r.Errno != nil || r.Return <= 0 {
		t.Fatalf("mmap: %+v", r)
	}
	maps, _ := proc.Maps(p.Pid)
	if m := proc.Find(maps, uint64(r.Return)); m == nil || !strings.HasPrefix(m.Perm, "rw") {
		t.Errorf("no rw mapping at %#x after mmap", r.Return)
	}
	r = inject(t, pid, "munmap", strconv.FormatInt(r.Return, 10), "8192")
	if r.Return != 0 || r.Errno != nil {
		t.Errorf("munmap: %+v", r)
	}
	r = inject(t, pid, "openat", "AT_FDCWD", "/nonexistent/taiji", "O_RDONLY", "0")
	if r.Errno == nil || *r.Errno != "ENOENT" {
		t.Errorf("openat of a missing file: %+v, want ENOENT", r)
	}
	r = inject(t, pid, "prctl", "PR_GET_DUMPABLE", "0", "0", "0", "0")
	if r.Return != 1 {
		t.Errorf("prctl(PR_GET_DUMPABLE): %+v, want 1", r)
	}

	// The sleep interrupted by all that still took its 2 s and returned 0.
	if got := waitSlept(t, p, n); !strings.HasPrefix(got, "slept 2") || !strings.HasSuffix(got, "ret 0 errno 0") {
		t.Errorf("sleeper reports %q, want a 2000 ms sleep returning 0", got)
	}
	if !strings.Contains(p.Stdout(), msg) {
		t.Errorf("the target's stdout lacks %q:\n%s", msg, p.Stdout())
	}
	c0 := counter(t, p.Pid, ctr)
	time.Sleep(50 * time.Millisecond)
	if c1 := counter(t, p.Pid, ctr); c1 == c0 {
		t.Error("the spinner stopped")
	}
	// Plain-text output.
	out, _, err := runTaiji(t, "inject", pid, "close", "12345")
	if err != nil || out != fmt.Sprintf("close = -1 EBADF (errno %d)\n", ebadf) {
		t.Errorf("text output %q, %v", out, err)
	}
	if !p.Alive() {
		t.Fatal("target died")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInjectGo(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildGo(t, "injectgo"), "1000")
	pid := strconv.Itoa(p.Pid)
	sleeper := field(t, p, "sleeper")
	n := len(p.Stdout())
	for _, tid := range []string{pid, sleeper} {
		if r := inject(t, "--tid", tid, pid, "getpid"); r.Return != int64(p.Pid) {
			t.Errorf("getpid in %s: %+v", tid, r)
		}
	}
	msg := fmt.Sprintf("go target says %d\n", rand.Int())
	if r := inject(t, pid, "write", "1", msg); r.Return != int64(len(msg)) {
		t.Errorf("write: %+v", r)
	}
	if got := waitSlept(t, p, n); !strings.HasPrefix(got, "slept 1") || !strings.HasSuffix(got, "ret 0 errno 0") {
		t.Errorf("sleeper reports %q, want a 1000 ms sleep returning 0", got)
	}
	if !strings.Contains(p.Stdout(), msg) {
		t.Errorf("the target's stdout lacks %q", msg)
	}
}

func TestInjectBadInput(t *testing.T) {
	requireRoot(t)
	p := testprog.Start(t, testprog.BuildC(t, "inject"), "300")
	pid := strconv.Itoa(p.Pid)

	_, stderr, err := runTaiji(t, "inject", pid, "getpidd")
	oneLine(t, stderr, err, `unknown system call "getpidd"`, "did you mean getpid")
	_, stderr, err = runTaiji(t, "inject", pid, "close")
	oneLine(t, stderr, err, "close takes 1 argument, 0 given")
	_, stderr, err = runTaiji(t, "inject", pid, "getpid", "1", "2", "3", "4", "5", "6", "7")
	oneLine(t, stderr, err, "at most 6")
	_, stderr, err = runTaiji(t, "inject", "99999999", "getpid")
	oneLine(t, stderr, err, "no process with PID 99999999")
	_, stderr, err = runTaiji(t, "inject", "notapid", "getpid")
	oneLine(t, stderr, err, `"notapid" is not a PID`)
	_, stderr, err = runTaiji(t, "inject", "--tid", "99999999", pid, "getpid")
	oneLine(t, stderr, err, "thread 99999999", "not stopped")
	_, stderr, err = runAs(t, 65534, "inject", pid, "getpid")
	oneLine(t, stderr, err, "not permitted", "CAP_SYS_PTRACE")

	// Another tracer holds the target: a taiji blocked in an injected
	// pause(). Ctrl-C then ends that pause and resumes everything.
	hold := exec.Command(taijiBin, "inject", pid, "pause")
	var holdErr strings.Builder
	hold.Stderr = &holdErr
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := os.ReadFile("/proc/" + pid + "/status"); !strings.Contains(string(st), "TracerPid:\t0\n") {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	_, stderr, err = runTaiji(t, "inject", pid, "getpid")
	oneLine(t, stderr, err, "already traced by PID "+strconv.Itoa(hold.Process.Pid), "taiji")
	hold.Process.Signal(syscall.SIGINT)
	err = hold.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(holdErr.String(), "interrupted") {
		t.Errorf("Ctrl-C on an injected pause: %v, %q; want exit 130 and 'interrupted'", err, holdErr.String())
	}
	// Everything resumed: the target answers again, and no signal leaked.
	if r := inject(t, pid, "getpid"); r.Return != int64(p.Pid) {
		t.Errorf("getpid after the interrupted session: %+v", r)
	}
	if !p.Alive() {
		t.Fatal("target died")
	}
}
