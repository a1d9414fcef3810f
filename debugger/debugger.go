// Package debugger is an interactive debugging session on top of proc's
// run control: logical breakpoints (ids, conditions, hit counts, temporary
// ones), continue and stepping by instruction or source line, the signal
// policy of gdb's "handle", frames, threads and goroutines. Everything is
// all-stop: between calls every thread of the target is stopped.
//
// The terminal (REPL, batch mode, JSON) lives in cmd/taiji; expressions
// are evaluated through the Evaluator interface, so that a DWARF-aware
// evaluator can be plugged in (Debugger.Eval). The model is delve's
// pkg/proc + service/debugger split, with gdb's command semantics.
package debugger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// Debugger is one debugging session of a process. It is not safe for
// concurrent use, except Interrupt-by-context: the ctx given to Continue
// and the stepping calls interrupts them.
type Debugger struct {
	Pid  int
	Arch *arch.Arch
	Exe  string
	// Launched is set when the session started the process (Launch):
	// Close kills it rather than detach.
	Launched bool
	// Eval evaluates breakpoint conditions and print's expressions; nil
	// uses package debugger/eval.
	Eval Evaluator

	s    *proc.Session
	u    *unwind.Unwinder
	cmd  *exec.Cmd
	argv []string // a launched program's command line, for Restart
	opts Options

	bps    map[int]*Breakpoint
	nextID int
	// internal counts the temporary breakpoints a step or stepout planted,
	// by address (they share the physical trap with user breakpoints).
	internal map[uint64]int

	signals map[syscall.Signal]*SignalPolicy
	// lastHit is the breakpoint each thread last stopped on; reentry marks
	// a thread that took a signal there instead of stepping off it, whose
	// next stop on the same trap is that hit again (its handler returned).
	lastHit, reentry map[int]uint64
	// reentryG is reentry for threads that run a goroutine, by goid (see
	// markReentry).
	reentryG map[uint64]uint64
	imgs     map[string]*image // by mapped path; nil: could not be opened

	// hidden is gdb's "skipped inline frames": a next that stopped at
	// the first instruction of a call inlined into its line shows the
	// call's line, the inlined frames not entered yet.
	hidden hiddenInline
	// sigStop is the thread and PC of the last stop on a signal that the
	// thread's next step delivers (its policy passes it).
	sigStop struct {
		tid int
		pc  uint64
	}

	cur      int // the selected thread
	frameSel int // the selected frame of it
	snap     *target.Snapshot
	frames   []Frame // of cur, cached for this stop
	exited   bool
	closed   bool
}

// Options configure a session.
type Options struct {
	// DebugDirs are where separate debug files are looked up (default
	// /usr/lib/debug).
	DebugDirs []string
}

// Attach stops every thread of pid and makes a session of it.
func Attach(ctx context.Context, pid int, opts Options) (*Debugger, error) {
	s, err := proc.Attach(ctx, pid)
	if err != nil {
		return nil, err
	}
	return newDebugger(s, opts)
}

// Launch starts argv[0] with argv[1:] and returns a session stopped at the
// executable's entry point (AT_ENTRY, the ELF entry plus the load bias;
// the dynamic loader has run by then, the program's own code has not).
// The program's standard streams are taiji's. It must be called from a
// thread that lives as long as the program: the program gets SIGKILL when
// it ends (PR_SET_PDEATHSIG), so Launch locks the calling goroutine to
// its thread for good.
func Launch(ctx context.Context, argv []string, opts Options) (*Debugger, error) {
	if len(argv) == 0 {
		return nil, errors.New("debugger: no program to start")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("cannot start %s: %v", argv[0], err)
	}
	runtime.LockOSThread() // never unlocked: see the docstring
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The child stops with SIGTRAP after its execve (PTRACE_TRACEME);
	// taiji hands it over stopped to proc.Attach's PTRACE_SEIZE.
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %v", argv[0], err)
	}
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("cannot start %s: it did not stop after exec (%v)", argv[0], err)
	}
	// Detached with SIGSTOP, it stays stopped (group stop) until the
	// session resumes it.
	// The exec's SIGTRAP is a signal-delivery stop: detaching replaces it
	// with SIGSTOP, so the program never runs a single instruction free.
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(pid), 0, uintptr(syscall.SIGSTOP), 0, 0); e != 0 {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("cannot start %s: %v", argv[0], e)
	}
	s, err := proc.Attach(ctx, pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	d, err := newDebugger(s, opts)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	d.Launched, d.cmd, d.argv, d.opts = true, cmd, argv, opts
	if err := d.runToEntry(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// runToEntry runs the freshly started process to its entry point.
func (d *Debugger) runToEntry(ctx context.Context) error {
	entry, err := auxEntry(d.Pid, d.Arch.ByteOrder)
	if err != nil {
		return err
	}
	// A static executable has no loader: the exec left it at its entry.
	if regs, err := d.s.Regs(d.cur); err == nil && regs.PC == entry {
		return nil
	}
	if err := d.s.SetBreakpoint(entry); err != nil {
		return err
	}
	defer d.s.ClearBreakpoint(entry)
	for {
		st, err := d.s.Continue(ctx)
		if err != nil {
			return err
		}
		switch st.Reason {
		case proc.StopBreakpoint:
			if st.Breakpoint == entry {
				d.cur = st.TID
				d.invalidate()
				return nil
			}
		case proc.StopSignal:
			if st.Signal == syscall.SIGSTOP || st.Signal == syscall.SIGTRAP {
				d.s.SetSignal(st.TID, 0) // the hand-over's own
			}
		case proc.StopExited:
			d.exited = true
			return fmt.Errorf("%s exited before its entry point", d.Exe)
		case proc.StopInterrupted:
			return proc.ErrInterrupted
		}
	}
}

// auxEntry reads AT_ENTRY from /proc/PID/auxv.
func auxEntry(pid int, order binary.ByteOrder) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid))
	if err != nil {
		return 0, err
	}
	const atEntry = 9
	for i := 0; i+16 <= len(b); i += 16 {
		if order.Uint64(b[i:]) == atEntry {
			return order.Uint64(b[i+8:]), nil
		}
	}
	return 0, fmt.Errorf("PID %d: no AT_ENTRY in its auxiliary vector", pid)
}

func newDebugger(s *proc.Session, opts Options) (*Debugger, error) {
	exe, err := proc.Exe(s.Pid)
	if err != nil {
		s.Detach()
		return nil, err
	}
	mopts := module.Options{Root: proc.Root(s.Pid), DebugDirs: append(opts.DebugDirs, "/usr/lib/debug"), CacheDir: module.DefaultCacheDir()}
	d := &Debugger{Pid: s.Pid, Arch: s.Arch, Exe: exe, s: s, u: unwind.New(s.Arch, mopts),
		bps: map[int]*Breakpoint{}, nextID: 1, internal: map[uint64]int{}, signals: defaultSignals(),
		lastHit: map[int]uint64{}, reentry: map[int]uint64{}, reentryG: map[uint64]uint64{}}
	d.cur = s.Pid
	if ths := s.Threads(); len(ths) > 0 && !slices.Contains(ths, d.cur) {
		d.cur = ths[0]
	}
	return d, nil
}

// Session returns the proc session under the debugger.
func (d *Debugger) Session() *proc.Session { return d.s }

// Exited reports whether the process has exited.
func (d *Debugger) Exited() bool { return d.exited }

// Detach removes every breakpoint and lets the process run on; memory
// written on the user's request stays.
func (d *Debugger) Detach() error {
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.s.Detach()
	d.u.Close()
	if d.cmd != nil {
		// A launched program runs on without its debugger; reap it when
		// it ends so it does not stay a zombie of taiji.
		go d.cmd.Wait()
	}
	return err
}

// Kill kills the process and ends the session.
func (d *Debugger) Kill() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if d.exited {
		d.s.Detach() // only releases the session
	} else {
		d.s.Kill()
	}
	d.u.Close()
	if d.cmd != nil {
		d.cmd.Wait()
	}
	return nil
}

// Close ends the session as gdb's quit does: a launched process is
// killed, an attached one detached (every breakpoint removed).
func (d *Debugger) Close() error {
	if d.Launched {
		return d.Kill()
	}
	return d.Detach()
}

// Rest readies the stopped process for a wait on the user, at a prompt:
// no trap stays in its code and no thread is held in a stop whose SIGTRAP
// the kernel would deliver, so a taiji killed meanwhile (SIGKILL, which
// nothing can clean up after) leaves it running as before. The traps go
// back when the process next runs. See proc.Session.Rest.
func (d *Debugger) Rest() error {
	if d.exited || d.closed {
		return nil
	}
	return d.s.Rest()
}

// Threads returns the TIDs of the process's threads, sorted.
func (d *Debugger) Threads() []int {
	t := d.s.Threads()
	sort.Ints(t)
	return t
}

// CurrentThread returns the selected thread.
func (d *Debugger) CurrentThread() int { return d.cur }

// SelectThread makes tid the selected thread, its frame 0 the selected frame.
func (d *Debugger) SelectThread(tid int) error {
	if !slices.Contains(d.s.Threads(), tid) {
		return fmt.Errorf("no thread %d in PID %d (threads: %v)", tid, d.Pid, d.Threads())
	}
	d.cur, d.frameSel, d.frames = tid, 0, nil
	return nil
}

// invalidate drops what was cached of the last stop. The snapshot's
// mappings are kept: snapshotFor reads them again when a thread's PC or
// SP is outside them (a library loaded, a new thread's stack).
func (d *Debugger) invalidate() {
	d.frames, d.frameSel = nil, 0
}

// snapshotFor returns the snapshot, read again if the mappings it has do
// not cover the PC and SP of regs.
func (d *Debugger) snapshotFor(regs arch.Regs) (*target.Snapshot, error) {
	if d.snap != nil {
		sp, _ := regs.Get(d.Arch.SP)
		if !unwind.Covers(d.snap, []uint64{regs.PC}) || target.Find(d.snap.Maps, sp) == nil {
			d.snap = nil
		}
	}
	return d.snapshot()
}

// snapshot returns a target.Snapshot of the stopped process for the
// unwinder: its maps, the threads' registers, memory read live (through
// the session, so breakpoints do not show).
func (d *Debugger) snapshot() (*target.Snapshot, error) {
	if d.snap != nil {
		return d.snap, nil
	}
	maps, err := proc.Maps(d.Pid)
	if err != nil {
		return nil, err
	}
	s := &target.Snapshot{Pid: d.Pid, Exe: d.Exe, Arch: d.Arch, Maps: maps, Live: memReader{d.s}, Files: proc.Files(d.Pid)}
	for _, m := range maps {
		if m.Path == "[vdso]" {
			b := make([]byte, m.End-m.Start)
			if d.s.ReadMemory(m.Start, b) == nil {
				s.VDSO, s.VDSOAddr = b, m.Start
			}
		}
	}
	for _, tid := range d.Threads() {
		regs, err := d.s.Regs(tid)
		th := &target.Thread{TID: tid, Regs: regs, Err: err}
		s.Threads = append(s.Threads, th)
	}
	d.u.PrepareGo(s)
	d.snap = s
	return s, nil
}

// memReader reads the stopped process through the session.
type memReader struct{ s *proc.Session }

func (m memReader) ReadAt(p []byte, off int64) (int, error) {
	if err := m.s.ReadMemory(uint64(off), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadMemory reads the process's memory; breakpoints do not show.
func (d *Debugger) ReadMemory(addr uint64, p []byte) error { return d.s.ReadMemory(addr, p) }

// WriteMemory writes the process's memory; a write over a breakpoint
// changes the instruction it stands for.
func (d *Debugger) WriteMemory(addr uint64, p []byte) error {
	d.invalidate()
	return d.s.WriteMemory(addr, p)
}

// Restart kills a started program and starts it again, stopped at its
// entry point, with the same breakpoints (resolved again: a PIE loads
// elsewhere), conditions and signal policy. An attached process cannot be
// restarted.
func (d *Debugger) Restart(ctx context.Context) (*Event, error) {
	if !d.Launched || d.argv == nil {
		return nil, errors.New("only a program taiji started (taiji debug -- CMD) can be restarted")
	}
	d.Kill()
	nd, err := Launch(ctx, d.argv, d.opts)
	if err != nil {
		return nil, err
	}
	bps, next, signals, eval := d.bps, d.nextID, d.signals, d.Eval
	*d = *nd
	d.signals, d.Eval, d.nextID, d.bps = signals, eval, next, map[int]*Breakpoint{}
	var first error
	for _, b := range bps {
		locs, err := d.Resolve(b.Spec)
		if err == nil {
			for _, l := range locs {
				if err = d.s.SetBreakpoint(l.Addr); err != nil {
					break
				}
			}
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("breakpoint %d (%s) is gone: %v", b.ID, b.Spec, err)
			}
			continue
		}
		b.Locations = locs
		d.bps[b.ID] = b
	}
	return d.Where("entry"), first
}
