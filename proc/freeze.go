package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/target"
	"golang.org/x/sys/unix"
)

// FreezeOptions says what Freeze copies.
type FreezeOptions struct {
	// TIDs limits the snapshot to these threads; nil means every thread,
	// including those created while Freeze attaches.
	TIDs []int
	// StackBytes is how many bytes above SP to copy per thread, capped at
	// the end of the mapping that contains SP. 0 means DefaultStackBytes.
	StackBytes int
	// Kernel reads each thread's kernel stack before stopping it: once
	// stopped, the kernel stack only shows the ptrace stop itself.
	Kernel bool
	// Timeout bounds the wait for threads to stop (a thread in
	// uninterruptible sleep stops only when the sleep ends). The threads
	// that stopped are captured and resumed after at most 200 ms; a thread
	// still not stopped at the timeout is captured from /proc instead
	// (Thread.NotStopped). 0 means 5 seconds.
	Timeout time.Duration
	// Prepare, if set, runs before any thread is stopped, once the
	// executable and the mappings are read. It is handed the snapshot so
	// far (Pid, Exe, Arch, Maps, Files, Live) and does the slow part of
	// what Copy will need (opening the executable, finding its Go runtime
	// layout), so that the threads stay stopped no longer than the copy.
	// An error ends Freeze before any thread is stopped, and is returned.
	Prepare func(s *target.Snapshot) error
	// Copy, if set, runs while every thread is still stopped, after their
	// registers and stacks are copied. It is handed the snapshot so far
	// (whose Memory reads the stopped process) and returns more memory to
	// keep in the snapshot: what an unwinder follows from the registers
	// into memory that the threads change once resumed (a Go thread's g
	// and m, the goroutine stack it switched from).
	Copy func(s *target.Snapshot) []target.Segment
}

// NotStoppedError says that a thread did not stop within the timeout, and
// what /proc tells of where it sleeps.
type NotStoppedError struct {
	TID     int
	Timeout time.Duration
	State   string // scheduling state before the attempt ("D")
	Syscall string // the system call it sleeps in; "" if none or unknown
	Detail  string // why nothing could be read, if nothing could
}

func (e *NotStoppedError) Error() string {
	s := fmt.Sprintf("thread %d did not stop within %v", e.TID, e.Timeout)
	switch e.State {
	case "D":
		s += ": uninterruptible sleep (state D)"
	case "":
	default:
		s += " (state " + e.State + ")"
	}
	if e.Syscall != "" {
		s += " in " + e.Syscall
	}
	if e.Detail != "" {
		s += "; " + e.Detail
	}
	return s
}

func (e *NotStoppedError) Unwrap() error { return ErrNotStopped }

// testHookStopped, if set, runs on the tracer thread while every thread is
// stopped. Tests use it to kill the tracer or the target at that moment.
var testHookStopped func(pid int)

// Freeze stops every thread of pid (or opts.TIDs), copies each one's
// registers and stack, and resumes them. The snapshot's Arch is the
// host's (a process traced by ptrace runs on it); its Live reads the
// process's memory (Memory) and its Files opens mapped files as
// MappedFile does. It returns an error wrapping
// ErrNoProcess, ErrKernelThread, ErrZombie, ErrPermission, ErrTraced,
// ErrExited or ErrInterrupted (ctx was cancelled: the threads were resumed
// first). ctx is how the caller interrupts a freeze; proc installs no
// signal handler (the command line cancels ctx on SIGINT and SIGTERM). A
// nil ctx is never cancelled. A thread that vanishes during the snapshot does not fail
// it: its Thread.Err says so. One that cannot be stopped is captured from
// /proc: its Thread.NotStopped says so.
func Freeze(ctx context.Context, pid int, opts FreezeOptions) (*target.Snapshot, error) {
	if pid <= 0 {
		return nil, noProcess(pid)
	}
	if pid == os.Getpid() {
		// The kernel refuses to trace one's own thread group.
		return nil, &Error{Msg: fmt.Sprintf("PID %d is taiji itself: it cannot freeze itself", pid), Err: ErrPermission}
	}
	if opts.StackBytes <= 0 {
		opts.StackBytes = DefaultStackBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	t := NewTracer()
	// Close ends the tracer thread: anything still attached (a thread that
	// never stopped) is detached by the kernel.
	defer t.Close()
	var (
		snap *target.Snapshot
		err  error
	)
	t.Do(func() {
		f := &freezer{t: t, pid: pid, opts: opts, ctx: ctx, seen: map[int]*tstate{}}
		defer f.detachAll() // on every path, panics included
		snap, err = f.run()
	})
	return snap, err
}

// tstate is a thread's progress through the freeze.
type tstate struct {
	th      *target.Thread
	seized  bool // attached (by PTRACE_SEIZE or auto-attached on clone)
	stopped bool // in a ptrace stop, must be detached
	done    bool // nothing more to do: detached, exited, or never attached
	stopAt  time.Time
	sig     syscall.Signal // to re-inject on detach
	foreign bool           // a clone outside the thread group
	late    bool           // still seized, but did not stop by the deadline
}

type freezer struct {
	t      *Tracer
	pid    int
	opts   FreezeOptions
	ctx    context.Context // cancelled: interrupt; nil: never
	caught error           // the cancellation's cause, once seen
	seen   map[int]*tstate
	// Threads found in a group stop before, or while, attaching: the
	// kernel keeps them stopped after detach, as it should.
	wasStopped, groupStops int
	order                  []*tstate
	warnings               []string
	// grace, if set, is how long attachAll waits for every thread to stop
	// before it lets the caller go on with those that did; the others are
	// late, and waited for afterwards, up to opts.Timeout.
	grace time.Duration
}

// lateGrace is how long Freeze holds the stopped threads while another has
// not stopped yet. A thread running user code stops within microseconds;
// one still going after this is in an uninterruptible sleep that may last
// (a vfork parent's until its child execs): the others are captured and
// resumed rather than held for the whole timeout.
const lateGrace = 200 * time.Millisecond

func (f *freezer) warnf(format string, args ...any) {
	f.warnings = append(f.warnings, fmt.Sprintf(format, args...))
}

func (f *freezer) interrupted() bool {
	if f.caught == nil && f.ctx != nil && f.ctx.Err() != nil {
		f.caught = context.Cause(f.ctx)
	}
	return f.caught != nil
}

func (f *freezer) interruptErr(doing string) error {
	return &Error{Msg: fmt.Sprintf("interrupted (%v) while %s PID %d; all threads were resumed", f.caught, doing, f.pid), Err: ErrInterrupted}
}

// attachAll attaches to tids and stops them, then to every thread that
// appeared meanwhile (unless the caller chose its threads), until no thread
// is new. doing names the operation in an interruption's error. Everything
// that can be read without stopping a thread is read first, to keep the
// stop short.
func (f *freezer) attachAll(tids []int, doing string) error {
	for _, tid := range tids {
		f.add(tid, false)
	}
	for _, ts := range f.order {
		f.prepare(ts)
	}
	wait := f.opts.Timeout
	if f.grace > 0 && f.grace < wait {
		wait = f.grace
	}
	deadline := time.Now().Add(wait)
	batch := f.order
	for len(batch) > 0 {
		for _, ts := range batch {
			if err := f.attach(ts); err != nil {
				f.settle()
				return err
			}
			if f.interrupted() {
				f.settle()
				return f.interruptErr(doing)
			}
		}
		f.waitStops(deadline, true)
		if f.interrupted() {
			f.settle()
			return f.interruptErr(doing)
		}
		batch = nil
		if f.opts.TIDs != nil {
			break
		}
		now, err := Tasks(f.pid)
		if err != nil {
			break // the process is gone; the threads say so
		}
		for _, tid := range now {
			if f.seen[tid] == nil {
				ts := f.add(tid, false)
				f.prepare(ts)
				batch = append(batch, ts)
			}
		}
		// Threads auto-attached on clone were added to f.order, and
		// waited for, by waitStops itself.
	}
	return nil
}

func (f *freezer) run() (*target.Snapshot, error) {
	pid := f.pid
	// Say what a kernel thread or a zombie is before anything fails on
	// it; a zombie seen later exited during the snapshot.
	if err := NotUser(pid); err != nil {
		return nil, err
	}
	if err := ForeignABI(pid); err != nil {
		return nil, err
	}
	tids := f.opts.TIDs
	if tids == nil {
		var err error
		if tids, err = Tasks(pid); err != nil {
			return nil, err
		}
	}
	snap := &target.Snapshot{Pid: pid, Arch: arch.Host(), Files: Files(pid)}
	var err error
	// From here on the process existed: if it vanishes, it exited during
	// the snapshot.
	if snap.Exe, err = f.exe(tids); err != nil && !errors.Is(err, ErrPermission) {
		return nil, f.gone(err)
	}
	if snap.Maps, err = f.maps(tids); err != nil {
		if errors.Is(err, ErrPermission) {
			// Reading maps needs the same right as attaching.
			return nil, permission(pid)
		}
		return nil, f.gone(err)
	}
	if f.opts.Prepare != nil {
		if err := f.opts.Prepare(&target.Snapshot{Pid: pid, Exe: snap.Exe, Arch: snap.Arch, Maps: snap.Maps, Files: snap.Files, Live: NewMemory(pid)}); err != nil {
			return nil, err
		}
	}

	deadline := time.Now().Add(f.opts.Timeout)
	f.grace = lateGrace
	if err := f.attachAll(tids, "freezing"); err != nil {
		return nil, err
	}

	// Every thread is stopped, or late: copy the registers and stacks of
	// the stopped ones, and let them go.
	remapped := false
	late := false
	for _, ts := range f.order {
		late = late || ts.late
		if ts.stopped {
			f.capture(snap, ts.th, &remapped)
		}
	}
	if f.opts.Copy != nil {
		view := &target.Snapshot{Pid: pid, Exe: snap.Exe, Arch: snap.Arch, Maps: snap.Maps, Files: snap.Files}
		for _, ts := range f.order {
			if ts.stopped && !ts.foreign && ts.th.Err == nil {
				view.Threads = append(view.Threads, ts.th)
			}
		}
		if len(view.Threads) > 0 {
			view.Live = NewMemory(view.Threads[0].TID)
			snap.Extra = f.opts.Copy(view)
		}
	}
	if testHookStopped != nil {
		testHookStopped(pid)
	}
	f.detachAll()
	if late {
		// Wait for the late ones up to the timeout, then capture each as
		// it stopped, or from /proc.
		for _, ts := range f.order {
			if ts.late {
				ts.late, ts.done, ts.th.Err = false, false, nil
			}
		}
		f.waitStops(deadline, true)
		for _, ts := range f.order {
			switch {
			case ts.late:
				f.late(snap, ts, &remapped)
			case ts.stopped:
				f.capture(snap, ts.th, &remapped)
			}
		}
		f.detachAll()
	}

	// Memory is read through a thread that was alive: a leader that
	// called pthread_exit has no memory of its own any more.
	memTID := pid
	for _, ts := range f.order {
		if ts.th.Err == nil && !ts.foreign {
			memTID = ts.th.TID
			break
		}
	}
	snap.Live = NewMemory(memTID)
	// The vDSO never changes: copy it after the threads run again.
	for _, m := range snap.Maps {
		if m.Path == "[vdso]" {
			buf := make([]byte, m.End-m.Start)
			if n, err := readRemote(memTID, buf, m.Start); err == nil && n == len(buf) {
				snap.VDSO, snap.VDSOAddr = buf, m.Start
			}
		}
	}

	live := 0
	for _, ts := range f.order {
		if ts.foreign {
			continue
		}
		snap.Threads = append(snap.Threads, ts.th)
		if ts.th.Err == nil {
			live++
		}
	}
	if f.wasStopped > 0 {
		f.warnf("%d threads were stopped (state T) before taiji attached; they are left stopped", f.wasStopped)
	}
	if f.groupStops > 0 {
		f.warnf("%d threads entered a group stop (SIGSTOP) while taiji attached; they are left stopped", f.groupStops)
	}
	snap.Warnings = f.warnings
	if f.interrupted() {
		return nil, f.interruptErr("freezing")
	}
	if live == 0 {
		if _, err := os.Stat(procPath(pid, "task")); err != nil || allGone(snap.Threads) {
			return nil, exited(pid)
		}
	}
	return snap, nil
}

// capture copies the registers and stack of th, which is stopped.
func (f *freezer) capture(snap *target.Snapshot, th *target.Thread, remapped *bool) {
	var r unix.PtraceRegs
	if err := getRegs(th.TID, &r); err != nil {
		th.Err = f.threadErr(th.TID, "reading registers", err)
		return
	}
	th.Regs = regsToArch(&r)
	th.TLS = threadPointer(&r)
	f.copyStack(snap, th, remapped)
}

// copyStack copies th's stack from its SP up to StackBytes, within the
// mapping that holds SP. The maps are read again once if SP lies in none
// (a stack created or grown since).
func (f *freezer) copyStack(snap *target.Snapshot, th *target.Thread, remapped *bool) {
	sp, _ := th.Regs.Get(snap.Arch.SP)
	m := Find(snap.Maps, sp)
	if m == nil && !*remapped {
		*remapped = true
		if maps, err := f.maps([]int{th.TID}); err == nil {
			snap.Maps = maps
			m = Find(snap.Maps, sp)
		}
	}
	if m == nil {
		f.warnf("thread %d: SP %#x is in no mapping; its stack was not copied", th.TID, sp)
		return
	}
	end := m.End
	if sp+uint64(f.opts.StackBytes) < end {
		end = sp + uint64(f.opts.StackBytes)
	}
	buf := make([]byte, end-sp)
	n, err := readRemote(th.TID, buf, sp)
	th.Stack = Segment{Addr: sp, Data: buf[:n]}
	if err != nil && n == 0 {
		f.warnf("thread %d: copying its stack at %#x: %v", th.TID, sp, err)
	}
}

// late captures a thread that did not stop by the deadline. It may have
// stopped since; if not, it is still seized with a stop pending, so it
// cannot run user code without stopping first: its user registers and
// stack are those it will return to, and /proc/PID/task/TID/syscall gives
// the PC, the SP and the system call's arguments without stopping it.
// Read before and after the stack copy, they must agree, or the thread
// moved meanwhile and nothing of its user side is kept.
func (f *freezer) late(snap *target.Snapshot, ts *tstate, remapped *bool) {
	th := ts.th
	ts.done = false
	if f.poll(ts); ts.stopped || ts.done {
		if ts.stopped { // it woke up: capture it as any other
			th.Err = nil
			ts.late = false
			f.capture(snap, th, remapped)
		}
		return
	}
	ts.done = true // the tracer thread's exit detaches it
	var nse *NotStoppedError
	if !errors.As(th.Err, &nse) {
		return
	}
	before, err := ThreadSyscall(f.pid, th.TID)
	if err != nil {
		nse.Detail = "/proc tells nothing of it: " + err.Error()
		if errors.Is(err, ErrRunning) {
			nse.Detail = "it is running now"
		}
		return
	}
	if before.Nr >= 0 {
		nse.Syscall = snap.Arch.SyscallName(before.Nr)
	}
	var regs arch.Regs
	regs.PC = before.PC
	regs.Set(snap.Arch.SP, before.SP)
	if before.Nr >= 0 {
		for i, r := range snap.Arch.Syscall.Args {
			regs.Set(r, before.Args[i])
		}
	}
	th.Regs = regs
	var kernel []KernelFrame
	var kerr error
	if f.opts.Kernel {
		kernel, kerr = KernelStack(f.pid, th.TID)
	}
	f.copyStack(snap, th, remapped)
	after, err := ThreadSyscall(f.pid, th.TID)
	if err != nil || after != before {
		th.Regs, th.Stack = arch.Regs{}, Segment{}
		nse.Detail = "it moved while taiji read it"
		return
	}
	if f.opts.Kernel {
		th.Kernel, th.KernelErr = kernel, kerr
	}
	th.Err, th.NotStopped = nil, nse
}

// exe is Exe, but asks the other threads if the leader has exited (its
// exe link is gone then).
func (f *freezer) exe(tids []int) (string, error) {
	s, err := Exe(f.pid)
	for _, tid := range tids {
		if err == nil {
			break
		}
		if tid != f.pid {
			s, err = os.Readlink(taskPath(f.pid, tid, "exe"))
		}
	}
	if err != nil {
		return "", fileError(f.pid, err)
	}
	return s, nil
}

// maps is Maps, but read through another thread if the leader has
// exited: its own maps file is empty then.
func (f *freezer) maps(tids []int) ([]Mapping, error) {
	maps, err := Maps(f.pid)
	for _, tid := range tids {
		if err != nil || len(maps) > 0 {
			break
		}
		if tid != f.pid {
			name := taskPath(f.pid, tid, "maps")
			if b, rerr := os.ReadFile(name); rerr == nil {
				maps, err = ParseMaps(name, b)
			}
		}
	}
	return maps, err
}

// gone turns ErrNoProcess (or ErrZombie) into ErrExited for a process seen
// alive.
func (f *freezer) gone(err error) error {
	if errors.Is(err, ErrNoProcess) || errors.Is(err, ErrZombie) {
		return exited(f.pid)
	}
	return err
}

func allGone(ths []*target.Thread) bool {
	for _, th := range ths {
		if !errors.Is(th.Err, ErrExited) && !errors.Is(th.Err, ErrNoProcess) {
			return false
		}
	}
	return true
}

// settle briefly collects the stops of threads already asked to stop, so
// that an early return detaches them itself, re-injecting any signal they
// took, rather than leaving them to the tracer thread's exit.
func (f *freezer) settle() {
	f.waitStops(time.Now().Add(100*time.Millisecond), false)
}

// add records a thread to freeze. seized marks one the kernel attached for
// us when a traced thread cloned it.
func (f *freezer) add(tid int, seized bool) *tstate {
	ts := &tstate{th: &target.Thread{TID: tid}, seized: seized}
	f.seen[tid] = ts
	f.order = append(f.order, ts)
	return ts
}

// prepare reads what /proc says about a thread while it still runs.
func (f *freezer) prepare(ts *tstate) {
	th := ts.th
	info, err := Task(f.pid, th.TID)
	if err != nil {
		if !ts.seized {
			th.Err = threadExited(th.TID)
			if f.opts.TIDs != nil {
				th.Err = err // perhaps never a thread of pid
			}
			ts.done = true
		}
		return
	}
	th.Info = info
	if info.State == "T" {
		f.wasStopped++
	}
	if f.opts.Kernel {
		th.Kernel, th.KernelErr = KernelStack(f.pid, th.TID)
	}
}

// attach seizes a thread and asks it to stop. It returns an error only
// when the whole freeze must fail (no permission, another tracer).
func (f *freezer) attach(ts *tstate) error {
	if ts.done || ts.seized {
		return nil
	}
	tid := ts.th.TID
	err := ptrace(unix.PTRACE_SEIZE, tid, 0, unix.PTRACE_O_TRACECLONE)
	switch {
	case err == nil:
		ts.seized = true
	case errors.Is(err, unix.ESRCH):
		ts.th.Err, ts.done = threadExited(tid), true
		return nil
	case errors.Is(err, unix.EPERM):
		switch tracer := tracerOf(f.pid, tid); {
		case tracer == f.t.tid:
			// Auto-attached when a thread we traced cloned it.
			ts.seized = true
			return nil
		case tracer != 0:
			return traced(f.pid, tracer)
		}
		// The kernel refuses to attach to a zombie, such as a leader
		// that called pthread_exit while other threads run.
		if info, err := Task(f.pid, tid); err != nil || info.State == "Z" || info.State == "X" {
			ts.th.Err, ts.done = threadExited(tid), true
			return nil
		}
		return permission(f.pid)
	default:
		return fmt.Errorf("proc: attaching to thread %d of PID %d: %w", tid, f.pid, err)
	}
	if err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("proc: stopping thread %d of PID %d: %w", tid, f.pid, err)
	}
	return nil
}

// waitStops waits until every attached thread is stopped or gone, the
// deadline passes, or a signal arrives. It polls with WNOHANG instead of
// blocking in wait4, so that neither a thread stuck in uninterruptible
// sleep nor a Ctrl-C can hang it; and it waits for each TID by name, never
// for "any child", so it cannot reap the caller's own children.
func (f *freezer) waitStops(deadline time.Time, interruptible bool) {
	sleep := time.Duration(0)
	for {
		pending := 0
		progress := false
		for i := 0; i < len(f.order); i++ { // f.order grows on clone events
			ts := f.order[i]
			if !ts.seized || ts.stopped || ts.done {
				continue
			}
			if f.poll(ts) {
				progress = true
			}
			if !ts.stopped && !ts.done {
				pending++
			}
		}
		if pending == 0 || (interruptible && f.interrupted()) {
			return
		}
		if time.Now().After(deadline) {
			for _, ts := range f.order {
				if ts.seized && !ts.stopped && !ts.done {
					nse := &NotStoppedError{TID: ts.th.TID, Timeout: f.opts.Timeout, State: ts.th.Info.State}
					if sc, err := ThreadSyscall(f.pid, ts.th.TID); err == nil && sc.Nr >= 0 {
						nse.Syscall = arch.Host().SyscallName(sc.Nr)
					}
					ts.th.Err = nse
					ts.done = true // the tracer thread's exit detaches it
					ts.late = true
				}
			}
			return
		}
		if progress {
			sleep = 0
			continue
		}
		// Stops normally arrive within microseconds: yield first, then
		// back off up to a millisecond.
		if sleep == 0 {
			sleep = time.Microsecond
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			continue
		}
		// nanosleep on this thread rather than time.Sleep, whose wake-up
		// through the scheduler takes about a millisecond here.
		ts := unix.NsecToTimespec(int64(sleep))
		unix.Nanosleep(&ts, nil)
		if sleep < time.Millisecond {
			sleep *= 2
		}
	}
}

// poll collects one wait status of ts, if there is one, and reports
// whether there was.
func (f *freezer) poll(ts *tstate) bool {
	tid := ts.th.TID
	var ws unix.WaitStatus
	wpid, err := unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG, nil)
	for errors.Is(err, unix.EINTR) {
		wpid, err = unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG, nil)
	}
	if err != nil {
		// ECHILD: not (or no longer) our tracee, so it is gone.
		ts.th.Err, ts.done = threadExited(tid), true
		return true
	}
	if wpid == 0 {
		return false
	}
	switch {
	case ws.Exited() || ws.Signaled():
		ts.th.Err, ts.done = threadExited(tid), true
	case ws.Stopped():
		ts.stopped = true
		ts.stopAt = time.Now()
		sig := ws.StopSignal()
		switch event := int(uint32(ws) >> 16); event {
		case unix.PTRACE_EVENT_STOP:
			// The interrupt (or the initial stop of an auto-attached
			// clone) stops with SIGTRAP; any other signal means a group
			// stop, which the kernel restores on detach.
			if sig != syscall.SIGTRAP && ts.th.Info.State != "T" {
				f.groupStops++
			}
		case unix.PTRACE_EVENT_CLONE:
			// Stopped at clone: the child is already ours.
			if msg, err := eventMsg(tid); err == nil && f.seen[int(msg)] == nil {
				child := f.add(int(msg), true)
				if _, err := os.Stat(taskPath(f.pid, int(msg), "stat")); err != nil {
					child.foreign = true // a new process, not a thread
				} else {
					f.prepare(child)
				}
			}
		case 0:
			// A signal raced the interrupt: it was taken from the thread
			// and must be given back on detach.
			ts.sig = sig
			ts.th.Signal = int(sig)
		}
	}
	return true
}

// detachAll resumes every stopped thread, re-injecting signals.
func (f *freezer) detachAll() {
	for _, ts := range f.order {
		if !ts.stopped {
			continue
		}
		err := ptrace(unix.PTRACE_DETACH, ts.th.TID, 0, uintptr(ts.sig))
		ts.th.Frozen = time.Since(ts.stopAt)
		ts.stopped, ts.done = false, true
		if err != nil {
			// Killed while stopped: reap its exit so it does not linger
			// as a zombie of ours.
			var ws unix.WaitStatus
			unix.Wait4(ts.th.TID, &ws, unix.WALL|unix.WNOHANG, nil)
			if ts.th.Err == nil {
				ts.th.Err = threadExited(ts.th.TID)
			}
		}
	}
}

func (f *freezer) threadErr(tid int, what string, err error) error {
	if errors.Is(err, unix.ESRCH) {
		return threadExited(tid)
	}
	return fmt.Errorf("proc: thread %d: %s: %w", tid, what, err)
}

// DefaultStackBytes is how much stack Freeze copies per thread by default
// (target.DefaultStackBytes).
const DefaultStackBytes = target.DefaultStackBytes
