package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

type stackFlags struct {
	json      bool
	maxFrames int
	noKernel  bool
	noSource  bool
	tids      []int
	debugDirs []string
	after     time.Duration
	noCache   bool
	coreFlags // --core, --exe, --sysroot (stackcore.go)
}

func stackCmd() *cobra.Command {
	var fl stackFlags
	c := &cobra.Command{
		Use:   "stack [flags] PID | stack [flags] -- CMD [ARG...] | stack --core FILE [flags]",
		Short: "Print the backtrace of every thread, kernel frames above user frames",
		Long: `Print the backtrace of every thread of a live process: the kernel frames it is
blocked in, then its user frames down to the outermost one, named from symbols,
DWARF (with inline frames) or Go's pclntab. The process is stopped only while
its registers and stack bytes are copied, then resumed.

With -- CMD, taiji starts CMD, waits --after, prints its stacks and ends it.`,
		Args: fl.coreFlags.args,
		RunE: func(c *cobra.Command, args []string) error {
			if fl.core != "" {
				return runStackCore(&fl)
			}
			pid, stop, err := inspected(c, args, fl.after)
			if err != nil {
				return err
			}
			return stop(runStack(pid, &fl))
		},
	}
	f := c.Flags()
	f.BoolVar(&fl.json, "json", false, "print JSON (schema in docs/json.md)")
	f.IntVar(&fl.maxFrames, "max-frames", unwind.DefaultMaxFrames, "at most N frames per thread, keeping both ends (0: no limit)")
	f.BoolVar(&fl.noKernel, "no-kernel", false, "leave out kernel frames")
	f.BoolVar(&fl.noSource, "no-source", false, "skip file:line lookup (faster on large DWARF)")
	f.IntSliceVar(&fl.tids, "tid", nil, "only this thread (repeatable)")
	f.StringSliceVar(&fl.debugDirs, "debug-dir", nil, "where separate debug files live (default /usr/lib/debug; repeatable)")
	f.DurationVar(&fl.after, "after", time.Second, "with -- CMD: how long to let CMD run before the snapshot")
	f.BoolVar(&fl.noCache, "no-cache", false, "do not keep inflated debug sections in ~/.cache/taiji between runs")
	fl.coreFlags.add(f)
	return c
}

// inspected returns the PID to inspect: the argument, or a child started from
// the words after "--", which stop ends. stop takes the command's error and
// returns it, reworded if the child ended during the command.
func inspected(c *cobra.Command, args []string, after time.Duration) (pid int, stop func(error) error, err error) {
	if dash := c.ArgsLenAtDash(); dash >= 0 {
		if dash != 0 || len(args) == 0 {
			return 0, nil, fmt.Errorf("give either a PID or -- CMD, not both")
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stderr, os.Stderr
		// If taiji dies (SIGTERM, SIGKILL), the program it started goes too.
		// The kernel sends Pdeathsig when the forking *thread* exits, and Go
		// retires threads (the ptrace thread among them): fork from one
		// that lives as long as taiji.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			return 0, nil, fmt.Errorf("cannot start %s: %v", args[0], err)
		}
		pid := cmd.Process.Pid
		// Not cmd.Wait in the background: a wait in any thread of taiji
		// would take the ptrace stops Freeze waits for.
		if exitedWithin(pid, after) {
			cmd.Wait()
			return 0, nil, fmt.Errorf("%s %s before the snapshot at %v; try a shorter --after", args[0], exitStatus(cmd.ProcessState), after)
		}
		return pid, func(err error) error {
			gone := errors.Is(err, proc.ErrExited) || errors.Is(err, proc.ErrNoProcess)
			if gone && exitedWithin(pid, 0) {
				// It ended while taiji looked: say so, not that some
				// PID vanished or became a zombie.
				cmd.Wait()
				return fmt.Errorf("%s %s during the snapshot, %v after it started", args[0], exitStatus(cmd.ProcessState), after)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			return err
		}, nil
	}
	if len(args) != 1 {
		return 0, nil, fmt.Errorf("expected one PID, got %d arguments (to start a program: taiji stack -- CMD ARGS)", len(args))
	}
	pid, err = strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		return 0, nil, fmt.Errorf("%q is not a PID (a positive number; to start a program: taiji stack -- CMD ARGS)", args[0])
	}
	return pid, func(err error) error { return err }, nil
}

// exitedWithin waits up to d for the child pid to exit and reports whether
// it has, without reaping it (nor taking any ptrace stop).
func exitedWithin(pid int, d time.Duration) bool {
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(d)
		for {
			n, err := unix.Poll(fds, int(max(0, time.Until(deadline).Milliseconds())))
			if err != unix.EINTR {
				return err == nil && n > 0
			}
		}
	}
	time.Sleep(d)
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo != 0
}

// exitStatus says how a process ended: "exited (status 1)", "was killed by
// SIGSEGV (core dumped)".
func exitStatus(ps *os.ProcessState) string {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case !ok:
		return "exited (" + ps.String() + ")"
	case ws.Signaled():
		s := "was killed by " + unix.SignalName(ws.Signal())
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	}
	return fmt.Sprintf("exited (status %d)", ws.ExitStatus())
}

// stackReport is the JSON document docs/json.md describes.
type stackReport struct {
	Pid int    `json:"pid"`
	Exe string `json:"exe"`
	// KernelThread marks a kernel thread: no exe, only kernel frames.
	KernelThread bool           `json:"kernel_thread,omitempty"`
	Threads      []*stackThread `json:"threads"`
	Notes        []string       `json:"notes,omitempty"`
}

// stackThread is a thread's backtrace and, if it is not the whole of it,
// why.
type stackThread struct {
	*unwind.Thread
	Incomplete string `json:"incomplete,omitempty"`
}

// incompleteError ends a run that printed its stacks but could not capture
// every thread in full: taiji then exits with status 3.
type incompleteError struct {
	n, of int
	first string
}

func (e *incompleteError) Error() string {
	return fmt.Sprintf("%d of %d threads incomplete: %s", e.n, e.of, e.first)
}

func (e *incompleteError) ExitCode() int { return exitIncomplete }

func runStack(pid int, fl *stackFlags) error {
	var notes []string
	// A TID (from top -H, say) names its process, as in gdb and eu-stack.
	if tg, err := proc.Tgid(pid); err == nil && tg != pid {
		notes = append(notes, fmt.Sprintf("%d is a thread of PID %d, not a process: every thread of PID %d is shown (--tid %d for this one alone)", pid, tg, tg, pid))
		pid = tg
	}
	if err := checkTIDs(pid, fl.tids); err != nil {
		return err
	}
	opts := moduleOptions(proc.Root(pid), fl.debugDirs, fl.noCache)
	u := unwind.New(arch.Host(), opts)
	defer u.Close()
	// The unwinder keeps the Go runtime state it needs to cross stack
	// switches while the threads are stopped; what it needs to know of the
	// executable for that is looked up first, so the stop stays short.
	ctx, stop := interruptible()
	snap, err := proc.Freeze(ctx, pid, proc.FreezeOptions{TIDs: fl.tids, Kernel: !fl.noKernel, Prepare: u.PrepareGo, Copy: u.CopyGoState})
	stop()
	if errors.Is(err, proc.ErrKernelThread) {
		if fl.noKernel {
			return fmt.Errorf("%w; without --no-kernel, taiji stack shows it", err)
		}
		return kernelThreadStacks(pid, fl)
	}
	if err != nil {
		return err
	}
	uts, unotes := u.Process(snap, unwind.Options{MaxFrames: fl.maxFrames, NoKernel: fl.noKernel, NoSource: fl.noSource})
	notes = append(append(notes, snap.Warnings...), unotes...)
	threads := make([]*stackThread, len(uts))
	var inc *incompleteError
	for i, t := range uts {
		why, short := incomplete(pid, snap.Threads[i])
		threads[i] = &stackThread{Thread: t, Incomplete: why}
		if why != "" {
			if inc == nil {
				inc = &incompleteError{of: len(uts), first: short}
			}
			inc.n++
		}
	}
	if err := printStacks(&stackReport{Pid: pid, Exe: snap.Exe, Threads: threads, Notes: notes}, fl.json); err != nil {
		return err
	}
	if inc != nil {
		return inc
	}
	return nil
}

// incomplete says why what was captured of t is not the whole of its
// stack, at length and in short, or "" if it is. A thread that exited
// during the snapshot is not incomplete: there was nothing left to show.
func incomplete(pid int, t *target.Thread) (why, short string) {
	switch {
	case t.NotStopped != nil:
		return fmt.Sprintf("%v; its user frames start from the PC and SP in /proc/%d/task/%d/syscall and memory read without stopping it: unverified",
			t.NotStopped, pid, t.TID), fmt.Sprintf("%v (its user frames are unverified)", t.NotStopped)
	case t.Err != nil && !errors.Is(t.Err, proc.ErrExited) && !errors.Is(t.Err, proc.ErrNoProcess):
		return t.Err.Error(), t.Err.Error()
	}
	return "", ""
}

// printStacks prints r as text or JSON.
func printStacks(r *stackReport, asJSON bool) error {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	word := "threads"
	if len(r.Threads) == 1 {
		word = "thread"
	}
	what := r.Exe
	if r.KernelThread {
		what = "kernel thread"
	}
	fmt.Fprintf(w, "Process %d (%s), %d %s\n", r.Pid, what, len(r.Threads), word)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, t := range r.Threads {
		s := t.Thread.String()
		if t.Incomplete != "" {
			// Mark it in the thread's heading, say why under its frames.
			head, rest, _ := strings.Cut(s, "\n")
			s = strings.TrimSuffix(head, ":") + " [incomplete]:\n" + rest + "    incomplete: " + t.Incomplete + "\n"
		}
		fmt.Fprintf(w, "\n%s", s)
	}
	return nil
}

// kernelThreadStacks shows a kernel thread: it has no user half, but its
// kernel stack is what a user asking for its stack wants to see.
func kernelThreadStacks(pid int, fl *stackFlags) error {
	tids := fl.tids
	if tids == nil {
		var err error
		if tids, err = proc.Tasks(pid); err != nil {
			return err
		}
	}
	r := &stackReport{Pid: pid, KernelThread: true,
		Notes: []string{"a kernel thread has no user space: only its kernel frames are shown"}}
	for _, tid := range tids {
		info, err := proc.Task(pid, tid)
		if err != nil {
			return err
		}
		kernel, err := proc.KernelStack(pid, tid)
		if err != nil {
			return err
		}
		t := &unwind.Thread{TID: tid, Name: info.Name, State: info.State}
		for _, k := range kernel {
			t.Frames = append(t.Frames, unwind.Frame{Kind: unwind.Kernel, Function: k.Function, Offset: k.Offset, Module: k.Module})
		}
		r.Threads = append(r.Threads, &stackThread{Thread: t})
	}
	return printStacks(r, fl.json)
}

// checkTIDs says which --tid is not a thread of pid, before anything is
// stopped.
func checkTIDs(pid int, tids []int) error {
	if len(tids) == 0 {
		return nil
	}
	all, err := proc.Tasks(pid)
	if err != nil {
		return err
	}
	for _, tid := range tids {
		if !slices.Contains(all, tid) {
			return fmt.Errorf("%d is not a thread of PID %d (its threads: %s)", tid, pid, listInts(all, 8))
		}
	}
	return nil
}

func listInts(v []int, most int) string {
	var b strings.Builder
	for i, n := range v {
		if i == most {
			fmt.Fprintf(&b, " ... (%d in all)", len(v))
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}
