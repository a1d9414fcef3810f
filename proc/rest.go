package proc

import (
	"time"

	"golang.org/x/sys/unix"
)

// Rest readies a stopped session for a long wait, a debugger's prompt, so
// that a taiji killed then leaves the process nothing to die of. When a
// tracer dies the kernel detaches its tracees and lets them run
// (exit_ptrace in kernel/ptrace.c), and three things would then kill a
// thread with SIGTRAP: a trap still planted in the code, a trap taken but
// not reported yet (its SIGTRAP pending), and a thread held in the
// signal-delivery stop of a trap taiji swallowed, since the kernel
// delivers the signal of that stop when the tracer goes without choosing.
// Rest consumes the pending traps (drainTraps), moves every thread out of
// a swallowed signal's stop into a ptrace event stop (PTRACE_INTERRUPT,
// then resumed with no signal: get_signal takes the interrupt's trap
// before the thread runs an instruction), and lifts every trap out of the
// code. The next Continue or Step plants them again; ReadMemory,
// WriteMemory and breakpoints set meanwhile keep their meaning.
//
// A thread held with a signal it will receive (one a StopSignal reported)
// keeps it: the kernel would deliver it on taiji's death, as the resume
// would. Errors are those of the ptrace requests and memory writes; the
// session stays usable after one.
func (s *Session) Rest() error {
	if s.detached || s.exited {
		return s.over()
	}
	var first error
	s.t.Do(func() {
		if len(s.bps) > 0 {
			first = s.drainTraps()
		}
		for _, tid := range s.Threads() {
			if th := s.threads[tid]; th != nil && th.ts.stopped && th.sigStop && th.ts.sig == 0 && !th.zombie {
				first = cmpErr(first, s.toEventStop(th))
			}
		}
		if !s.lifted {
			for addr, bp := range s.bps {
				first = cmpErr(first, s.writeRaw(addr, bp.Orig))
			}
			s.lifted = true
		}
	})
	return first
}

// toEventStop moves th from a signal-delivery stop whose signal is
// discarded into a PTRACE_EVENT_STOP, without running it. What it stopped
// for (the breakpoint it sits on) is kept.
func (s *Session) toEventStop(th *sthread) error {
	tid := th.ts.th.TID
	hitAt := th.hitAt
	if err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0); err != nil {
		return s.threadErr(tid, "interrupting", err)
	}
	if err := s.resume(th, unix.PTRACE_CONT); err != nil {
		return err
	}
	for !th.ts.stopped && !th.ts.done {
		wtid, ws, err := s.waitStatus(nil, tid, time.Now().Add(5*time.Second))
		if err != nil {
			return err
		}
		if st, report := s.handle(wtid, ws); report {
			s.queue(st) // it died meanwhile (SIGKILL): reported next
		}
	}
	th.hitAt = hitAt
	return nil
}

// plant puts back the traps Rest lifted, before any thread runs.
func (s *Session) plant() error {
	if !s.lifted {
		return nil
	}
	var first error
	for addr := range s.bps {
		first = cmpErr(first, s.writeRaw(addr, s.Arch.Syscall.Trap))
	}
	s.lifted = false
	return first
}
