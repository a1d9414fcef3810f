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

// TestDebugREPLSigterm: SIGTERM at the prompt ends taiji debug, the
// breakpoints removed, the attached process running on.
func TestDebugREPLSigterm(t *testing.T) {
	bin := testprog.BuildC(t, "debug", "-O0", "-no-pie")
	target := testprog.Start(t, bin, "loop")
	p := startPty(t, "debug", strconv.Itoa(target.Pid))
	p.expect(`\(taiji\) `)
	p.send("b add\r")
	p.expect(`Breakpoint 1 at`)
	p.expect(`\(taiji\) `)
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("SIGTERM at the prompt did not end taiji debug")
	}
	codeIntact(t, target.Pid, bin, "add")
}
