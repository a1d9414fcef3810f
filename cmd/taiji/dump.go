package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/taijidbg/taiji/core"
	"github.com/taijidbg/taiji/proc"
)

func dumpCmd() *cobra.Command {
	var (
		out string
		all bool
	)
	c := &cobra.Command{
		Use:   "dump [--all-mappings] [-o FILE] PID",
		Short: "Write an ELF core file of a live process, as gcore does",
		Long: `Write an ELF core file of a live process, which gdb, delve and taiji stack --core
read: every thread's registers, the process's auxiliary vector and mapped files,
and the memory /proc/PID/coredump_filter selects (as the kernel would if the
process crashed). The process is stopped only while its registers and memory
are copied, then resumes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return fmt.Errorf("%q is not a PID (a positive number)", args[0])
			}
			if tg, err := proc.Tgid(pid); err == nil && tg != pid {
				fmt.Fprintf(os.Stderr, "note: %d is a thread of PID %d: the core is of the whole process\n", pid, tg)
				pid = tg
			}
			if out == "" {
				out = "core." + strconv.Itoa(pid)
			}
			ctx, stop := interruptible()
			defer stop()
			res, err := core.Dump(ctx, pid, out, core.DumpOptions{AllMappings: all})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(os.Stderr, "note: %s\n", w)
			}
			fmt.Fprintf(os.Stderr, "wrote %s: %d threads, %d of %d mappings, %.1f MiB of memory; PID %d stopped for %v\n",
				out, res.Threads, res.Dumped, res.Segments, float64(res.Written)/(1<<20), pid, res.Frozen.Round(10_000))
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&out, "output", "o", "", "the core file to write (default core.PID)")
	f.BoolVar(&all, "all-mappings", false, "also write file-backed mappings (program and library text), so the core is read without the files")
	return c
}
