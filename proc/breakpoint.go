package proc

import (
	"errors"
	"fmt"
	"sort"
)

// Breakpoint is a physical software breakpoint: the arch's trap
// instruction (arch.SyscallABI.Trap) planted at Addr over the bytes Orig.
// Refs counts the users of the address: two breakpoints of a debugger at one
// address, or a debugger's and a temporary one, share it, and the trap goes
// only when the last is cleared. Ids, conditions and hit counts belong to
// the layer above.
type Breakpoint struct {
	Addr uint64
	Orig []byte
	Refs int
}

// ReadMemory reads len(p) bytes at addr. Breakpoints do not show: where a
// trap is planted, p holds the bytes it replaced.
func (s *Session) ReadMemory(addr uint64, p []byte) error {
	if err := s.readRaw(addr, p); err != nil {
		return err
	}
	s.shadow(addr, p, func(bp *Breakpoint, mem, orig []byte) { copy(mem, orig) })
	return nil
}

// WriteMemory writes p at addr, through /proc/PID/mem, so read-only code
// pages can be patched (the kernel copies the page for this process). A
// write over a breakpoint changes the instruction the breakpoint stands
// for: its trap stays planted, and stepping over it runs the new bytes.
func (s *Session) WriteMemory(addr uint64, p []byte) error {
	if err := s.writeRaw(addr, p); err != nil {
		return err
	}
	var err error
	s.shadow(addr, p, func(bp *Breakpoint, mem, orig []byte) {
		copy(orig, mem)
		if s.lifted {
			return
		}
		if werr := s.writeRaw(bp.Addr, s.Arch.Syscall.Trap); werr != nil && err == nil {
			err = werr
		}
	})
	return err
}

// shadow calls f for every breakpoint overlapping [addr, addr+len(p)),
// with the overlapping parts of p and of the breakpoint's saved bytes.
func (s *Session) shadow(addr uint64, p []byte, f func(bp *Breakpoint, mem, orig []byte)) {
	if len(s.bps) == 0 {
		return
	}
	end := addr + uint64(len(p))
	for _, bp := range s.bps {
		bend := bp.Addr + uint64(len(bp.Orig))
		if bend <= addr || bp.Addr >= end {
			continue
		}
		lo, hi := max(addr, bp.Addr), min(end, bend)
		f(bp, p[lo-addr:hi-addr], bp.Orig[lo-bp.Addr:hi-bp.Addr])
	}
}

func (s *Session) readRaw(addr uint64, p []byte) error {
	n, err := s.mem.ReadAt(p, int64(addr))
	if n == len(p) {
		return nil
	}
	return fmt.Errorf("proc: PID %d: reading %d bytes at %#x: %w", s.Pid, len(p), addr, memErr(err))
}

// writeRaw writes from the tracer thread. A kernel built with
// CONFIG_PROC_MEM_FORCE_PTRACE (or booted with
// proc_mem.force_override=ptrace; Linux 6.12 and later, Debian's loong64
// kernels) lets a /proc/PID/mem write reach a read-only mapping, such as
// the code a breakpoint goes into, only when it comes from the thread the
// process is ptrace-attached to (fs/proc/base.c, proc_mem_foll_force:
// task->parent == current); from any other thread it fails with EIO.
func (s *Session) writeRaw(addr uint64, p []byte) error {
	var (
		n   int
		err error
	)
	write := func() { n, err = s.mem.WriteAt(p, int64(addr)) }
	if s.t.onThread() {
		write()
	} else {
		s.t.Do(write)
	}
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

// SetBreakpoint plants the arch's trap instruction at addr, or adds a
// reference to the breakpoint already there. addr must be aligned to the
// arch's instruction size and readable.
func (s *Session) SetBreakpoint(addr uint64) error {
	if s.detached || s.exited {
		return s.over()
	}
	return s.insertBP(addr)
}

func (s *Session) insertBP(addr uint64) error {
	if bp := s.bps[addr]; bp != nil {
		bp.Refs++
		return nil
	}
	trap := s.Arch.Syscall.Trap
	if a := uint64(s.Arch.Syscall.InsnAlign); a > 1 && addr%a != 0 {
		return fmt.Errorf("proc: breakpoint address %#x is not %d-byte aligned", addr, a)
	}
	for a := range s.bps {
		if a < addr+uint64(len(trap)) && addr < a+uint64(len(trap)) {
			return fmt.Errorf("proc: breakpoint address %#x overlaps the breakpoint at %#x", addr, a)
		}
	}
	orig := make([]byte, len(trap))
	if err := s.readRaw(addr, orig); err != nil {
		return err
	}
	if !s.lifted {
		if err := s.writeRaw(addr, trap); err != nil {
			return err
		}
	}
	s.bps[addr] = &Breakpoint{Addr: addr, Orig: orig, Refs: 1}
	return nil
}

// ClearBreakpoint drops one reference to the breakpoint at addr and, with
// the last, puts back the bytes it replaced.
func (s *Session) ClearBreakpoint(addr uint64) error {
	bp := s.bps[addr]
	if bp == nil {
		return fmt.Errorf("proc: no breakpoint at %#x", addr)
	}
	if bp.Refs > 1 {
		bp.Refs--
		return nil
	}
	if !s.exited && !s.detached {
		// A thread may have taken this trap without reporting it yet:
		// consume its SIGTRAP while the trap is still there to explain it.
		var err error
		s.t.Do(func() { err = s.drainTraps() })
		if err != nil {
			return err
		}
	}
	return s.removeBP(addr)
}

// removeBP drops one reference to the breakpoint at addr, restoring the
// bytes with the last.
func (s *Session) removeBP(addr uint64) error {
	bp := s.bps[addr]
	if bp == nil {
		return nil
	}
	if bp.Refs--; bp.Refs > 0 {
		return nil
	}
	delete(s.bps, addr)
	if s.exited {
		return nil
	}
	return s.writeRaw(addr, bp.Orig)
}

// Breakpoints returns the planted breakpoints in address order (copies).
func (s *Session) Breakpoints() []Breakpoint {
	out := make([]Breakpoint, 0, len(s.bps))
	for _, bp := range s.bps {
		out = append(out, Breakpoint{Addr: bp.Addr, Orig: append([]byte(nil), bp.Orig...), Refs: bp.Refs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// over is the error for a session whose process is gone or released.
func (s *Session) over() error {
	if s.exited {
		return &Error{Msg: fmt.Sprintf("PID %d has exited", s.Pid), Err: ErrExited}
	}
	return errors.New("proc: session already detached")
}
