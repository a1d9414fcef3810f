package proc

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

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
		if err := s.writeRaw(block, b); err != nil {
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
	if err := s.writeRaw(addr, stub); err != nil {
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
		// Once interrupted, the call's exit is waited for come what may:
		// returning with the thread still running in the stub would leave
		// it there once the patch area's bytes are put back.
		ev, err := s.waitThread(th, !interrupted)
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
			// At the entry of the restarted call: its number is visible.
			// Point the thread back at the system call instruction with
			// that number, and cancel the call: the thread then leaves
			// the kernel in exactly the state that restarts it, even if
			// taiji died right now. The arguments are the stop's: the
			// kernel rewound them before the stop (a0 from orig_a0,
			// x0 from orig_x0), and at the entry riscv64 and loong64
			// already hold -ENOSYS in a0, the first argument living on
			// in orig_a0, which no regset shows. Taken from the entry,
			// a restarted clock_nanosleep ran with clock -ENOSYS (a CPU
			// clock nobody advances) and never returned.
			if err := getRegs(tid, &entry); err != nil {
				return *stop, s.threadErr(tid, "reading registers", err)
			}
			e := regsToArch(&entry)
			out = *stop
			o := regsToArch(&out)
			if v, ok := e.Get(s.Arch.Syscall.Nr); ok {
				o.Set(s.Arch.Syscall.Nr, v)
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
