package proc

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/errs"
)

// Sentinel errors. Errors returned by this package wrap them, so callers
// test with errors.Is, while the error text says what to do about it.
var (
	ErrNoProcess   = errors.New("proc: no such process")
	ErrPermission  = errors.New("proc: permission denied")
	ErrTraced      = errors.New("proc: process already traced")
	ErrExited      = errors.New("proc: process exited")
	ErrInterrupted = errors.New("proc: interrupted")
	// ErrKernelThread: the PID is a kernel thread, which has no user space
	// (no memory, no executable, no user registers) and cannot be traced.
	ErrKernelThread = errors.New("proc: kernel thread")
	// ErrZombie: the process has exited and waits to be reaped; nothing of
	// it is left to read or trace.
	ErrZombie = errors.New("proc: zombie")
	// ErrNotStopped: a thread did not stop within the timeout (it sleeps
	// uninterruptibly, as a vfork parent does until its child execs or
	// exits). Errors wrapping it are *NotStoppedError.
	ErrNotStopped = errors.New("proc: thread did not stop")
	// ErrNotSupported: an operation the architecture or kernel cannot do,
	// such as single-stepping on mips. It wraps errors.ErrUnsupported,
	// which matches every taiji package's "not supported" error.
	ErrNotSupported = errs.Unsupported("proc: not supported")
)

// Error is an error from this package: a message written for the user and
// the sentinel it stands for.
type Error struct {
	Msg string
	Err error // one of the sentinels above
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// FormatError reports malformed /proc content: which file, the byte offset
// in it, what is wrong and the cause, if any (see Unwrap). Its message
// follows internal/errs: "proc: /proc/1/maps at offset 0x1f: msg".
type FormatError struct {
	File   string
	Offset int64 // byte offset in File
	Msg    string
	Err    error // the cause, or nil
}

func (e *FormatError) Error() string {
	return errs.Format("proc", e.File, "", e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// noProcess says that pid has no user space to show: it does not exist,
// or it is a kernel thread or a zombie (whose /proc files exist but are
// empty or missing: exe, maps, mem).
func noProcess(pid int) error {
	if err := NotUser(pid); err != nil {
		return err
	}
	return &Error{Msg: fmt.Sprintf("no process with PID %d", pid), Err: ErrNoProcess}
}

// exited says that pid, seen alive, went away.
func exited(pid int) error {
	return &Error{Msg: fmt.Sprintf("PID %d exited during the snapshot", pid), Err: ErrExited}
}

// NotUser returns an error wrapping ErrKernelThread, or ErrZombie and ErrExited, worded for
// the user, when pid is a kernel thread or a zombie process; nil otherwise
// (a live user process, a PID that does not exist, or /proc unreadable).
// A leader that called pthread_exit while other threads run is a zombie
// task, but its process lives: NotUser returns nil for it.
func NotUser(pid int) error {
	if pid <= 0 {
		return nil
	}
	info, err := Task(pid, pid)
	if err != nil {
		return nil
	}
	if info.KernelThread() {
		return &Error{Msg: fmt.Sprintf("PID %d is a kernel thread (%s): it has no user space; its kernel stack is in /proc/%d/stack", pid, info.Name, pid),
			Err: ErrKernelThread}
	}
	if info.State != "Z" && info.State != "X" {
		return nil
	}
	// Not Tasks: its error path comes back here.
	if ents, err := os.ReadDir(procPath(pid, "task")); err != nil || len(ents) > 1 {
		return nil // other threads live on (or it is being reaped now)
	}
	status := ""
	switch ws := syscall.WaitStatus(info.ExitCode); {
	case info.ExitCode == 0:
	case ws.Exited():
		status = fmt.Sprintf(" with status %d", ws.ExitStatus())
	case ws.Signaled():
		status = fmt.Sprintf(" (killed by %s)", unix.SignalName(ws.Signal()))
	}
	parent := fmt.Sprintf("PID %d", info.PPid)
	if p, err := Task(info.PPid, info.PPid); err == nil {
		parent += ", " + p.Name
	}
	return &Error{Msg: fmt.Sprintf("PID %d (%s) is a zombie: it has exited%s and waits for its parent (%s) to reap it", pid, info.Name, status, parent),
		Err: errors.Join(ErrZombie, ErrExited)}
}

// ForeignABI returns an error wrapping ErrNotSupported, worded for the
// user, when pid's executable is not of the host's architecture: a 32-bit
// x86 program on amd64 (its registers, signal frames and system calls are
// the 32-bit ones, which taiji does not read from a 64-bit tracer), or a
// program run through binfmt_misc emulation. nil otherwise, and when the
// executable cannot be read (the attach says why).
func ForeignABI(pid int) error {
	f, err := elf.Open(procPath(pid, "exe"))
	if err != nil {
		return nil
	}
	defer f.Close()
	host := arch.Host()
	if f.Machine == host.Machine && (f.Class == elf.ELFCLASS64) == (host.PtrSize == 8) {
		return nil
	}
	name := fmt.Sprintf("%v %v", f.Class, f.Machine)
	if a, err := arch.ForELF(f); err == nil {
		name = a.Name
	} else if f.Machine == elf.EM_386 {
		name = "386 (32-bit x86)"
	}
	return &Error{Msg: fmt.Sprintf("PID %d runs a %s program: taiji here reads %s processes only", pid, name, host.Name),
		Err: ErrNotSupported}
}

func threadExited(tid int) error {
	return &Error{Msg: fmt.Sprintf("thread %d exited during the snapshot", tid), Err: ErrExited}
}

// permission explains why tracing pid was refused and how to fix it.
func permission(pid int) error {
	// The kernel refuses to trace a kernel thread or a zombie, root or
	// not: say that rather than ask for privileges.
	if err := NotUser(pid); err != nil {
		return err
	}
	msg := fmt.Sprintf("not permitted to trace PID %d: run as root or grant CAP_SYS_PTRACE", pid)
	if hasCapSysPtrace() {
		// Privileges are not what is missing: asking for them would send
		// the user in circles.
		msg = fmt.Sprintf("not permitted to trace PID %d, even with CAP_SYS_PTRACE: the kernel protects it "+
			"(it runs in a user namespace taiji is not privileged in, a security module denies it, or it is not dumpable)", pid)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil {
		msg += fmt.Sprintf(" (kernel.yama.ptrace_scope=%s)", strings.TrimSpace(string(b)))
	}
	return &Error{Msg: msg, Err: ErrPermission}
}

// hasCapSysPtrace reports whether taiji runs with CAP_SYS_PTRACE effective
// (bit 19 of CapEff in /proc/self/status).
func hasCapSysPtrace() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_PTRACE) != 0
		}
	}
	return false
}

// traced names the tracer of tid, so the user knows which debugger to quit.
func traced(pid, tracer int) error {
	// TracerPid is the tracing thread; name its process.
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(tracer) + "/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
					tracer = n
				}
			}
		}
	}
	name := "unknown"
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(tracer) + "/comm"); err == nil {
		name = strings.TrimSpace(string(b))
	}
	return &Error{Msg: fmt.Sprintf("PID %d is already traced by PID %d (%s?)", pid, tracer, name), Err: ErrTraced}
}

// fileError turns an error opening a /proc file of pid into a sentinel
// error when it means the process is gone or out of reach.
func fileError(pid int, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return noProcess(pid)
	case errors.Is(err, os.ErrPermission):
		return &Error{Msg: fmt.Sprintf("not permitted to read %v: run as root or grant CAP_SYS_PTRACE", pathOf(err)), Err: ErrPermission}
	}
	return err
}

func pathOf(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path
	}
	return "/proc"
}
