// Command taiji shows both halves of a Linux process: its user-space code
// (Go and native) and the kernel under it.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/proc"
)

// exitIncomplete is the exit status of a run that printed its result but
// could not capture all of it (a thread that cannot be stopped): 1 is for
// runs that printed nothing.
const exitIncomplete = 3

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
