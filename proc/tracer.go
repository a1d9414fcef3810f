package proc

import (
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tracer runs ptrace requests on one OS thread. Linux accepts requests
// for a tracee only from the thread that attached it (and reports its
// stops only to that thread's waits), so every ptrace and wait call for a
// tracee must go through the same Tracer, as in delve.
//
// Closing a Tracer ends its thread. The kernel then detaches whatever it
// still traces, which resumes it: that is the last line of defence against
// leaving a process stopped.
type Tracer struct {
	reqs  chan func()
	tid   int
	close sync.Once
}

// NewTracer starts a tracer thread.
func NewTracer() *Tracer {
	t := &Tracer{reqs: make(chan func())}
	ready := make(chan int)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends
		// the thread instead of reusing it, and with it any ptrace
		// attachment it holds.
		runtime.LockOSThread()
		ready <- unix.Gettid()
		for f := range t.reqs {
			f()
		}
	}()
	t.tid = <-ready
	return t
}

// TID returns the tracer thread's ID: what /proc/PID/status shows as
// TracerPid of its tracees.
func (t *Tracer) TID() int { return t.tid }

// Do runs f on the tracer thread and waits for it. If f panics, the panic
// is re-raised in the caller after f's deferred calls ran on the tracer
// thread (so they can detach). Called on the tracer thread (from inside
// another Do), it runs f at once. Do must not be called after Close.
func (t *Tracer) Do(f func()) {
	if t.onThread() {
		f()
		return
	}
	var (
		p        any
		panicked bool
	)
	done := make(chan struct{})
	t.reqs <- func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				p, panicked = r, true
			}
		}()
		f()
	}
	<-done
	if panicked {
		panic(p)
	}
}

// onThread reports whether the caller runs on the tracer thread. The
// thread is locked to the tracer's goroutine and runs no other, so its
// thread ID identifies that goroutine.
func (t *Tracer) onThread() bool { return unix.Gettid() == t.tid }

// Close ends the tracer thread; the kernel detaches any remaining tracee.
func (t *Tracer) Close() {
	t.close.Do(func() { close(t.reqs) })
}

// The raw requests. They must run on the tracer thread.

func ptrace(req, tid int, addr, data uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// getRegs reads the general registers of a stopped tracee with
// PTRACE_GETREGSET NT_PRSTATUS: every architecture has it (arm64 and
// riscv64 have no PTRACE_GETREGS), and on every supported one its layout
// starts like unix.PtraceRegs. A kernel regset shorter than the struct
// leaves the rest zero.
func getRegs(tid int, r *unix.PtraceRegs) error {
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(r))}
	iov.SetLen(int(unsafe.Sizeof(*r)))
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(tid),
		uintptr(unix.NT_PRSTATUS), uintptr(unsafe.Pointer(&iov)), 0, 0)
	runtime.KeepAlive(r)
	if e != 0 {
		return e
	}
	return nil
}

// setRegs is the inverse of getRegs (used by syscall injection).
func setRegs(tid int, r *unix.PtraceRegs) error {
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(r))}
	iov.SetLen(int(unsafe.Sizeof(*r)))
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(tid),
		uintptr(unix.NT_PRSTATUS), uintptr(unsafe.Pointer(&iov)), 0, 0)
	runtime.KeepAlive(r)
	if e != 0 {
		return e
	}
	return nil
}

func eventMsg(tid int) (uint64, error) {
	var msg uint64 // unsigned long on every 64-bit arch
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETEVENTMSG, uintptr(tid), 0,
		uintptr(unsafe.Pointer(&msg)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return msg, nil
}
