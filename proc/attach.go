package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// Session holds every thread of a process under ptrace, so that taiji can
// read and change registers and memory, plant breakpoints, run the threads
// and make them run system calls. Between calls every thread is stopped
// (all-stop, see Continue). Detach puts everything back: registers, code,
// memory taiji mapped, and signals that arrived meanwhile.
//
// The session is split by concern: attaching, threads and registers here;
// memory and breakpoints in breakpoint.go; run control (Continue, Step, the
// one wait loop) in run.go; system call injection in inject.go.
//
// A Session is not safe for concurrent use. If taiji dies while holding
// one, the kernel detaches the threads, which resume; see docs/inject.md
// for what a SIGKILL in the middle of an injection leaves behind.
type Session struct {
	Pid  int
	Arch *arch.Arch

	t       *Tracer
	f       *freezer
	ctx     context.Context // interrupts attaching and blocking injections
	mem     *os.File        // /proc/PID/mem, read-write: writes reach read-only text
	threads map[int]*sthread
	order   []int
	bps     map[uint64]*Breakpoint

	// pending holds the stops seen while all threads were being stopped,
	// beyond the one reported: Continue returns them one by one before it
	// resumes anything.
	pending []Stop
	// follow holds stops that must come right after the one being
	// reported (a thread's exit seen before its creation).
	follow []Stop
	// early holds the exits of threads whose creation was not reported
	// yet, by TID.
	early map[int]Stop
	// exited is set once the process's exit was reaped.
	exited bool
	// lifted is set while the breakpoints' traps are out of the code
	// (Rest): bps still lists them, and the next resume plants them.
	lifted bool

	scratch uint64   // the stub page in the target (0: not mapped yet)
	bare    bool     // plant the bare "syscall; trap" stub (no room for more)
	stale   []uint64 // stub pages of killed taijis, unmapped on Detach
	page    uint64
	// Injections counts the system calls run so far.
	Injections int
	detached   bool
	cleaning   bool // in Detach: injections are not interruptible
}

// sthread is a thread of the session.
type sthread struct {
	ts *tstate
	// resume holds the registers the thread continues with: those read at
	// its stop with any interrupted system call's restart already applied,
	// as the kernel would have. Nil until taiji needs them (first Regs,
	// SetRegs or Syscall), and again each time the thread runs.
	resume *unix.PtraceRegs
	// dying, when set, is what the stub restores if taiji dies during an
	// injection, where that must differ from resume (see probeRestart).
	dying *unix.PtraceRegs
	// extra holds signals that arrived during injections beyond the one
	// ts.sig carries back on the next resume or on detach.
	extra []syscall.Signal
	// stepping is set while the thread runs one step; softNext holds the
	// addresses of the step's temporary traps where the kernel cannot step.
	stepping bool
	softNext []uint64
	// intoHandler is set while a software step delivers a signal: taiji's
	// interrupt, queued before the resume, stops the thread at the
	// handler's first instruction (see step1).
	intoHandler bool
	// sigStop is set while the thread is in a signal-delivery stop, the
	// only stop from which a resume can deliver a signal.
	sigStop bool
	// announced is set once the thread's creation was reported (or it
	// was there at attach).
	announced bool
	// hitAt is the breakpoint the thread's last stop reported it hit.
	hitAt uint64
	// zombie marks a leader that called pthread_exit: it takes no more
	// stops, and its exit is reported only when the whole process ends.
	zombie bool
}

// Attach stops every thread of pid (including threads created while it
// attaches) and holds them until Detach. ctx interrupts the attach and,
// for the session's life, an injected system call that blocks (Syscall):
// the caller decides what interrupts taiji (the command line cancels it on
// SIGINT and SIGTERM); proc installs no signal handler. Errors wrap
// ErrNoProcess, ErrKernelThread, ErrZombie, ErrPermission, ErrTraced,
// ErrExited or ErrInterrupted. A thread that does not stop within 5 s is
// left out: Call on it returns its *NotStoppedError.
func Attach(ctx context.Context, pid int) (*Session, error) {
	if pid <= 0 {
		return nil, noProcess(pid)
	}
	if pid == os.Getpid() {
		return nil, &Error{Msg: fmt.Sprintf("PID %d is taiji itself: it cannot trace itself", pid), Err: ErrPermission}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	s := &Session{Pid: pid, Arch: arch.Host(), ctx: ctx,
		threads: map[int]*sthread{}, bps: map[uint64]*Breakpoint{}, early: map[int]Stop{}, page: uint64(os.Getpagesize())}
	s.t = NewTracer()
	s.f = &freezer{t: s.t, pid: pid, opts: FreezeOptions{Timeout: 5 * time.Second}, ctx: ctx, seen: map[int]*tstate{}}
	var err error
	s.t.Do(func() {
		defer func() {
			if err != nil {
				s.f.detachAll()
			}
		}()
		err = s.attach()
	})
	if err != nil {
		s.t.Close()
		return nil, err
	}
	s.mem, err = os.OpenFile(procPath(pid, "mem"), os.O_RDWR, 0)
	if err != nil {
		s.Detach()
		return nil, fileError(pid, err)
	}
	return s, nil
}

func (s *Session) attach() error {
	f := s.f
	if err := NotUser(s.Pid); err != nil {
		return err
	}
	if err := ForeignABI(s.Pid); err != nil {
		return err
	}
	tids, err := Tasks(s.Pid)
	if err != nil {
		return err
	}
	if err := f.attachAll(tids, "attaching to"); err != nil {
		return err
	}
	for _, ts := range f.order {
		if ts.stopped && !ts.foreign {
			s.addThread(ts).announced = true
		}
	}
	if len(s.threads) == 0 {
		return exited(s.Pid)
	}
	return nil
}

// addThread makes ts a thread of the session and sets the options run
// control needs: clone events (threads born while running are traced too)
// and syscall stops told apart from SIGTRAP.
func (s *Session) addThread(ts *tstate) *sthread {
	th := &sthread{ts: ts}
	tid := ts.th.TID
	s.threads[tid] = th
	s.order = append(s.order, tid)
	if ts.stopped {
		ptrace(unix.PTRACE_SETOPTIONS, tid, 0, unix.PTRACE_O_TRACECLONE|unix.PTRACE_O_TRACESYSGOOD)
	}
	return th
}

// dropThread removes a thread that exited.
func (s *Session) dropThread(tid int) {
	for i, t := range s.order {
		if t == tid {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
	delete(s.threads, tid)
}

// Threads returns the IDs of the stopped threads, the leader first.
func (s *Session) Threads() []int { return append([]int(nil), s.order...) }

func (s *Session) thread(tid int) (*sthread, error) {
	if s.detached {
		return nil, errors.New("proc: session already detached")
	}
	th := s.threads[tid]
	if ts := s.f.seen[tid]; th == nil && ts != nil && ts.th.Err != nil {
		return nil, ts.th.Err // it never stopped, or exited: say which
	}
	if th == nil || !th.ts.stopped {
		return nil, &Error{Msg: fmt.Sprintf("thread %d of PID %d is not stopped by this session", tid, s.Pid), Err: ErrNoProcess}
	}
	return th, nil
}

// resumeRegs returns (computing it on first use) the register file th will
// continue with. Must run on the tracer thread.
func (s *Session) resumeRegs(th *sthread) (*unix.PtraceRegs, error) {
	if th.resume != nil {
		return th.resume, nil
	}
	tid := th.ts.th.TID
	var r unix.PtraceRegs
	if err := getRegs(tid, &r); err != nil {
		return nil, s.threadErr(tid, "reading registers", err)
	}
	fixed, probe := replayRestart(s.Arch, tid, &r)
	if !probe {
		th.dying = dyingRegs(&r, &fixed)
	} else {
		var err error
		if fixed, err = s.probeRestart(th, &r); err != nil {
			return nil, err
		}
	}
	th.resume = &fixed
	return th.resume, nil
}

// Regs returns the registers of a stopped thread as it will resume: if it
// was interrupted in a restartable system call, the PC is back on the
// system call instruction, as the kernel would have put it.
func (s *Session) Regs(tid int) (arch.Regs, error) {
	th, err := s.thread(tid)
	if err != nil {
		return arch.Regs{}, err
	}
	var a arch.Regs
	s.t.Do(func() {
		var r *unix.PtraceRegs
		if r, err = s.resumeRegs(th); err == nil {
			a = regsToArch(r)
		}
	})
	return a, err
}

// SetRegs changes the registers of a stopped thread: the known registers of
// a and its PC; the others keep their values.
func (s *Session) SetRegs(tid int, a arch.Regs) error {
	th, err := s.thread(tid)
	if err != nil {
		return err
	}
	s.t.Do(func() {
		var r *unix.PtraceRegs
		if r, err = s.resumeRegs(th); err != nil {
			return
		}
		archToRegs(a, r)
		err = s.setResume(th)
	})
	return err
}

// setResume writes th.resume into the thread, marked as not in a system
// call so the kernel's restart logic leaves it alone.
func (s *Session) setResume(th *sthread) error {
	r := *th.resume
	tid := th.ts.th.TID
	if err := setRegs(tid, &r); err != nil {
		return s.threadErr(tid, "writing registers", err)
	}
	if err := suppressRestart(tid, &r); err != nil {
		return s.threadErr(tid, "cancelling the system call restart", err)
	}
	return nil
}

// gone reports a thread that vanished while running for the session.
func (s *Session) gone(tid int) error {
	if _, err := os.Stat(procPath(s.Pid, "stat")); err != nil {
		return &Error{Msg: fmt.Sprintf("PID %d exited while taiji ran it", s.Pid), Err: ErrExited}
	}
	return &Error{Msg: fmt.Sprintf("thread %d of PID %d exited while taiji ran it", tid, s.Pid), Err: ErrExited}
}

func (s *Session) keepSignal(th *sthread, sig syscall.Signal) {
	if th.ts.sig == 0 {
		th.ts.sig = sig
		th.ts.th.Signal = int(sig)
		return
	}
	th.extra = append(th.extra, sig)
}

func (s *Session) threadErr(tid int, what string, err error) error {
	if errors.Is(err, unix.ESRCH) {
		return s.gone(tid)
	}
	return fmt.Errorf("proc: thread %d of PID %d: %s: %w", tid, s.Pid, what, err)
}

// Detach stops any thread still running (after an error), unmaps taiji's
// stub page, removes every breakpoint, and resumes every thread with its
// registers as they were (system calls interrupted by the attach restart)
// and the signals that arrived meanwhile. A breakpoint trap a thread took
// but has not reported yet is consumed first, so no thread is left to die
// of a SIGTRAP once the trap is gone. It returns the first error but
// always resumes every thread it can. After the process exited it only
// releases the session.
func (s *Session) Detach() error {
	if s.detached {
		return nil
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	s.t.Do(func() {
		if s.exited {
			return
		}
		// Putting things back is not interruptible: an interruption has
		// usually brought taiji here.
		s.cleaning = true
		keep(s.stopAll())
		if len(s.bps) > 0 {
			keep(s.drainTraps())
		}
		if s.scratch != 0 {
			// Unmapping the page that holds the running stub would leave
			// nothing to return to if taiji died right then: run munmap
			// from the patch area instead.
			if th := s.anyThread(); th != nil {
				nr, _ := s.Arch.SyscallNumber("munmap")
				for _, page := range append([]uint64{s.scratch}, s.stale...) {
					res, err := s.withPatchArea(func(at uint64) (Result, error) {
						return s.inject(th, at, nr, []uint64{page, s.page})
					})
					if err == nil && res.Errno != 0 {
						err = fmt.Errorf("proc: unmapping taiji's stub page in PID %d failed: %s", s.Pid, s.Arch.ErrnoName(res.Errno))
					}
					keep(err)
				}
			}
			s.scratch, s.stale = 0, nil
		}
		for addr, bp := range s.bps {
			keep(s.writeRaw(addr, bp.Orig))
			delete(s.bps, addr)
		}
		// Threads whose registers taiji read get them back with the
		// restart applied and the kernel's own restart cancelled.
		for _, tid := range s.order {
			th := s.threads[tid]
			if th.resume != nil && th.ts.stopped {
				keep(s.setResume(th))
			}
		}
		s.f.detachAll()
		for _, tid := range s.order {
			for _, sig := range s.threads[tid].extra {
				unix.Tgkill(s.Pid, tid, sig)
			}
		}
	})
	s.detached = true
	if s.mem != nil {
		s.mem.Close()
	}
	s.t.Close()
	return first
}

// Kill ends the process with SIGKILL, and the session: nothing is put
// back, since nothing of the process will run again. Detach would stop
// every thread and wait for breakpoint traps first, which a dying
// process may never report. The tracer thread ends, which detaches what
// the kernel has not reaped yet; the process's parent reaps it.
func (s *Session) Kill() error {
	if s.detached {
		return nil
	}
	var err error
	if !s.exited {
		err = unix.Kill(s.Pid, unix.SIGKILL)
	}
	s.detached = true
	if s.mem != nil {
		s.mem.Close()
	}
	s.t.Close()
	return err
}

func (s *Session) anyThread() *sthread {
	for _, tid := range s.order {
		if th := s.threads[tid]; th.ts.stopped {
			return th
		}
	}
	return nil
}

// OnTracer runs f on the session's tracer thread and waits for it. The
// session's calls inside f then run directly, without the hand-off to
// that thread each one otherwise makes (a channel send and two thread
// wake-ups, tens of microseconds): a debugger's loop that resumes the
// process and evaluates a breakpoint condition thousands of times a
// second runs its whole loop there. f must not wait for another
// goroutine that uses the session.
func (s *Session) OnTracer(f func()) { s.t.Do(f) }

// Interrupted reports whether the context given to Attach was cancelled
// during the session.
func (s *Session) Interrupted() bool { return s.ctx.Err() != nil || s.f.interrupted() }
