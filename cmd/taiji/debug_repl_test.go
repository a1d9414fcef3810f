package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/internal/testprog"
)

// ptyTerm is taiji running on the slave side of a pseudo-terminal, as a
// user's terminal runs it.
type ptyTerm struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    strings.Builder
	seen   int // how far expect has consumed out
}

func startPty(t *testing.T, args ...string) *ptyTerm {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 200})
	cmd := exec.Command(taijiBin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CACHE_HOME="+t.TempDir(), "TERM=xterm")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	p := &ptyTerm{t: t, master: master, cmd: cmd}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			p.mu.Lock()
			p.out.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		master.Close()
	})
	return p
}

func (p *ptyTerm) send(s string) {
	p.t.Helper()
	if _, err := p.master.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// expect waits for re to match the output not consumed yet, and consumes
// it up to the match's end.
func (p *ptyTerm) expect(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		rest := p.out.String()[p.seen:]
		if loc := rx.FindStringIndex(rest); loc != nil {
			p.seen += loc[1]
			p.mu.Unlock()
			return rest[loc[0]:loc[1]]
		}
		p.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t.Fatalf("no %q in the terminal; it shows:\n%s", re, p.out.String()[p.seen:])
	return ""
}

// TestDebugREPL drives the prompt through a terminal: completion of
// commands and of function names, an empty line repeating the last
// command, history, Ctrl-C interrupting a continue without harming the
// target, quit.
func TestDebugREPL(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	target := testprog.Start(t, bin, "loop")
	p := startPty(t, "debug", strconv.Itoa(target.Pid))
	p.expect(`\(taiji\) `)
	// Completion: "tbr" + TAB completes the command, "ad" + TAB the
	// function.
	p.send("tbr\t")
	p.expect(`tbreak `)
	p.send("ad\t")
	p.expect(`add `)
	p.send("\r")
	p.expect(`Temporary breakpoint 1 at 0x[0-9a-f]+ in add`)
	p.send("b hit\r")
	p.expect(`Breakpoint 2 at`)
	p.send("clear 2\r")
	p.expect(`Deleted breakpoint 2`)
	p.send("c\r")
	p.expect(`Breakpoint 1, thread \d+ at 0x[0-9a-f]+ in add`)
	p.send("b never_called\r")
	p.expect(`Breakpoint 3 at`)
	// History: up twice brings back "c"; then an empty line repeats it.
	p.send("\x1b[A\x1b[A\r")
	p.expect(`\(taiji\) c`)
	// never_called is never called: the continue runs until Ctrl-C.
	time.Sleep(300 * time.Millisecond)
	p.send("\x03")
	p.expect(`Interrupted: thread \d+`)
	p.send("\r") // the empty line repeats continue
	time.Sleep(300 * time.Millisecond)
	p.send("\x03")
	p.expect(`Interrupted: thread \d+`)
	p.send("quit\r")
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("taiji debug ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("quit did not end taiji debug")
	}
	codeIntact(t, target.Pid, bin, "add")
	codeIntact(t, target.Pid, bin, "never_called")
}

// TestDebugREPLSigterm: SIGTERM, SIGHUP or SIGQUIT at the prompt ends
// taiji debug, the breakpoints removed, the attached process running on.
func TestDebugREPLSigterm(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			target := testprog.Start(t, bin, "loop")
			p := startPty(t, "debug", strconv.Itoa(target.Pid))
			p.expect(`\(taiji\) `)
			p.send("b add\r")
			p.expect(`Breakpoint 1 at`)
			p.expect(`\(taiji\) `)
			p.cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- p.cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%v at the prompt did not end taiji debug", sig)
			}
			for deadline := time.Now().Add(10 * time.Second); tracerPid(t, target.Pid) != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the target is still traced")
				}
			}
			codeIntact(t, target.Pid, bin, "add")
		})
	}
}

// TestDebugKeeperKilled: taiji debug killed with SIGKILL, at the prompt
// with a thread stopped on a breakpoint or while a continue runs through
// a breakpoint with a false condition, leaves the target running with
// its code intact. The tracer is a child of the process the user
// started; it sees that process die and puts everything back, as on
// SIGTERM.
func TestDebugKeeperKilled(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	for _, c := range []struct {
		name, bp, stop string
		tracer         bool // kill the tracer process rather than the keeper
	}{
		{"prompt", "b hit", `Breakpoint 1, thread \d+ at 0x[0-9a-f]+ in hit`, false},
		{"running", "b hit if i < 0", "", false},
		// The tracer itself killed at the prompt: Rest took every trap
		// out before the prompt, and no thread holds a SIGTRAP.
		{"tracer-at-prompt", "b hit", `Breakpoint 1, thread \d+ at 0x[0-9a-f]+ in hit`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := testprog.Start(t, bin, "spin")
			p := startPty(t, "debug", strconv.Itoa(target.Pid))
			p.expect(`\(taiji\) `)
			p.send(c.bp + "\r")
			p.expect(`Breakpoint 1 at`)
			p.send("c\r")
			if c.stop != "" {
				p.expect(c.stop)
				p.expect(`\(taiji\) `)
			} else {
				time.Sleep(300 * time.Millisecond)
			}
			tracer := tracerPid(t, target.Pid)
			if tracer == 0 {
				t.Fatal("the target is not traced while taiji debug holds it")
			}
			if c.tracer {
				// TracerPid names the tracer's ptrace thread; its
				// process is the debugger's.
				syscall.Kill(tgidOf(t, tracer), syscall.SIGKILL)
				p.expect(`the debugger process \(PID \d+\) was killed by SIGKILL`)
				// The keeper gave the terminal its modes back: the
				// prompt had made it raw (no echo, no Ctrl-C).
				tio, err := unix.IoctlGetTermios(int(p.master.Fd()), unix.TCGETS)
				if err != nil {
					t.Fatal(err)
				}
				if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != unix.ECHO|unix.ICANON|unix.ISIG {
					t.Errorf("the terminal is left raw after the tracer was killed (lflag %#x)", tio.Lflag)
				}
			} else {
				p.cmd.Process.Kill()
			}
			deadline := time.Now().Add(30 * time.Second)
			for tracerPid(t, target.Pid) != 0 {
				if !target.Alive() {
					t.Fatalf("the target died after taiji was killed\nstderr: %s", target.Stderr())
				}
				if time.Now().After(deadline) {
					t.Fatalf("the target is still traced 30 s after taiji was killed; the terminal shows:\n%s", p.out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			before := strings.Count(target.Stdout(), "tick")
			time.Sleep(200 * time.Millisecond)
			if !target.Alive() || strings.Count(target.Stdout(), "tick") <= before {
				t.Fatalf("the target did not run on after taiji was killed (alive %v)\nstdout tail: %q\nstderr: %s",
					target.Alive(), tail(target.Stdout(), 200), target.Stderr())
			}
			codeIntact(t, target.Pid, bin, "hit")
		})
	}
}

// tracerPid returns the TracerPid of /proc/PID/status (0: not traced,
// or gone).
func tracerPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^TracerPid:\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no TracerPid in /proc/%d/status", pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// tgidOf returns the process of thread tid.
func tgidOf(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^Tgid:\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no Tgid in /proc/%d/status", tid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
