// Command taiji shows both halves of a Linux process: its user-space code
// (Go and native) and the kernel under it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
)

// exitIncomplete is the exit status of a run that printed its result but
// could not capture all of it (a thread that cannot be stopped): 1 is for
// runs that printed nothing.
const exitIncomplete = 3

// interruptible returns a context that SIGINT or SIGTERM cancels, for the
// span in which dying would leave the target stopped or its signals taken
// (a freeze, a dump, an attached session): proc and core install no
// signal handler, the command line decides. stop gives the signals their
// default action back, so Ctrl-C ends taiji at once again when the target
// has been released (while printing a million goroutines, say).
func interruptible() (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// moduleOptions are the options every command opens binaries with: root
// (a process's /proc/PID/root or a core's --sysroot), the user's debug
// directories before the standard /usr/lib/debug (so system libraries keep
// their debug files), and the cache of inflated debug sections in
// ~/.cache/taiji unless --no-cache.
func moduleOptions(root string, debugDirs []string, noCache bool) module.Options {
	opts := module.Options{Root: root, DebugDirs: append(slices.Clip(debugDirs), "/usr/lib/debug")}
	if !noCache {
		opts.CacheDir = module.DefaultCacheDir()
	}
	return opts
}

func main() {
	// taiji runs for milliseconds and holds a few tens of megabytes of
	// debug data: collecting garbage along the way only costs time.
	debug.SetGCPercent(400)
	if os.Getenv("TAIJI_MEMPROFILE") != "" {
		runtime.MemProfileRate = 4096 // finer than the default 512 KiB
	}
	root := &cobra.Command{
		Use:           "taiji",
		Short:         "See both halves of a Linux process: user space (Go and native) and the kernel under it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(stackCmd())
	root.AddCommand(goroutinesCmd())
	if p := os.Getenv("TAIJI_CPUPROFILE"); p != "" { // for taiji's developers
		f, err := os.Create(p)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	root.AddCommand(probesCmd())
	root.AddCommand(traceCmd())
	root.AddCommand(injectCmd())
	root.AddCommand(dumpCmd())
	root.AddCommand(debugCmd())
	root.SetArgs(gdbFlags(os.Args)[1:])
	err := root.Execute()
	pprof.StopCPUProfile()
	if p := os.Getenv("TAIJI_MEMPROFILE"); p != "" { // for taiji's developers
		writeHeapProfile(p)
	}
	if err != nil {
		// One line that says what is wrong and what to do; the packages
		// below write their errors that way.
		fmt.Fprintln(os.Stderr, "taiji:", err)
		if errors.Is(err, proc.ErrInterrupted) {
			os.Exit(130)
		}
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// writeHeapProfile writes the allocations made since the start (go tool
// pprof -sample_index=alloc_space shows what peak RSS is made of, since
// taiji frees little before it exits) to path.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "taiji: TAIJI_MEMPROFILE:", err)
		return
	}
	defer f.Close()
	pprof.Lookup("allocs").WriteTo(f, 0)
}
