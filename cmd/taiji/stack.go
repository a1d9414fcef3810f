package main

import (
	"bufio"
	"encoding/json"
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

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
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
}

func stackCmd() *cobra.Command {
	var fl stackFlags
	c := &cobra.Command{
		Use:   "stack [flags] PID | stack [flags] -- CMD [ARG...]",
		Short: "Print the backtrace of every thread, kernel frames above user frames",
		Long: `Print the backtrace of every thread of a live process: the kernel frames it is
blocked in, then its user frames down to the outermost one, named from symbols,
DWARF (with inline frames) or Go's pclntab. The process is stopped only while
its registers and stack bytes are copied, then resumed.

With -- CMD, taiji starts CMD, waits --after, prints its stacks and ends it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pid, stop, err := target(c, args, fl.after)
			if err != nil {
				return err
			}
			defer stop()
			return runStack(pid, &fl)
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
	return c
}

// target returns the PID to inspect: the argument, or a child started from
// the words after "--", which stop ends.
func target(c *cobra.Command, args []string, after time.Duration) (pid int, stop func(), err error) {
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
		time.Sleep(after)
		return cmd.Process.Pid, func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}, nil
	}
	if len(args) != 1 {
		return 0, nil, fmt.Errorf("expected one PID, got %d arguments (to start a program: taiji stack -- CMD ARGS)", len(args))
	}
	pid, err = strconv.Atoi(args[0])
	if err != nil || pid <= 0 {
		return 0, nil, fmt.Errorf("%q is not a PID (a positive number; to start a program: taiji stack -- CMD ARGS)", args[0])
	}
	return pid, func() {}, nil
}

// stackReport is the JSON document docs/json.md describes.
type stackReport struct {
	Pid     int              `json:"pid"`
	Exe     string           `json:"exe"`
	Threads []*unwind.Thread `json:"threads"`
	Notes   []string         `json:"notes,omitempty"`
}

func runStack(pid int, fl *stackFlags) error {
	if err := checkTIDs(pid, fl.tids); err != nil {
		return err
	}
	// --debug-dir adds to the standard place rather than replacing it, so
	// system libraries keep their debug files.
	opts := module.Options{Root: proc.Root(pid), DebugDirs: append(fl.debugDirs, "/usr/lib/debug")}
	if !fl.noCache {
		opts.CacheDir = module.DefaultCacheDir()
	}
	u := unwind.New(arch.Host(), opts)
	defer u.Close()
	// The unwinder keeps the Go runtime state it needs to cross stack
	// switches while the threads are stopped.
	snap, err := proc.Freeze(pid, proc.FreezeOptions{TIDs: fl.tids, Kernel: !fl.noKernel, Copy: u.CopyGoState})
	if err != nil {
		return err
	}
	threads, notes := u.Process(snap, unwind.Options{MaxFrames: fl.maxFrames, NoKernel: fl.noKernel, NoSource: fl.noSource})
	notes = append(snap.Warnings, notes...)

	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if fl.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(stackReport{Pid: pid, Exe: snap.Exe, Threads: threads, Notes: notes})
	}
	word := "threads"
	if len(threads) == 1 {
		word = "thread"
	}
	fmt.Fprintf(w, "Process %d (%s), %d %s\n", pid, snap.Exe, len(threads), word)
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, t := range threads {
		fmt.Fprintf(w, "\n%s", t)
	}
	return nil
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
