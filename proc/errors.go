package proc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap them, so callers
// test with errors.Is, while the error text says what to do about it.
var (
	ErrNoProcess   = errors.New("proc: no such process")
	ErrPermission  = errors.New("proc: permission denied")
	ErrTraced      = errors.New("proc: process already traced")
	ErrExited      = errors.New("proc: process exited")
	ErrInterrupted = errors.New("proc: interrupted")
)

// Error is an error from this package: a message written for the user and
// the sentinel it stands for.
type Error struct {
	Msg string
	Err error // one of the sentinels above
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// FormatError reports malformed /proc content: which file and where.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("proc: %s: offset %d: %s", e.File, e.Offset, e.Msg)
}

func noProcess(pid int) error {
	return &Error{Msg: fmt.Sprintf("no process with PID %d", pid), Err: ErrNoProcess}
}

func exited(pid int) error {
	return &Error{Msg: fmt.Sprintf("PID %d exited during the snapshot", pid), Err: ErrExited}
}

func threadExited(tid int) error {
	return &Error{Msg: fmt.Sprintf("thread %d exited during the snapshot", tid), Err: ErrExited}
}

// permission explains why tracing pid was refused and how to fix it.
func permission(pid int) error {
	msg := fmt.Sprintf("not permitted to trace PID %d: run as root or grant CAP_SYS_PTRACE", pid)
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil {
		msg += fmt.Sprintf(" (kernel.yama.ptrace_scope=%s)", strings.TrimSpace(string(b)))
	}
	return &Error{Msg: msg, Err: ErrPermission}
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
