package proc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// Session holds every thread of a process stopped under ptrace, so that
// taiji can read and change registers and memory, plant breakpoints and make
// threads run system calls. Detach puts everything back: registers, code,
// memory taiji mapped, and signals that arrived meanwhile.
//
// A Session is not safe for concurrent use. If taiji dies while holding
// one, the kernel detaches the threads, which resume; see docs/inject.md
// for what a SIGKILL in the middle of an injection leaves behind.
type Session struct {
	Pid  int
	Arch *arch.Arch

	t       *Tracer
	f       *freezer
	sigc    chan os.Signal
	mem     *os.File // /proc/PID/mem, read-write: writes reach read-only text
	threads map[int]*sthread
	order   []int
	bps     map[uint64][]byte // breakpoint address -> the bytes it replaced

	scratch uint64   // the stub page in the target (0: not mapped yet)
	bare    bool     // plant the bare "syscall; trap" stub (no room for more)
	stale   []uint64 // stub pages of killed taijis, unmapped on Detach
	page    uint64
	// Injections counts the system calls run so far.
	Injections int
	detached   bool
}

// sthread is a thread of the session.
type sthread struct {
	ts *tstate
	// resume holds the registers the thread continues with on detach:
	// those read at its stop with any interrupted system call's restart
	// already applied, as the kernel would have. Nil until taiji needs
	// them (first Regs, SetRegs or Syscall).
	resume *unix.PtraceRegs
	// dying, when set, is what the stub restores if taiji dies during an
	// injection, where that must differ from resume (see probeRestart).
	dying *unix.PtraceRegs
	// extra holds signals that arrived during injections beyond the one
	// ts.sig carries back on detach.
	extra []syscall.Signal
}

// Attach stops every thread of pid (including threads created while it
// attaches) and holds them until Detach. Errors wrap ErrNoProcess,
// ErrKernelThread, ErrZombie, ErrPermission, ErrTraced or ErrExited. A
// thread that does not stop within 5 s is left out: Call on it returns its
// *NotStoppedError.
func Attach(pid int) (*Session, error) {
	if pid <= 0 {
		return nil, noProcess(pid)
	}
	if pid == os.Getpid() {
		return nil, &Error{Msg: fmt.Sprintf("PID %d is taiji itself: it cannot trace itself", pid), Err: ErrPermission}
	}
	s := &Session{Pid: pid, Arch: arch.Host(), threads: map[int]*sthread{}, bps: map[uint64][]byte{},
		page: uint64(os.Getpagesize())}
	s.sigc = make(chan os.Signal, 1)
	signal.Notify(s.sigc, os.Interrupt, syscall.SIGTERM)
	s.t = NewTracer()
	s.f = &freezer{t: s.t, pid: pid, opts: FreezeOptions{Timeout: 5 * time.Second}, sigc: s.sigc, seen: map[int]*tstate{}}
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
		signal.Stop(s.sigc)
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
			s.threads[ts.th.TID] = &sthread{ts: ts}
			s.order = append(s.order, ts.th.TID)
		}
	}
	if len(s.threads) == 0 {
		return exited(s.Pid)
	}
	return nil
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

// ReadMemory reads len(p) bytes at addr.
func (s *Session) ReadMemory(addr uint64, p []byte) error {
	n, err := s.mem.ReadAt(p, int64(addr))
	if n == len(p) {
		return nil
	}
	return fmt.Errorf("proc: PID %d: reading %d bytes at %#x: %w", s.Pid, len(p), addr, memErr(err))
}

// WriteMemory writes p at addr, through /proc/PID/mem, so read-only code
// pages can be patched (the kernel copies the page for this process).
func (s *Session) WriteMemory(addr uint64, p []byte) error {
	n, err := s.mem.WriteAt(p, int64(addr))
	if n == len(p) {
		return nil
	}
	return fmt.Errorf("proc: PID %d: writing %d bytes at %#x: %w", s.Pid, len(p), addr, memErr(err))
}

func memErr(err error) error {
	if err == nil {
		return errors.New("short transfer")
	}
	return err
}

// SetBreakpoint plants the arch's trap instruction at addr.
func (s *Session) SetBreakpoint(addr uint64) error {
	if _, ok := s.bps[addr]; ok {
		return nil
	}
	trap := s.Arch.Syscall.Trap
	if a := uint64(s.Arch.Syscall.InsnAlign); a > 1 && addr%a != 0 {
		return fmt.Errorf("proc: breakpoint address %#x is not %d-byte aligned", addr, a)
	}
	orig := make([]byte, len(trap))
	if err := s.ReadMemory(addr, orig); err != nil {
		return err
	}
	if err := s.WriteMemory(addr, trap); err != nil {
		return err
	}
	s.bps[addr] = orig
	return nil
}

// ClearBreakpoint restores the bytes under the breakpoint at addr.
func (s *Session) ClearBreakpoint(addr uint64) error {
	orig, ok := s.bps[addr]
	if !ok {
		return fmt.Errorf("proc: no breakpoint at %#x", addr)
	}
	if err := s.WriteMemory(addr, orig); err != nil {
		return err
	}
	delete(s.bps, addr)
	return nil
}

// Stop says why Continue or Step returned.
type Stop struct {
	// Breakpoint is the address of the breakpoint hit (the PC has been
	// moved back onto it), or 0.
	Breakpoint uint64
	// Signal is a signal that stopped the thread (SIGTRAP after a step);
	// it is delivered on detach unless it was the step's own trap.
	Signal syscall.Signal
	PC     uint64
}

// Continue resumes one thread (the others stay stopped) until it hits a
// breakpoint or receives a signal. The thread must not sit on a breakpoint.
func (s *Session) Continue(tid int) (Stop, error) {
	return s.resumeUntil(tid, unix.PTRACE_CONT)
}

// Step executes one instruction of a thread, where the hardware can
// (ErrNotSupported elsewhere, e.g. mips and riscv64).
func (s *Session) Step(tid int) (Stop, error) {
	if !s.Arch.Syscall.SingleStep {
		return Stop{}, &Error{Msg: fmt.Sprintf("single-step is not available on %s", s.Arch.Name), Err: ErrNotSupported}
	}
	return s.resumeUntil(tid, unix.PTRACE_SINGLESTEP)
}

func (s *Session) resumeUntil(tid int, req int) (Stop, error) {
	th, err := s.thread(tid)
	if err != nil {
		return Stop{}, err
	}
	var st Stop
	s.t.Do(func() {
		if _, err = s.resumeRegs(th); err != nil {
			return
		}
		if err = s.setResume(th); err != nil {
			return
		}
		th.ts.stopped = false
		if err = ptrace(req, tid, 0, 0); err != nil {
			th.ts.stopped = true
			err = s.threadErr(tid, "resuming", err)
			return
		}
		var ev stopEvent
		for {
			if ev, err = s.waitThread(th, false); err != nil {
				return
			}
			if ev.sig == syscall.SIGTRAP && ev.event == 0 && !ev.sysStop {
				break // a breakpoint or the step's trap
			}
			if ev.event == 0 && !ev.sysStop && ev.sig != 0 {
				st.Signal = ev.sig
				s.keepSignal(th, ev.sig)
				break
			}
			// Group and event stops: keep going.
			if err = ptrace(req, tid, 0, 0); err != nil {
				err = s.threadErr(tid, "resuming", err)
				return
			}
		}
		var r unix.PtraceRegs
		if err = getRegs(tid, &r); err != nil {
			err = s.threadErr(tid, "reading registers", err)
			return
		}
		a := regsToArch(&r)
		if st.Signal == 0 {
			if bp := a.PC - uint64(s.Arch.Syscall.TrapPC); s.bps[bp] != nil {
				a.PC = bp
				archToRegs(a, &r)
				st.Breakpoint = bp
			}
		}
		st.PC = a.PC
		th.resume = &r
		err = s.setResume(th)
	})
	return st, err
}

// Result is what an injected system call returned.
type Result struct {
	Raw   uint64 // the result register as the kernel left it
	Value int64  // the return value; -1 on error
	Errno int    // 0 on success
}

// Arg is a system call argument: an integer, or bytes that Call copies into
// memory it maps in the target and passes by address.
type Arg struct {
	Val  uint64
	Data []byte // non-nil: pass the address of a copy of Data
}

// Call runs a system call whose arguments may include data (see Arg): they
// are copied into one read-write mapping made for the call and unmapped
// afterwards.
func (s *Session) Call(tid, nr int, args ...Arg) (Result, error) {
	size := uint64(0)
	for _, a := range args {
		if a.Data != nil {
			size += (uint64(len(a.Data)) + 16) &^ 15
		}
	}
	vals := make([]uint64, len(args))
	if size == 0 {
		for i, a := range args {
			vals[i] = a.Val
		}
		return s.Syscall(tid, nr, vals...)
	}
	buf, err := s.Mmap(tid, size, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return Result{}, err
	}
	off := buf
	for i, a := range args {
		vals[i] = a.Val
		if a.Data != nil {
			// Zero-terminated, so a path or name arrives as a C string.
			if err := s.WriteMemory(off, append(append([]byte(nil), a.Data...), 0)); err != nil {
				s.Munmap(tid, buf, size)
				return Result{}, err
			}
			vals[i] = off
			off += (uint64(len(a.Data)) + 16) &^ 15
		}
	}
	res, err := s.Syscall(tid, nr, vals...)
	if uerr := s.Munmap(tid, buf, size); err == nil && uerr != nil {
		return res, uerr
	}
	return res, err
}

// Mmap maps size bytes of private anonymous memory with protection prot in
// the target, using thread tid, and returns its address.
func (s *Session) Mmap(tid int, size uint64, prot int) (uint64, error) {
	th, err := s.thread(tid)
	if err != nil {
		return 0, err
	}
	var res Result
	s.t.Do(func() {
		if s.scratch == 0 {
			if err = s.mapScratch(th); err != nil {
				return
			}
		}
		res, err = s.injectMmap(th, s.scratch, size, uint64(prot))
	})
	if err != nil {
		return 0, err
	}
	if res.Errno != 0 {
		return 0, fmt.Errorf("proc: mmap in PID %d failed: %s", s.Pid, s.Arch.ErrnoName(res.Errno))
	}
	return res.Raw, nil
}

// mmapArgBlock is the size of old_mmap's struct mmap_arg_struct: addr,
// len, prot, flags, fd, offset, one word each.
const mmapArgBlock = 6 * 8

// injectMmap runs mmap(0, size, prot, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
// in th from a stub at addr. Where mmap takes a pointer to its arguments
// (s390x's old_mmap, arch.SyscallABI.MmapArgBlock), they are written right
// after the stub, which callers leave room for (stubRoom).
func (s *Session) injectMmap(th *sthread, addr, size, prot uint64) (Result, error) {
	nr, ok := s.Arch.SyscallNumber("mmap")
	if !ok {
		return Result{}, &Error{Msg: "mmap injection is not implemented on " + s.Arch.Name, Err: ErrNotSupported}
	}
	flags, _ := s.Arch.Const("MAP_PRIVATE")
	anon, _ := s.Arch.Const("MAP_ANONYMOUS")
	args := []uint64{0, size, prot, flags | anon, ^uint64(0), 0}
	if s.Arch.Syscall.MmapArgBlock {
		block := addr + s.stubLen()
		b := make([]byte, mmapArgBlock)
		for i, v := range args {
			s.Arch.ByteOrder.PutUint64(b[8*i:], v)
		}
		if err := s.WriteMemory(block, b); err != nil {
			return Result{}, err
		}
		args = []uint64{block}
	}
	return s.inject(th, addr, nr, args)
}

// stubLen is the size of the stub inject writes, rounded up to 8 bytes.
func (s *Session) stubLen() uint64 {
	n := stubSize(s.Arch)
	if s.bare {
		n = len(s.Arch.Syscall.Insn) + len(s.Arch.Syscall.Trap)
	}
	return uint64(n+7) &^ 7
}

// Munmap unmaps memory mapped by Mmap.
func (s *Session) Munmap(tid int, addr, size uint64) error {
	nr, _ := s.Arch.SyscallNumber("munmap")
	res, err := s.Syscall(tid, nr, addr, size)
	if err != nil {
		return err
	}
	if res.Errno != 0 {
		return fmt.Errorf("proc: munmap in PID %d failed: %s", s.Pid, s.Arch.ErrnoName(res.Errno))
	}
	return nil
}

// Syscall makes thread tid run system call nr with up to six arguments and
// returns its result. The thread's registers are put back afterwards; a
// system call it was blocked in resumes on detach as if nothing happened.
func (s *Session) Syscall(tid, nr int, args ...uint64) (Result, error) {
	if len(args) > len(s.Arch.Syscall.Args) {
		return Result{}, fmt.Errorf("proc: %d system call arguments; %s passes at most %d", len(args), s.Arch.Name, len(s.Arch.Syscall.Args))
	}
	th, err := s.thread(tid)
	if err != nil {
		return Result{}, err
	}
	var res Result
	s.t.Do(func() {
		if s.scratch == 0 {
			if err = s.mapScratch(th); err != nil {
				return
			}
		}
		res, err = s.inject(th, s.scratch, nr, args)
	})
	return res, err
}

// stubMagic ends every stub page, so that a later session finds the pages
// of a taiji that was killed before it could unmap its own.
var stubMagic = []byte("taiji stub page\x00")

// mapScratch maps the page that holds the injection stub, running mmap from
// a stub planted in the unused tail of an executable segment, which it
// restores afterwards. A page left by a killed taiji is reused instead,
// and any others are unmapped on Detach.
func (s *Session) mapScratch(th *sthread) error {
	if s.findStale(); len(s.stale) > 0 {
		s.scratch, s.stale = s.stale[0], s.stale[1:]
		return nil
	}
	res, err := s.withPatchArea(func(at uint64) (Result, error) {
		return s.injectMmap(th, at, s.page, unix.PROT_READ|unix.PROT_EXEC)
	})
	if err != nil {
		return err
	}
	if res.Errno != 0 {
		return fmt.Errorf("proc: mapping taiji's stub page in PID %d failed: %s", s.Pid, s.Arch.ErrnoName(res.Errno))
	}
	s.scratch = res.Raw
	return s.WriteMemory(s.scratch+s.page-uint64(len(stubMagic)), stubMagic)
}

// findStale collects the stub pages of killed taijis: anonymous read-only
// executable pages ending in stubMagic, with no thread's PC inside (a
// thread stopped on its way out of such a stub still needs it).
func (s *Session) findStale() {
	maps, err := Maps(s.Pid)
	if err != nil {
		return
	}
	var pcs []uint64
	for _, tid := range s.order {
		var r unix.PtraceRegs
		if getRegs(tid, &r) == nil {
			pcs = append(pcs, regsToArch(&r).PC)
		}
	}
	tail := make([]byte, len(stubMagic))
	for _, m := range maps {
		if m.Perm != "r-xp" || m.Path != "" || m.Inode != 0 {
			continue
		}
	page:
		for p := m.Start; p < m.End; p += s.page {
			if s.ReadMemory(p+s.page-uint64(len(tail)), tail) != nil || string(tail) != string(stubMagic) {
				continue
			}
			for _, pc := range pcs {
				if pc >= p && pc < p+s.page {
					continue page
				}
			}
			s.stale = append(s.stale, p)
		}
	}
}

// withPatchArea runs f with the address of a patch area, then restores it.
// The area has room for mmap's argument block after the stub (injectMmap).
func (s *Session) withPatchArea(f func(at uint64) (Result, error)) (Result, error) {
	need := (stubSize(s.Arch)+7)&^7 + mmapArgBlock
	at, err := s.patchArea(need)
	if err != nil {
		// No room for the self-restoring stub: fall back to the bare
		// "syscall; trap", whose only risk is taiji dying during this
		// one call (the trap would then kill the target).
		need = (len(s.Arch.Syscall.Insn)+len(s.Arch.Syscall.Trap)+7)&^7 + mmapArgBlock
		if at, err = s.patchArea(need); err != nil {
			return Result{}, err
		}
		s.bare = true
		defer func() { s.bare = false }()
	}
	orig := make([]byte, need)
	if err := s.ReadMemory(at, orig); err != nil {
		return Result{}, err
	}
	res, err := f(at)
	if werr := s.WriteMemory(at, orig); werr != nil && err == nil {
		err = werr
	}
	return res, err
}

// stopEvent is one wait status of a traced thread.
type stopEvent struct {
	sig     syscall.Signal
	event   int
	sysStop bool // a syscall-entry or -exit stop (SIGTRAP|0x80)
}

// inject runs system call nr in th from a stub at addr: the system call
// instruction followed by code that reloads the thread's registers from a
// block after it and jumps back. taiji stops the thread at the call's exit
// (PTRACE_SYSCALL) and restores the registers itself, so the code after
// the instruction runs only if taiji died meanwhile.
func (s *Session) inject(th *sthread, addr uint64, nr int, args []uint64) (Result, error) {
	tid := th.ts.th.TID
	resume, err := s.resumeRegs(th)
	if err != nil {
		return Result{}, err
	}
	var stub []byte
	if s.bare {
		stub = append(append([]byte(nil), s.Arch.Syscall.Insn...), s.Arch.Syscall.Trap...)
	} else if stub, err = buildStub(s.Arch, tid, addr, orNil(th.dying, resume)); err != nil {
		return Result{}, s.threadErr(tid, "building the stub", err)
	}
	if err := s.WriteMemory(addr, stub); err != nil {
		return Result{}, err
	}
	if err := ptrace(unix.PTRACE_SETOPTIONS, tid, 0, unix.PTRACE_O_TRACECLONE|unix.PTRACE_O_TRACESYSGOOD); err != nil {
		return Result{}, s.threadErr(tid, "setting ptrace options", err)
	}
	r := *resume
	a := regsToArch(&r)
	a.PC = addr
	a.Set(s.Arch.Syscall.Nr, uint64(nr))
	for i, reg := range s.Arch.Syscall.Args {
		v := uint64(0)
		if i < len(args) {
			v = args[i]
		}
		a.Set(reg, v)
	}
	archToRegs(a, &r)
	prepareSyscall(&r)
	if err := setRegs(tid, &r); err != nil {
		return Result{}, s.threadErr(tid, "writing registers", err)
	}
	if err := suppressRestart(tid, &r); err != nil {
		return Result{}, s.threadErr(tid, "cancelling the system call restart", err)
	}
	s.Injections++
	var res Result
	interrupted := false
	for {
		th.ts.stopped = false
		if err := ptrace(unix.PTRACE_SYSCALL, tid, 0, 0); err != nil {
			th.ts.stopped = true
			return Result{}, s.threadErr(tid, "resuming", err)
		}
		ev, err := s.waitThread(th, true)
		if errors.Is(err, ErrInterrupted) && !interrupted {
			// Ctrl-C during a blocking call: interrupt it; its exit
			// stop follows, and the registers are restored below.
			interrupted = true
			ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0)
			ev, err = s.waitThread(th, false)
		}
		if err != nil {
			return Result{}, err
		}
		if !ev.sysStop {
			if ev.event == 0 && ev.sig != syscall.SIGTRAP && ev.sig != 0 {
				// A signal for the target: deliver it after detach.
				s.keepSignal(th, ev.sig)
			}
			if interrupted {
				break
			}
			continue
		}
		op, err := syscallOp(tid)
		if err != nil {
			return Result{}, s.threadErr(tid, "reading the system call stop", err)
		}
		if op != unix.PTRACE_SYSCALL_INFO_EXIT {
			continue
		}
		var out unix.PtraceRegs
		if err := getRegs(tid, &out); err != nil {
			return Result{}, s.threadErr(tid, "reading registers", err)
		}
		o := regsToArch(&out)
		ret, _ := o.Get(s.Arch.Syscall.Ret)
		flag, _ := o.Get(s.Arch.Syscall.ErrReg)
		res.Raw = ret
		res.Value, res.Errno = s.Arch.Decode(ret, flag)
		if isRestart(res.Errno) && !interrupted {
			// A signal interrupted the injected call; the kernel
			// restarts it once the signal stop is over.
			continue
		}
		break
	}
	if err := s.setResume(th); err != nil {
		return Result{}, err
	}
	if interrupted {
		return res, &Error{Msg: fmt.Sprintf("interrupted while thread %d of PID %d ran the system call; its registers were restored", tid, s.Pid), Err: ErrInterrupted}
	}
	return res, nil
}

func isRestart(errno int) bool {
	switch errno {
	case arch.ERESTARTSYS, arch.ERESTARTNOINTR, arch.ERESTARTNOHAND, arch.ERESTART_RESTARTBLOCK:
		return true
	}
	return false
}

// probeRestart finds the state of a thread stopped in a system call on an
// arch whose register file does not show how the kernel will restart it:
// it lets the thread restart the call, catches it at the call's entry,
// takes the number and arguments from there and cancels the call. It
// returns the registers that, set on the thread, make it restart exactly
// as the kernel would have.
func (s *Session) probeRestart(th *sthread, stop *unix.PtraceRegs) (unix.PtraceRegs, error) {
	tid := th.ts.th.TID
	a := regsToArch(stop)
	insn := make([]byte, len(s.Arch.Syscall.Insn))
	if err := s.ReadMemory(a.PC, insn); err != nil || string(insn) != string(s.Arch.Syscall.Insn) {
		// Not about to (re)execute a system call: nothing to restart.
		return *stop, nil
	}
	if err := ptrace(unix.PTRACE_SETOPTIONS, tid, 0, unix.PTRACE_O_TRACECLONE|unix.PTRACE_O_TRACESYSGOOD); err != nil {
		return *stop, s.threadErr(tid, "setting ptrace options", err)
	}
	var entry, out unix.PtraceRegs
	interrupt, resumed := false, false
	for phase := 0; phase < 2; {
		if !resumed {
			th.ts.stopped = false
			if err := ptrace(unix.PTRACE_SYSCALL, tid, 0, 0); err != nil {
				th.ts.stopped = true
				return *stop, s.threadErr(tid, "resuming", err)
			}
		}
		resumed = false
		ev, err := s.waitThread(th, false)
		if err != nil {
			return *stop, err
		}
		if !ev.sysStop {
			if ev.event == 0 && ev.sig != syscall.SIGTRAP && ev.sig != 0 {
				s.keepSignal(th, ev.sig)
			}
			continue
		}
		if phase == 0 {
			// At the entry of the restarted call: everything is visible.
			// Point the thread back at the system call instruction with
			// the call's number and arguments, and cancel the call: the
			// thread then leaves the kernel in exactly the state that
			// restarts it, even if taiji died right now.
			if err := getRegs(tid, &entry); err != nil {
				return *stop, s.threadErr(tid, "reading registers", err)
			}
			e := regsToArch(&entry)
			out = *stop
			o := regsToArch(&out)
			for _, reg := range append([]int{s.Arch.Syscall.Nr}, s.Arch.Syscall.Args...) {
				if v, ok := e.Get(reg); ok {
					o.Set(reg, v)
				}
			}
			o.PC = e.PC - uint64(len(s.Arch.Syscall.Insn))
			archToRegs(o, &out)
			if rs, ok := s.Arch.SyscallNumber("restart_syscall"); ok {
				if v, _ := e.Get(s.Arch.Syscall.Nr); v == uint64(rs) {
					// The call continues through restart_syscall and the
					// restart block the kernel keeps for the thread. A stub
					// that restores registers with rt_sigreturn (arm64)
					// clears that block, so if taiji died mid-injection the
					// restart would fail with EINTR: there the stub restarts
					// the original call from its beginning instead.
					d := out
					dr := regsToArch(&d)
					if v, ok := a.Get(s.Arch.Syscall.Nr); ok {
						dr.Set(s.Arch.Syscall.Nr, v)
					}
					archToRegs(dr, &d)
					th.dying = &d
				}
			}
			c := out
			err := cancelSyscall(tid, &c)
			if errors.Is(err, errCancelShows) {
				// Skipping the call would show in the registers the
				// thread returns with if taiji died now. Let the call
				// run instead and interrupt it: it stops at its exit
				// with either its work done or -ERESTART* again, and
				// the kernel, not taiji, restarts it if taiji dies.
				interrupt = true
			} else if err != nil {
				return *stop, s.threadErr(tid, "cancelling the restarted system call", err)
			}
		} else if interrupt {
			var x unix.PtraceRegs
			if err := getRegs(tid, &x); err != nil {
				return *stop, s.threadErr(tid, "reading registers", err)
			}
			xr := regsToArch(&x)
			ret, _ := xr.Get(s.Arch.Syscall.Ret)
			flag, _ := xr.Get(s.Arch.Syscall.ErrReg)
			if _, errno := s.Arch.Decode(ret, flag); !isRestart(errno) {
				// The call finished before the interrupt: nothing
				// to restart.
				out, th.dying = x, nil
			}
		}
		phase++
		if phase == 1 && interrupt {
			th.ts.stopped = false
			if err := ptrace(unix.PTRACE_SYSCALL, tid, 0, 0); err != nil {
				th.ts.stopped = true
				return *stop, s.threadErr(tid, "resuming", err)
			}
			if err := ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0); err != nil {
				return *stop, s.threadErr(tid, "interrupting", err)
			}
			resumed = true
		}
	}
	return out, nil
}

// errCancelShows is cancelSyscall's answer on arches where skipping a call
// at its entry changes a register the thread returns to user space with
// (riscv64, loong64: the call number -1 stays in a7).
var errCancelShows = errors.New("proc: cancelling a system call shows in the registers")

func orNil(a, b *unix.PtraceRegs) *unix.PtraceRegs {
	if a != nil {
		return a
	}
	return b
}

// syscallOp tells a syscall-entry stop from a syscall-exit stop.
func syscallOp(tid int) (uint8, error) {
	var info [128]byte
	_, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid),
		uintptr(len(info)), uintptr(unsafe.Pointer(&info[0])), 0, 0)
	if e != 0 {
		return 0, e
	}
	return info[0], nil
}

// waitThread waits for the next stop of a resumed thread. It polls, so
// that SIGINT/SIGTERM can end the wait (ErrInterrupted when interruptible).
func (s *Session) waitThread(th *sthread, interruptible bool) (stopEvent, error) {
	tid := th.ts.th.TID
	sleep := time.Duration(0)
	start := time.Now()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			th.ts.done = true
			return stopEvent{}, s.gone(tid)
		}
		if wpid == tid {
			switch {
			case ws.Exited() || ws.Signaled():
				th.ts.done = true
				return stopEvent{}, s.gone(tid)
			case ws.Stopped():
				th.ts.stopped = true
				sig := ws.StopSignal()
				ev := stopEvent{sig: sig, event: int(uint32(ws) >> 16)}
				if sig == syscall.SIGTRAP|0x80 {
					ev.sig, ev.sysStop = syscall.SIGTRAP, true
				}
				return ev, nil
			}
			continue
		}
		if interruptible && s.f.interrupted() {
			return stopEvent{}, ErrInterrupted
		}
		// A system call takes microseconds: spin with sched_yield for
		// the first 100 µs, then back off from 10 µs up to a millisecond.
		if spun := time.Since(start); spun < 100*time.Microsecond {
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			continue
		}
		if sleep == 0 {
			sleep = 10 * time.Microsecond
		}
		ts := unix.NsecToTimespec(int64(sleep))
		unix.Nanosleep(&ts, nil)
		if sleep < time.Millisecond {
			sleep *= 2
		}
	}
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

// Detach unmaps taiji's stub page, removes breakpoints, and resumes every
// thread with its registers as they were (system calls interrupted by the
// attach restart) and the signals that arrived meanwhile. It returns the
// first error but always resumes every thread it can.
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
		for addr, orig := range s.bps {
			keep(s.WriteMemory(addr, orig))
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
	signal.Stop(s.sigc)
	s.t.Close()
	return first
}

func (s *Session) anyThread() *sthread {
	for _, tid := range s.order {
		if th := s.threads[tid]; th.ts.stopped {
			return th
		}
	}
	return nil
}

// Interrupted reports whether SIGINT or SIGTERM arrived during the session.
func (s *Session) Interrupted() bool { return s.f.interrupted() }
