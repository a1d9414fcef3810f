package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/chzyer/readline"
	"golang.org/x/sys/unix"
)

// taiji debug plants breakpoints: trap instructions in the target's code.
// If the process holding them died without taking them out, the kernel
// would detach the target's threads and the first one to reach a trap
// would die of SIGTRAP. A debugger can put its traps back on every exit
// it sees (quit, detach, Ctrl-C, SIGTERM, SIGHUP), but not on SIGKILL. So
// the process the user starts only keeps the session: it runs the
// debugger itself as a child (the tracer, with the same terminal and
// arguments), forwards what would end taiji to it, and exits with its
// status. If the keeper is killed, even with SIGKILL, the tracer sees the
// pipe between them close and ends as on SIGTERM: breakpoints out, an
// attached process detached, a started one killed.
//
// At the prompt the tracer also survives its own SIGKILL: it rests the
// session first (proc.Session.Rest). What nothing covers is a SIGKILL of
// the tracer process while the target runs with traps in its code;
// docs/debug.md says so.

// keeperEnv names the descriptor on which the tracer reads the keeper's
// pipe; its presence marks the tracer process.
const keeperEnv = "TAIJI_DEBUG_KEEPER_FD"

// keepDebugger runs the tracer as a child of this process and waits for
// it, unless this process is that tracer (kept reports false then). The
// tracer's exit status is this process's: keepDebugger exits with it.
func keepDebugger() (kept bool, err error) {
	if fd := os.Getenv(keeperEnv); fd != "" {
		os.Unsetenv(keeperEnv) // a started program must not inherit it
		watchKeeper(fd)
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("cannot find taiji's own executable to run the debugger: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return false, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{r} // descriptor 3
	cmd.Env = append(os.Environ(), keeperEnv+"=3")

	// Catch the signals before the tracer exists, so none ends the
	// keeper in between. A terminal's Ctrl-C reaches every process of
	// the foreground group, the tracer too: it is forwarded only when
	// there is no terminal (kill -INT from a script names one PID).
	sigc := make(chan os.Signal, 8)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("cannot start the debugger process: %v", err)
	}
	r.Close()
	tty := readline.IsTerminal(int(os.Stdin.Fd()))
	// The terminal's modes as the user left them: the prompt makes the
	// terminal raw, and a tracer killed there cannot make it cooked again.
	saved, _ := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	go func() {
		for sig := range sigc {
			if sig == syscall.SIGINT && tty {
				continue
			}
			cmd.Process.Signal(sig)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigc)
	w.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			if saved != nil {
				unix.IoctlSetTermios(int(os.Stdin.Fd()), unix.TCSETS, saved)
			}
			fmt.Fprintf(os.Stderr, "taiji: the debugger process (PID %d) was killed by %s: if the target was running, breakpoints may be left in its code\n", cmd.Process.Pid, unix.SignalName(ws.Signal()))
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		return true, err
	}
	os.Exit(0)
	return true, nil
}

// watchKeeper ends the tracer as SIGTERM does once the keeper's end of
// the pipe closes, that is when the keeper died. It also lets the tracer
// reset the terminal and print after the shell has taken the terminal
// back from a killed keeper: without a handler, SIGTTOU and SIGTTIN would
// stop it there for good, still holding the target.
func watchKeeper(fd string) {
	var n int
	if _, err := fmt.Sscan(fd, &n); err != nil {
		return
	}
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN)
	syscall.CloseOnExec(n) // not for a program the debugger starts
	f := os.NewFile(uintptr(n), "keeper")
	go func() {
		io.Copy(io.Discard, f)
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
}
