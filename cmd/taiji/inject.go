package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/proc"
)

type injectFlags struct {
	json bool
	tid  int
}

func injectCmd() *cobra.Command {
	var fl injectFlags
	c := &cobra.Command{
		Use:   "inject [--json] [--tid TID] PID SYSCALL [ARG...]",
		Short: "Make a thread of a live process run one system call and print its result",
		Long: `Make one thread of a live process (default: the thread-group leader) run one
system call and print its result: the return value, or the errno by name.
PID may be a thread's ID: that thread makes the call.

SYSCALL is a name (getpid, close, write, mmap, prctl, ...) or a number. An ARG
is an integer (decimal, 0x hex, negative), constants joined by | (O_RDONLY,
PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, SIGUSR1, with the target
architecture's values), or a string, which taiji copies into memory it maps in
the target, passes by address and unmaps afterwards. Quote a string that
looks like a number: "s:123" passes the string "123".

Every thread is stopped meanwhile and resumes exactly where it was: a thread
blocked in a system call (sleep, read, futex) continues it as if nothing
happened. See docs/inject.md.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			return runInject(args, &fl)
		},
	}
	f := c.Flags()
	// Flags go before the PID: after it, "-1" is an argument.
	f.SetInterspersed(false)
	f.BoolVar(&fl.json, "json", false, "print one JSON object (schema in docs/inject.md)")
	f.IntVar(&fl.tid, "tid", 0, "the thread that makes the call (default: the leader)")
	return c
}

// injectReport is the --json output.
type injectReport struct {
	Pid         int     `json:"pid"`
	Tid         int     `json:"tid"`
	Syscall     string  `json:"syscall"`
	Number      int     `json:"number"`
	Return      int64   `json:"return"`
	Errno       *string `json:"errno"`
	ErrnoNumber *int    `json:"errno_number,omitempty"`
}

// injectArg parses one ARG: an integer or constants, else a string.
func injectArg(a *arch.Arch, s string) proc.Arg {
	if str, ok := strings.CutPrefix(s, "s:"); ok {
		return proc.Arg{Data: []byte(str)}
	}
	if v, err := a.ParseArg(s); err == nil {
		return proc.Arg{Val: v}
	}
	return proc.Arg{Data: []byte(s)}
}

func runInject(args []string, fl *injectFlags) error {
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		return fmt.Errorf("%q is not a PID", args[0])
	}
	a := arch.Host()
	nr, name, err := a.ParseSyscall(args[1])
	if err != nil {
		return err
	}
	if name == "" {
		name = strconv.Itoa(nr)
	}
	sargs := args[2:]
	if len(sargs) > len(a.Syscall.Args) {
		return fmt.Errorf("%s: %d arguments given; a system call takes at most %d on %s", name, len(sargs), len(a.Syscall.Args), a.Name)
	}
	// write FD STRING and read-like calls: the length defaults to the
	// string's.
	if want, ok := syscallArgc[name]; ok && lenLast[name] && len(sargs) == want-1 && len(sargs) > 0 {
		if last := injectArg(a, sargs[len(sargs)-1]); last.Data != nil {
			sargs = append(sargs, strconv.Itoa(len(last.Data)))
		}
	}
	if want, ok := syscallArgc[name]; ok && len(sargs) != want {
		return fmt.Errorf("%s takes %s, %d given", name, plural(want, "argument"), len(sargs))
	}
	var pargs []proc.Arg
	for _, s := range sargs {
		pargs = append(pargs, injectArg(a, s))
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return fmt.Errorf("no process with PID %d", pid)
	}
	tid := fl.tid
	// A TID names its process, and the thread to make the call.
	if tg, err := proc.Tgid(pid); err == nil && tg != pid {
		if tid == 0 {
			tid = pid
		}
		pid = tg
	}
	if tid == 0 {
		tid = pid
	}
	// Ctrl-C or SIGTERM during the session interrupts a blocking call
	// (its registers are restored) instead of killing taiji with the
	// target held; signal handling is the command line's, not proc's.
	ctx, stop := interruptible()
	defer stop()
	s, err := proc.Attach(ctx, pid)
	if err != nil {
		return err
	}
	res, err := s.Call(tid, nr, pargs...)
	if errors.Is(err, proc.ErrNotStopped) {
		if others := s.Threads(); len(others) > 0 {
			err = fmt.Errorf("%w: it cannot make a system call until it wakes; choose another thread with --tid (stopped: %s)", err, listInts(others, 8))
		} else {
			err = fmt.Errorf("%w: it cannot make a system call until it wakes, and PID %d has no other thread", err, pid)
		}
	}
	if derr := s.Detach(); err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	rep := injectReport{Pid: pid, Tid: tid, Syscall: name, Number: nr, Return: res.Value}
	if res.Errno != 0 {
		en := a.ErrnoName(res.Errno)
		if en == "" {
			en = "errno " + strconv.Itoa(res.Errno)
		}
		n := res.Errno
		rep.Errno, rep.ErrnoNumber = &en, &n
	}
	if fl.json {
		b, _ := json.Marshal(rep)
		fmt.Println(string(b))
		return nil
	}
	if rep.Errno != nil {
		fmt.Printf("%s = -1 %s (errno %d)\n", name, *rep.Errno, *rep.ErrnoNumber)
		return nil
	}
	if res.Value < 0 || res.Value > 1<<20 {
		fmt.Printf("%s = %d (%#x)\n", name, res.Value, uint64(res.Value))
	} else {
		fmt.Printf("%s = %d\n", name, res.Value)
	}
	return nil
}

// lenLast lists the calls whose last argument is the length of the
// string before it.
var lenLast = map[string]bool{"write": true, "read": true}

// syscallArgc holds the argument counts of common system calls, to catch a
// forgotten or extra argument before touching the target. Calls not listed
// accept up to six.
var syscallArgc = map[string]int{
	"getpid": 0, "gettid": 0, "getppid": 0, "getuid": 0, "geteuid": 0, "getgid": 0,
	"getegid": 0, "sched_yield": 0, "pause": 0, "sync": 0, "setsid": 0, "getpgrp": 0,
	"close": 1, "dup": 1, "umask": 1, "exit": 1, "exit_group": 1, "getpgid": 1, "getsid": 1, "fsync": 1,
	"dup2": 2, "munmap": 2, "kill": 2, "listen": 2, "ftruncate": 2, "setpgid": 2, "nanosleep": 2,
	"write": 3, "read": 3, "dup3": 3, "lseek": 3, "mprotect": 3, "tgkill": 3, "madvise": 3,
	"openat": 4, "mmap": 6,
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
