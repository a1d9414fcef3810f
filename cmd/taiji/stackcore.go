package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/taijidbg/taiji/core"
	"github.com/taijidbg/taiji/unwind"
)

// coreFlags are taiji stack's flags for reading a core instead of a live
// process.
type coreFlags struct {
	core, exe, sysroot string
}

func (cf *coreFlags) add(f *pflag.FlagSet) {
	f.StringVar(&cf.core, "core", "", "read the process from this core file (ELF; .zst, .xz, .lz4 as systemd-coredump stores them) instead of a PID")
	f.StringVar(&cf.exe, "exe", "", "with --core: the program that dumped core, if not at the path the core names")
	f.StringVar(&cf.sysroot, "sysroot", "", "with --core: a directory holding the files the core names at the same paths (the crashed machine's /)")
}

// args checks the positional arguments: none with --core, else a PID or
// -- CMD.
func (cf *coreFlags) args(c *cobra.Command, args []string) error {
	if cf.core == "" {
		if cf.exe != "" || cf.sysroot != "" {
			return fmt.Errorf("--exe and --sysroot go with --core FILE")
		}
		if len(args) == 0 {
			return fmt.Errorf("give a PID, -- CMD [ARG...], or --core FILE (taiji %s --help)", c.Name())
		}
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("give either --core FILE or a PID, not both")
	}
	return nil
}

// runStackCore prints the stacks of the process a core recorded, as
// runStack prints a live one's: the same text and JSON, without kernel
// frames (a core has none).
func runStackCore(fl *stackFlags) error {
	c, err := core.Open(fl.core, core.Options{Exe: fl.exe, Sysroot: fl.sysroot})
	if err != nil {
		return err
	}
	defer c.Close()
	snap := c.Snapshot
	opts := moduleOptions(fl.sysroot, fl.debugDirs, fl.noCache)
	u := unwind.New(snap.Arch, opts)
	defer u.Close()
	var notes []string
	if n := signalNote(c); n != "" {
		notes = append(notes, n)
	}
	uts, unotes := u.Process(snap, unwind.Options{MaxFrames: fl.maxFrames, NoKernel: true, NoSource: fl.noSource})
	notes = append(append(notes, snap.Warnings...), unotes...)
	threads := make([]*stackThread, 0, len(uts))
	for _, t := range uts {
		if len(fl.tids) > 0 && !slices.Contains(fl.tids, t.TID) {
			continue
		}
		threads = append(threads, &stackThread{Thread: t})
	}
	if len(threads) == 0 {
		return fmt.Errorf("no thread %v in %s (its threads: %s)", fl.tids, fl.core, listInts(tidsOf(uts), 8))
	}
	return printStacks(&stackReport{Pid: snap.Pid, Exe: snap.Exe, Threads: threads, Notes: notes}, fl.json)
}

// signalNote says which signal the core was written for, if one whose
// default action dumps core: what the reader of a crash wants first.
func signalNote(c *core.Core) string {
	name, ok := coreSignals[c.Signal]
	if !ok {
		return ""
	}
	s := fmt.Sprintf("thread %d received %s", c.SignalTID, name)
	if c.HasFault {
		s += fmt.Sprintf(" (fault address %#x)", c.Fault)
	}
	return s + " and the process dumped core"
}

// coreSignals names the signals whose default action dumps core, by the
// numbers every Linux arch shares, and SIGBUS, which mips numbers 10
// (SIGUSR1 elsewhere, whose default action only terminates).
var coreSignals = map[int]string{3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}

func tidsOf(ts []*unwind.Thread) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t.TID
	}
	return out
}
