// Package proc is a live Linux process as taiji sees it: the /proc files
// that describe it (memory maps, threads, their names, states and kernel
// stacks) and a ptrace engine that freezes every thread for the few hundred
// microseconds it takes to copy its registers and stack, then resumes it.
//
// The engine funnels every ptrace request through one goroutine locked to
// its OS thread (see Tracer), because Linux accepts ptrace requests only
// from the thread that attached. Registers are read with PTRACE_GETREGSET
// NT_PRSTATUS, which every architecture implements, and converted to an
// arch.Regs by the one regs_linux_<arch>.go file per architecture.
//
// A Session (Attach) holds the threads for longer: registers and memory,
// physical breakpoints, all-stop run control (Continue, Step, typed Stop
// reasons) and system call injection. Interruption is passed in as a
// context; proc installs no signal handler of its own in a Session.
//
// Nothing is left stopped: every path out of Freeze (errors, vanished
// threads, panics, SIGINT and SIGTERM) detaches what it attached, and if
// taiji itself dies the kernel detaches its tracees, which resumes them.
package proc
