package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Run control is all-stop, as in gdb and delve: between calls every thread
// of the session is stopped; Continue resumes them all, waits for the first
// stop worth reporting and stops the others before it returns. Stops seen
// while stopping the others (several threads hitting breakpoints at once,
// a signal that raced the interrupt) are kept and returned one by one by
// the following Continues, which resume nothing until none is left.

// StopReason says why a thread, and with it the session, stopped.
type StopReason int

const (
	// StopBreakpoint: a thread executed a session breakpoint. Its PC has
	// been moved back onto the breakpoint's address (Stop.Breakpoint).
	StopBreakpoint StopReason = iota + 1
	// StopStep: Step ran one instruction of the thread.
	StopStep
	// StopSignal: a signal is about to be delivered to the thread
	// (Stop.Signal, Stop.Siginfo). The next resume of that thread
	// delivers it, unless SetSignal changes or discards it.
	StopSignal
	// StopThreadCreated: thread TID created thread NewTID, which is part
	// of the session from now on, stopped like the others.
	StopThreadCreated
	// StopThreadExited: thread TID exited (Status, or Signal if killed).
	StopThreadExited
	// StopExited: the process exited with Status, or was killed by
	// Signal. The session has nothing left to run; Detach releases it.
	StopExited
	// StopInterrupted: the context given to Continue or Step was
	// cancelled; every thread is stopped.
	StopInterrupted
)

var stopNames = [...]string{StopBreakpoint: "breakpoint", StopStep: "step", StopSignal: "signal",
	StopThreadCreated: "thread-created", StopThreadExited: "thread-exited", StopExited: "exited",
	StopInterrupted: "interrupted"}

func (r StopReason) String() string {
	if r > 0 && int(r) < len(stopNames) {
		return stopNames[r]
	}
	return "StopReason(" + strconv.Itoa(int(r)) + ")"
}

// Stop is one stop of the session: the reason, the thread it concerns and
// what the reason carries.
type Stop struct {
	Reason StopReason
	TID    int    // the thread that stopped; the leader for StopExited, 0 for StopInterrupted
	PC     uint64 // the thread's PC as it will resume (not set for exits)
	// Breakpoint is the address of the breakpoint hit (StopBreakpoint).
	Breakpoint uint64
	// Signal is the signal about to be delivered (StopSignal) or the one
	// that killed the thread or process (StopThreadExited, StopExited).
	Signal  syscall.Signal
	Siginfo *Siginfo // StopSignal
	NewTID  int      // StopThreadCreated
	Status  int      // exit status (StopThreadExited, StopExited)

	intoHandler bool // a software step's stop where its signal led (step1)
}

// Siginfo is what the kernel says of a signal (siginfo_t, sigaction(2)).
type Siginfo struct {
	Signo syscall.Signal
	// Code is si_code: > 0 when the kernel raised the signal (a fault, a
	// trap: SEGV_MAPERR 1, TRAP_BRKPT 1, TRAP_TRACE 2, SI_KERNEL 0x80),
	// <= 0 when a process sent it (SI_USER 0, SI_QUEUE -1, SI_TKILL -6).
	Code  int
	Errno int
	// Addr is si_addr, the faulting address of SIGSEGV, SIGBUS, SIGILL,
	// SIGFPE and SIGTRAP raised by the kernel.
	Addr uint64
	// Pid and UID are the sender of a signal a process sent.
	Pid, UID int
}

// The si_code values run control tells apart (include/uapi/asm-generic/siginfo.h).
const (
	siKernel  = 0x80
	trapTrace = 2
)

// Continue resumes every thread and returns the first stop: a breakpoint
// hit, a signal, a thread created or exited, the process's exit, or
// StopInterrupted when ctx is cancelled (nil: never). Every thread is
// stopped again when it returns, except after StopExited. A thread that
// sits on a breakpoint is first stepped over it alone, the others stopped,
// and the trap put back (on an arch that cannot step, see Step, a thread
// that has not hit it runs into it, and one that has makes Continue fail
// with ErrNotSupported). Stops collected while stopping the other
// threads are returned by the next calls without resuming anything; one of
// a breakpoint cleared meanwhile is dropped. Signals reported are delivered
// when their thread resumes.
func (s *Session) Continue(ctx context.Context) (Stop, error) {
	if s.exited && !s.detached {
		// The exit, reaped while an error ended the call before (a
		// thread killed by exit_group while stepped over a breakpoint),
		// is still to be reported.
		if st, ok := s.popPending(); ok {
			return st, nil
		}
	}
	if s.detached || s.exited {
		return Stop{}, s.over()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var (
		st  Stop
		err error
	)
	s.t.Do(func() { st, err = s.cont(ctx) })
	return st, err
}

func (s *Session) cont(ctx context.Context) (Stop, error) {
	if st, ok := s.popPending(); ok {
		return st, nil
	}
	if ctx.Err() != nil {
		return Stop{Reason: StopInterrupted}, nil
	}
	if err := s.plant(); err != nil {
		return Stop{}, err
	}
	// Off the breakpoints first, one thread at a time, the others stopped.
	for _, tid := range s.Threads() {
		th := s.threads[tid]
		if th == nil || !th.ts.stopped || th.zombie {
			continue
		}
		pc, err := s.pc(th)
		if err != nil || s.bps[pc] == nil {
			continue // an error: it is dying, and its exit is reported below
		}
		if !s.canStep() && th.hitAt != pc {
			// Without single-step only a thread that has not hit this
			// breakpoint can resume: it runs into the trap, a hit.
			continue
		}
		st, err := s.stepOver(ctx, th, pc)
		if err != nil || st.Reason != StopStep {
			// Something else happened (a signal arrived, the thread
			// exited, ctx was cancelled): report it, nothing else ran.
			return st, err
		}
	}
	for _, tid := range s.order {
		if err := s.resume(s.threads[tid], unix.PTRACE_CONT); err != nil {
			return Stop{}, errors.Join(err, s.stopAll())
		}
	}
	if err := s.run(ctx); err != nil {
		return Stop{}, err
	}
	st, _ := s.popPending()
	return st, nil
}

// Step runs one instruction of thread tid, the others stopped, and returns
// StopStep with the new PC, or what stopped the thread instead: a signal
// arriving before the instruction ran (stepping again delivers it, and
// the thread stops at the handler's first instruction), the thread's exit,
// a thread it created, StopInterrupted. From a breakpoint's address it runs
// the instruction the breakpoint replaced. Where the kernel has no
// PTRACE_SINGLESTEP, traps planted at the next PCs (arch.SyscallABI.NextPCs,
// mips64le and riscv64) stand in; a branch and its delay slot are one step
// on mips64le. Arches with neither (loong64) return an error wrapping
// ErrNotSupported.
func (s *Session) Step(ctx context.Context, tid int) (Stop, error) {
	if !s.canStep() {
		return Stop{}, &Error{Msg: fmt.Sprintf("single-step is not available on %s", s.Arch.Name), Err: ErrNotSupported}
	}
	th, err := s.thread(tid)
	if err != nil {
		return Stop{}, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var st Stop
	s.t.Do(func() {
		var pc uint64
		if pc, err = s.pc(th); err != nil {
			return
		}
		if err = s.plant(); err != nil {
			return
		}
		if s.bps[pc] != nil {
			st, err = s.stepOver(ctx, th, pc)
		} else {
			st, err = s.step1(ctx, th)
		}
	})
	return st, err
}

// SetSignal changes the signal thread tid receives when it next resumes:
// 0 discards the one a StopSignal reported (a debugger's "handle nopass").
func (s *Session) SetSignal(tid int, sig syscall.Signal) error {
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	th.ts.sig, th.ts.th.Signal = sig, int(sig)
	return nil
}

// pc returns the PC th resumes at.
func (s *Session) pc(th *sthread) (uint64, error) {
	if th.resume != nil {
		return regsToArch(th.resume).PC, nil
	}
	var r unix.PtraceRegs
	if err := getRegs(th.ts.th.TID, &r); err != nil {
		return 0, s.threadErr(th.ts.th.TID, "reading registers", err)
	}
	return regsToArch(&r).PC, nil
}

// stepOver runs the instruction under the breakpoint at pc in th alone:
// the original bytes go back for the one step, then the trap.
func (s *Session) stepOver(ctx context.Context, th *sthread, pc uint64) (Stop, error) {
	if !s.canStep() {
		return Stop{}, &Error{Msg: fmt.Sprintf("thread %d sits on the breakpoint at %#x: stepping over it needs single-step, which %s lacks", th.ts.th.TID, pc, s.Arch.Name), Err: ErrNotSupported}
	}
	bp := s.bps[pc]
	if err := s.writeRaw(pc, bp.Orig); err != nil {
		return Stop{}, err
	}
	st, err := s.step1(ctx, th)
	if !s.exited {
		if werr := s.writeRaw(pc, s.Arch.Syscall.Trap); werr != nil && err == nil {
			err = werr
		}
	}
	return st, err
}

// canStep reports whether threads can be single-stepped: by the kernel,
// or by traps at the next PCs (arch.SyscallABI.NextPCs).
func (s *Session) canStep() bool {
	return s.Arch.Syscall.SingleStep || s.Arch.Syscall.NextPCs != nil
}

// step1 single-steps th, the others stopped, until it reports something.
// Where the kernel cannot, it plants temporary traps at every address the
// instruction (with its delay slot) can lead to, lets th alone run into
// one, and removes them.
func (s *Session) step1(ctx context.Context, th *sthread) (Stop, error) {
	pc, err := s.pc(th)
	if err != nil {
		return Stop{}, err
	}
	st, err := s.step1Once(ctx, th)
	if err == nil && st.Reason == StopStep && st.PC == pc && st.intoHandler {
		// The signal ran no handler (ignored, or a stop signal's
		// group stop): the instruction is still to run.
		st, err = s.step1Once(ctx, th)
	}
	st.intoHandler = false
	return st, err
}

// step1Once is one try of step1.
func (s *Session) step1Once(ctx context.Context, th *sthread) (Stop, error) {
	tid := th.ts.th.TID
	req := unix.PTRACE_SINGLESTEP
	if !s.Arch.Syscall.SingleStep {
		req = unix.PTRACE_CONT
		next, err := s.nextPCs(th)
		if err != nil {
			return Stop{}, err
		}
		var planted []uint64
		defer func() {
			for _, a := range planted {
				s.removeBP(a)
			}
			th.softNext, th.intoHandler = nil, false
		}()
		for _, a := range next {
			if err := s.insertBP(a); err != nil {
				return Stop{}, fmt.Errorf("proc: stepping thread %d: %w", tid, err)
			}
			planted = append(planted, a)
		}
		th.softNext = next
		if sig := th.ts.sig; sig != 0 && sig != syscall.SIGSTOP && sig != syscall.SIGKILL && th.sigStop {
			// The resume delivers a signal: its handler would run to
			// its end unseen, since no trap is planted there. A
			// PTRACE_INTERRUPT queued now is taken as the thread
			// returns to user space, after the kernel has built the
			// signal frame: it stops at the handler's first
			// instruction, as a hardware step does (the interrupt's
			// trap is checked before the next signal is dequeued, so
			// the handler's blocked mask cannot hold it back).
			if err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0); err == nil {
				th.intoHandler = true
			}
		}
	}
	if err := s.resume(th, req); err != nil {
		return Stop{}, err
	}
	th.stepping = true
	for {
		wtid, ws, err := s.waitStatus(ctx, tid, time.Time{})
		if errors.Is(err, errCancelled) {
			if err := s.stopAll(); err != nil {
				return Stop{}, err
			}
			return Stop{Reason: StopInterrupted}, nil
		}
		if err != nil {
			return Stop{}, err
		}
		st, report := s.handle(wtid, ws)
		if report {
			s.pending = append(s.follow, s.pending...)
			s.follow = nil
			// A thread it created must stop too.
			return st, s.stopAll()
		}
		if th.ts.stopped {
			if err := s.resume(th, req); err != nil {
				return Stop{}, err
			}
			th.stepping = true
		}
	}
}

// nextPCs decodes the instruction th is about to run (the original bytes,
// under any breakpoint) and returns where it can lead.
func (s *Session) nextPCs(th *sthread) ([]uint64, error) {
	var r unix.PtraceRegs
	if th.resume != nil {
		r = *th.resume
	} else if err := getRegs(th.ts.th.TID, &r); err != nil {
		return nil, s.threadErr(th.ts.th.TID, "reading registers", err)
	}
	a := regsToArch(&r)
	b := make([]byte, 4)
	if err := s.ReadMemory(a.PC, b); err != nil {
		return nil, err
	}
	reg := func(n int) uint64 { v, _ := a.Get(n); return v }
	var out []uint64
	for _, pc := range s.Arch.Syscall.NextPCs(s.Arch.ByteOrder.Uint32(b), a.PC, reg) {
		if pc != a.PC { // a branch to itself: the trap would stop it before it ran
			out = append(out, pc)
		}
	}
	return out, nil
}

// resume lets a stopped thread run with ptrace request req, delivering the
// signal it keeps and writing back the registers taiji changed.
func (s *Session) resume(th *sthread, req int) error {
	if th == nil || !th.ts.stopped || th.zombie {
		return nil
	}
	tid := th.ts.th.TID
	if th.resume != nil {
		if err := s.setResume(th); err != nil {
			return err
		}
	}
	for _, sig := range th.extra {
		unix.Tgkill(s.Pid, tid, sig)
	}
	th.extra = nil
	sig := th.ts.sig
	if sig != 0 && !th.sigStop {
		// Only a signal-delivery stop takes a signal with the resume;
		// from any other stop the kernel would drop it: send it again.
		unix.Tgkill(s.Pid, tid, sig)
		sig = 0
	}
	if err := ptrace(req, tid, 0, uintptr(sig)); err != nil {
		if errors.Is(err, unix.ESRCH) {
			// Killed while stopped: it runs to its exit, which the
			// wait reports.
			th.ts.stopped = false
			return nil
		}
		return s.threadErr(tid, "resuming", err)
	}
	th.ts.sig, th.ts.th.Signal = 0, 0
	th.ts.stopped = false
	th.resume, th.dying = nil, nil
	th.stepping = req == unix.PTRACE_SINGLESTEP
	th.hitAt = 0
	return nil
}

// run waits, every thread running, for the first stop worth reporting,
// queues it and stops the other threads.
func (s *Session) run(ctx context.Context) error {
	for {
		tid, ws, err := s.waitStatus(ctx, -1, time.Time{})
		if errors.Is(err, errCancelled) {
			s.pending = append([]Stop{{Reason: StopInterrupted}}, s.pending...)
			return s.stopAll()
		}
		if err != nil {
			return errors.Join(err, s.stopAll())
		}
		st, report := s.handle(tid, ws)
		if report {
			s.queue(st)
			return s.stopAll()
		}
		// Nothing to report (a new thread's first stop, a group stop):
		// let the thread go on.
		if th := s.threads[tid]; th != nil && th.ts.stopped {
			if err := s.resume(th, unix.PTRACE_CONT); err != nil && !errors.Is(err, ErrExited) {
				return errors.Join(err, s.stopAll())
			}
		}
	}
}

// stopAll interrupts every running thread and collects the stops, queueing
// those worth reporting. A thread still running after 5 s (in an
// uninterruptible sleep) makes it fail.
func (s *Session) stopAll() error {
	for _, tid := range s.order {
		th := s.threads[tid]
		if th.ts.stopped || th.ts.done || th.zombie {
			continue
		}
		if err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0); errors.Is(err, unix.ESRCH) {
			s.checkZombie(th)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.running() > 0 {
		until := time.Now().Add(100 * time.Millisecond)
		if until.After(deadline) {
			until = deadline
		}
		tid, ws, err := s.waitStatus(nil, -1, until)
		if errors.Is(err, errTimeout) {
			// A leader that called pthread_exit never stops again.
			for _, tid := range s.order {
				if th := s.threads[tid]; !th.ts.stopped && !th.ts.done {
					s.checkZombie(th)
				}
			}
			if time.Now().Before(deadline) {
				continue
			}
			var late []string
			for _, tid := range s.order {
				if th := s.threads[tid]; !th.ts.stopped && !th.ts.done && !th.zombie {
					late = append(late, strconv.Itoa(tid))
				}
			}
			return fmt.Errorf("proc: PID %d: threads %s did not stop within 5 s", s.Pid, strings.Join(late, ", "))
		}
		if err != nil {
			return err
		}
		if st, report := s.handle(tid, ws); report {
			s.queue(st)
		}
	}
	return nil
}

// running counts the session's threads that run.
func (s *Session) running() int {
	n := 0
	for _, tid := range s.order {
		if th := s.threads[tid]; !th.ts.stopped && !th.ts.done && !th.zombie {
			n++
		}
	}
	return n
}

// checkZombie marks a thread that is a zombie: a leader that called
// pthread_exit, whose exit is reported only with the whole process's.
func (s *Session) checkZombie(th *sthread) {
	if info, err := Task(s.Pid, th.ts.th.TID); err == nil && (info.State == "Z" || info.State == "X") {
		th.zombie = true
	}
}

// queue keeps a stop for Continue. The process's exit replaces every other.
func (s *Session) queue(st Stop) {
	if st.Reason == StopExited {
		s.pending, s.follow = []Stop{st}, nil
		return
	}
	s.pending = append(append(s.pending, st), s.follow...)
	s.follow = nil
}

// popPending returns the next queued stop still worth reporting.
func (s *Session) popPending() (Stop, bool) {
	for len(s.pending) > 0 {
		st := s.pending[0]
		s.pending = s.pending[1:]
		if st.Reason == StopBreakpoint && s.bps[st.Breakpoint] == nil {
			continue // cleared since: the thread runs the original instruction
		}
		return st, true
	}
	return Stop{}, false
}

// handle takes one wait status of a traced thread during run control,
// updates the thread's state and says whether it is worth reporting. A
// thread that stopped stays stopped; the caller resumes it or not.
func (s *Session) handle(tid int, ws unix.WaitStatus) (Stop, bool) {
	th := s.threads[tid]
	if th == nil {
		if th = s.adopt(tid, ws); th == nil {
			return Stop{}, false
		}
	}
	ts := th.ts
	if ws.Exited() || ws.Signaled() {
		ts.stopped, ts.done = false, true
		ts.th.Err = threadExited(tid)
		st := Stop{Reason: StopThreadExited, TID: tid}
		if ws.Exited() {
			st.Status = ws.ExitStatus()
		} else {
			st.Signal = ws.Signal()
		}
		if tid != s.Pid && !th.announced {
			// Gone before its creator's clone event: reported with it.
			s.dropThread(tid)
			s.early[tid] = st
			return Stop{}, false
		}
		if tid == s.Pid {
			// The leader's exit is reported last, after every other
			// thread's: the process is gone.
			s.exited = true
			st.Reason = StopExited
			for _, th := range s.threads {
				th.ts.stopped, th.ts.done = false, true
			}
			s.order = nil
			return st, true
		}
		s.dropThread(tid)
		return st, true
	}
	if !ws.Stopped() {
		return Stop{}, false
	}
	ts.stopped = true
	ts.stopAt = time.Now()
	stepping := th.stepping
	th.stepping, th.sigStop = false, false
	sig := ws.StopSignal()
	switch event := int(uint32(ws) >> 16); {
	case sig == syscall.SIGTRAP|0x80:
		return Stop{}, false // a syscall stop: run control does not ask for them
	case event == unix.PTRACE_EVENT_CLONE:
		msg, err := eventMsg(tid)
		if err != nil {
			return Stop{}, false
		}
		id := int(msg)
		pc, _ := s.pc(th)
		created := Stop{Reason: StopThreadCreated, TID: tid, NewTID: id, PC: pc}
		if exit, ok := s.early[id]; ok {
			delete(s.early, id)
			s.follow = append(s.follow, exit)
			return created, true
		}
		child := s.newChild(id)
		if child == nil {
			return Stop{}, false // a process, not a thread: let it go
		}
		child.announced = true
		return created, true
	case event != 0:
		if stepping && th.intoHandler {
			// The interrupt step1 queued with a signal: the step ends
			// where the signal led (its handler's first instruction).
			th.intoHandler = false
			pc, err := s.pc(th)
			if err != nil {
				return Stop{}, false
			}
			return Stop{Reason: StopStep, TID: tid, PC: pc, intoHandler: true}, true
		}
		// PTRACE_EVENT_STOP: taiji's interrupt, a new thread's first stop
		// or a group stop (which resuming ends, as in gdb).
		return Stop{}, false
	}
	// A signal-delivery stop.
	th.sigStop = true
	info := siginfo(tid)
	var r unix.PtraceRegs
	if err := getRegs(tid, &r); err != nil {
		return Stop{}, false
	}
	a := regsToArch(&r)
	if sig == syscall.SIGTRAP && (info != nil && info.Code > 0 || len(th.softNext) > 0) {
		bp := a.PC - uint64(s.Arch.Syscall.TrapPC)
		switch {
		case stepping && info != nil && info.Code == s.Arch.Syscall.StepTrapCode(trapTrace):
			return Stop{Reason: StopStep, TID: tid, PC: a.PC}, true
		case slices.Contains(th.softNext, bp):
			// A SIGTRAP on one of the step's traps while the step
			// lasts (softNext is set only then) is the step's, even
			// with stepping or a positive si_code missing: without
			// this, the first stepi from a breakpoint on mips64le
			// was at times reported as a plain SIGTRAP there and
			// stepped again (TestDebugInVM/c-lines).
			// One of the step's own traps: the PC goes back onto it.
			if a.PC != bp {
				a.PC = bp
				archToRegs(a, &r)
				if err := setRegs(tid, &r); err != nil {
					return Stop{}, false
				}
			}
			return Stop{Reason: StopStep, TID: tid, PC: bp}, true
		case s.bps[bp] != nil:
			// The trap's SIGTRAP is taiji's: not delivered. The PC goes
			// back onto the breakpoint, where the original instruction
			// runs when the thread is stepped over it.
			if a.PC != bp {
				a.PC = bp
				archToRegs(a, &r)
				if err := setRegs(tid, &r); err != nil {
					return Stop{}, false
				}
			}
			th.hitAt = bp
			return Stop{Reason: StopBreakpoint, TID: tid, PC: bp, Breakpoint: bp}, true
		case stepping:
			return Stop{Reason: StopStep, TID: tid, PC: a.PC}, true
		}
	}
	s.keepSignal(th, sig)
	return Stop{Reason: StopSignal, TID: tid, PC: a.PC, Signal: sig, Siginfo: info}, true
}

// adopt makes a thread of the session of one that stopped unannounced: a
// new thread whose first stop came before its creator's clone event, or
// one that was late to stop when the session attached. A process cloned
// off a thread is let go. It returns nil for threads it does not keep.
func (s *Session) adopt(tid int, ws unix.WaitStatus) *sthread {
	ts := s.f.seen[tid]
	if ts == nil && (ws.Exited() || ws.Signaled()) {
		// Born and gone before its creator's clone event.
		ts = s.f.add(tid, true)
		ts.done = true
		st := Stop{Reason: StopThreadExited, TID: tid, Status: ws.ExitStatus()}
		if ws.Signaled() {
			st.Status, st.Signal = 0, ws.Signal()
		}
		s.early[tid] = st
		return nil
	}
	if ts == nil {
		if s.newChild(tid) == nil {
			ts = s.f.seen[tid]
		} else {
			return s.threads[tid]
		}
	}
	if ts.foreign {
		if ws.Stopped() {
			ptrace(unix.PTRACE_DETACH, tid, 0, 0)
		}
		ts.stopped, ts.done = false, true
		return nil
	}
	if ws.Exited() || ws.Signaled() {
		ts.stopped, ts.done = false, true
		return nil
	}
	// Late to stop at attach: it was there all along.
	ts.done, ts.late, ts.th.Err = false, false, nil
	ts.stopped = ws.Stopped()
	th := s.addThread(ts)
	th.announced = true
	return th
}

// newChild records the thread a traced thread cloned; it is traced already
// (PTRACE_O_TRACECLONE) and takes a first stop of its own. It returns nil
// for a clone that is a new process.
func (s *Session) newChild(tid int) *sthread {
	if th := s.threads[tid]; th != nil {
		return th
	}
	ts := s.f.seen[tid]
	if ts == nil {
		ts = s.f.add(tid, true)
		if _, err := os.Stat(taskPath(s.Pid, tid, "stat")); err != nil {
			ts.foreign = true
		}
	}
	if ts.foreign {
		return nil
	}
	ts.done, ts.late, ts.th.Err = false, false, nil
	return s.addThread(ts)
}

// drainTraps consumes the breakpoint traps that stopped threads took but
// have not reported (the trap's SIGTRAP still pending, the thread stopped
// by taiji's interrupt first), so that the breakpoints can go: resumed, a
// thread takes its SIGTRAP at once and stops, and handle moves its PC back.
func (s *Session) drainTraps() error {
	var first error
	for _, tid := range s.Threads() {
		th := s.threads[tid]
		if th == nil || !th.ts.stopped || !trapPending(s.Pid, tid) {
			continue
		}
		pc, err := s.pc(th)
		if err != nil || s.bps[pc-uint64(s.Arch.Syscall.TrapPC)] == nil {
			continue
		}
		// Stepped, it cannot go past the trap even if the SIGTRAP is not
		// the breakpoint's; where there is no single-step, the trap
		// itself stops it.
		req := unix.PTRACE_CONT
		if s.Arch.Syscall.SingleStep {
			req = unix.PTRACE_SINGLESTEP
		}
		// A leftover interrupt may stop it first: a few rounds.
		for round := 0; round < 4 && th.ts.stopped && trapPending(s.Pid, tid); round++ {
			if err := s.resume(th, req); err != nil {
				first = cmpErr(first, err)
				break
			}
			for !th.ts.stopped && !th.ts.done {
				wtid, ws, err := s.waitStatus(nil, tid, time.Now().Add(5*time.Second))
				if err != nil {
					first = cmpErr(first, err)
					break
				}
				// A breakpoint hit is kept for Continue (and dropped if
				// its breakpoint goes); a signal is kept for delivery.
				if st, report := s.handle(wtid, ws); report && st.Reason != StopStep {
					s.queue(st)
				}
			}
		}
	}
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// trapPending reports whether SIGTRAP is pending for thread tid alone
// (SigPnd in /proc/PID/task/TID/status).
func trapPending(pid, tid int) bool {
	b, err := os.ReadFile(taskPath(pid, tid, "status"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "SigPnd:"); ok {
			mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return mask&(1<<(uint(syscall.SIGTRAP)-1)) != 0
		}
	}
	return false
}

// siginfo reads the siginfo of a thread in a signal-delivery stop.
func siginfo(tid int) *Siginfo {
	var raw [128]byte
	if err := ptrace(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(&raw[0]))); err != nil {
		return nil
	}
	// unix.Siginfo has each arch's order of si_code and si_errno (mips
	// swaps them); the union after them starts at byte 16 on 64-bit arches.
	si := (*unix.Siginfo)(unsafe.Pointer(&raw[0]))
	info := &Siginfo{Signo: syscall.Signal(si.Signo), Code: int(si.Code), Errno: int(si.Errno)}
	info.Addr = *(*uint64)(unsafe.Pointer(&raw[16]))
	if info.Code <= 0 {
		info.Pid = int(*(*int32)(unsafe.Pointer(&raw[16])))
		info.UID = int(*(*uint32)(unsafe.Pointer(&raw[20])))
	}
	return info
}

// stopEvent is one wait status of a traced thread, for injection.
type stopEvent struct {
	sig     syscall.Signal
	event   int
	sysStop bool // a syscall-entry or -exit stop (SIGTRAP|0x80)
}

var (
	errCancelled = errors.New("proc: wait cancelled")
	errTimeout   = errors.New("proc: wait timed out")
)

// waitStatus returns the next wait status of thread tid, or of any thread
// this session traces (tid -1): the one wait loop of the session, used by
// run control and injection alike. It fails with errCancelled once ctx is
// done (nil: never) and errTimeout at the deadline (zero: none), both
// checked only when no status is ready.
//
// It polls wait4 with WNOHANG: a blocking wait4 could be woken only by a
// signal handler, and proc leaves signal handling to its caller. __WNOTHREAD
// keeps it to the tracer thread's tracees, so it never reaps a child of
// the rest of the program. A stop normally follows a resume within
// microseconds: it spins with sched_yield for the first 100 µs, then backs
// off from 10 µs up to a millisecond, on this thread (nanosleep rather than
// time.Sleep, whose wake-up through the scheduler takes about a
// millisecond here).
func (s *Session) waitStatus(ctx context.Context, tid int, deadline time.Time) (int, unix.WaitStatus, error) {
	sleep := time.Duration(0)
	start := time.Now()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG|unix.WNOTHREAD, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// ECHILD: nothing (or not tid) is traced any more.
			if tid > 0 {
				return 0, 0, s.gone(tid)
			}
			return 0, 0, &Error{Msg: fmt.Sprintf("PID %d: no thread is traced any more", s.Pid), Err: ErrExited}
		}
		if wpid > 0 {
			return wpid, ws, nil
		}
		if ctx != nil && ctx.Err() != nil {
			return 0, 0, errCancelled
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return 0, 0, errTimeout
		}
		if spun := time.Since(start); spun < 100*time.Microsecond {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			continue
		}
		if sleep == 0 {
			sleep = 10 * time.Microsecond
		}
		ts := unix.NsecToTimespec(int64(sleep))
		unix.Nanosleep(&ts, nil)
		// At most 100 µs between polls for the first 50 ms: a stop that
		// comes late because the machine is loaded (a breakpoint hit, a
		// step) is then seen within 100 µs, where a sleep grown to a
		// millisecond made a conditional breakpoint ten times slower than
		// gdb's blocking wait. Longer waits (a continue to a far
		// breakpoint) poll every millisecond.
		if sleep < 100*time.Microsecond || (sleep < time.Millisecond && time.Since(start) > 50*time.Millisecond) {
			sleep *= 2
		}
	}
}

// waitThread waits for the next stop of a thread resumed for an injection.
// Interruptible, it fails with ErrInterrupted once the session's context
// is cancelled.
func (s *Session) waitThread(th *sthread, interruptible bool) (stopEvent, error) {
	tid := th.ts.th.TID
	var ctx context.Context
	if interruptible && !s.cleaning {
		ctx = s.ctx
	}
	_, ws, err := s.waitStatus(ctx, tid, time.Time{})
	if errors.Is(err, errCancelled) {
		return stopEvent{}, ErrInterrupted
	}
	if err != nil {
		th.ts.done = true
		return stopEvent{}, err
	}
	if ws.Exited() || ws.Signaled() || !ws.Stopped() {
		th.ts.stopped, th.ts.done = false, true
		return stopEvent{}, s.gone(tid)
	}
	th.ts.stopped = true
	sig := ws.StopSignal()
	ev := stopEvent{sig: sig, event: int(uint32(ws) >> 16)}
	th.sigStop = ev.event == 0 && sig != syscall.SIGTRAP|0x80
	if sig == syscall.SIGTRAP|0x80 {
		ev.sig, ev.sysStop = syscall.SIGTRAP, true
	}
	return ev, nil
}
