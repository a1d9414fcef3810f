package arch

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/internal/suggest"
)

//go:generate go run gen_systables.go

// SyscallABI is how a thread of an architecture makes a Linux system call,
// how a debugger plants a software breakpoint, and what the kernel does to
// a system call interrupted by a ptrace stop. proc's injection engine is
// written against these fields; only the layout of the kernel's register
// file lives in proc.
type SyscallABI struct {
	// Insn is the system call instruction ("syscall", "svc #0", ...).
	Insn []byte
	// Trap is the software breakpoint instruction, and TrapPC how far past
	// its address the PC is when the tracer sees the SIGTRAP (x86's int3
	// reports the next instruction; arm64 brk and mips break report the
	// trap itself).
	Trap   []byte
	TrapPC int
	// InsnAlign is the alignment instructions need (1 on x86).
	InsnAlign int

	// DWARF numbers of the registers carrying the call number, the
	// arguments (in order) and the result.
	Nr   int
	Args []int
	Ret  int
	// ErrReg, when >= 0, is the DWARF number of a register whose ErrMask
	// bits flag a failed call whose Ret is the positive errno (mips: a3 != 0;
	// ppc64: the summary-overflow bit of CR0). When -1, a failed call returns
	// -errno in Ret, as on most arches.
	ErrReg  int
	ErrMask uint64

	// Restart says what the kernel leaves in the registers of a thread
	// stopped while a system call was interrupted, and so how proc puts the
	// thread back so that the call resumes exactly as it would have.
	Restart Restart

	// SingleStep is true where the kernel implements PTRACE_SINGLESTEP.
	SingleStep bool
	// StepSigCode is the si_code of the SIGTRAP a single step raises
	// where it is not TRAP_TRACE (2): s390x's PER event raises
	// TRAP_HWBKPT (4, arch/s390/kernel/traps.c do_per_trap). Taken for a
	// breakpoint's, a step over a 2-byte instruction under a breakpoint
	// there, whose PC then equals the trap's, sent the thread back onto
	// the breakpoint for ever.
	StepSigCode int
	// StepBranchesByTrap is set where a single step of a taken branch
	// cannot be trusted: s390x under Debian 12's qemu 7.2, whose PER
	// emulation reports a non-nullifying event at the instruction's own
	// address plus its length, the fall-through, so the thread resumes
	// there as if the branch (a call, a return) had not been taken. A
	// debugger steps a branch by planting traps where it can go
	// (disasm.BranchTargets) instead; on hardware that is merely slower.
	StepBranchesByTrap bool
	// NextPCs, where the kernel has no single-step, decodes the
	// instruction insn (in the arch's byte order) at pc and returns every
	// address the thread can be at once it ran (with its delay slot, for a
	// branch); reg reads a register by DWARF number. A tracer steps by
	// planting traps there. Nil where not implemented.
	NextPCs func(insn uint32, pc uint64, reg func(int) uint64) []uint64
	// MmapArgBlock is true where mmap takes a pointer to its six
	// arguments in memory (s390x's old_mmap) instead of six registers.
	MmapArgBlock bool
}

// Restart is a kernel's way of restarting a system call interrupted by a
// stop that delivers no signal (arch_do_signal_or_restart / do_signal).
type Restart int

const (
	// RestartOrigReg: at the stop, Ret holds -ERESTART* and a register
	// outside the DWARF set keeps the call number (x86 orig_rax, ppc64
	// orig_gpr3 via the trap word); the kernel rewinds the PC by len(Insn)
	// after the stop, so a tracer can replay that rewind itself.
	RestartOrigReg Restart = iota
	// RestartSavedRegs: mips. The stop shows the positive ERESTART* in v0;
	// regs[0] holds the call number and regs[26] (k0) the original a3, and
	// the kernel rewinds EPC by 4 after the stop.
	RestartSavedRegs
	// RestartProbe: the state needed to replay the restart is not in the
	// register file at the stop (arm64 rewinds the PC and forgets the error
	// before the stop; riscv64 keeps orig_a0 out of the regset).
	// proc lets the kernel do the restart and catches the thread at the
	// entry of the restarted call, where everything is visible.
	RestartProbe
)

func (r Restart) String() string {
	switch r {
	case RestartOrigReg:
		return "orig-reg"
	case RestartSavedRegs:
		return "saved-regs"
	case RestartProbe:
		return "probe"
	}
	return "Restart(" + strconv.Itoa(int(r)) + ")"
}

// Kernel-internal error numbers of interrupted system calls
// (include/linux/errno.h); never seen by user space.
const (
	ERESTARTSYS           = 512
	ERESTARTNOINTR        = 513
	ERESTARTNOHAND        = 514
	ERESTART_RESTARTBLOCK = 516
)

// sysTable is one arch's generated tables (ztables.go).
type sysTable struct {
	syscalls, errnos, signals, consts map[string]uint64
}

// tableCache holds each arch's tables, built on first use.
var tableCache sync.Map // arch name -> *sysTable

func (a *Arch) tables() *sysTable {
	if t, ok := tableCache.Load(a.Name); ok {
		return t.(*sysTable)
	}
	t := &sysTable{}
	if build := sysTables[a.Name]; build != nil {
		t = build()
	}
	v, _ := tableCache.LoadOrStore(a.Name, t)
	return v.(*sysTable)
}

// SyscallNumber returns the number of the named system call ("getpid",
// "mmap"; lower case, no SYS_ prefix) on this arch.
func (a *Arch) SyscallNumber(name string) (int, bool) {
	n, ok := a.tables().syscalls[strings.ToLower(name)]
	return int(n), ok
}

// SyscallName returns the name of system call nr, or "" if unknown.
func (a *Arch) SyscallName(nr int) string {
	return reverse(a.tables().syscalls, uint64(nr))
}

// SyscallNames lists every system call name of this arch, sorted.
func (a *Arch) SyscallNames() []string { return keys(a.tables().syscalls) }

// Errno returns the number of the named errno ("EBADF") on this arch.
func (a *Arch) Errno(name string) (int, bool) {
	n, ok := a.tables().errnos[name]
	return int(n), ok
}

// ErrnoName returns the name of errno n on this arch ("EBADF"), or "".
// Where two names share a number (EAGAIN, EWOULDBLOCK) the one first in
// alphabetical order wins, except that the POSIX spellings EAGAIN,
// EDEADLK and ENOTSUP are preferred.
func (a *Arch) ErrnoName(n int) string {
	t := a.tables().errnos
	for _, pref := range []string{"EAGAIN", "EDEADLK", "EOPNOTSUPP"} {
		if v, ok := t[pref]; ok && v == uint64(n) {
			return pref
		}
	}
	return reverse(t, uint64(n))
}

// Signal returns the number of the named signal ("SIGUSR1") on this arch.
func (a *Arch) Signal(name string) (int, bool) {
	n, ok := a.tables().signals[name]
	return int(n), ok
}

// Const returns the value of a named flag constant (O_RDONLY, PROT_READ,
// MAP_ANONYMOUS, ...) on this arch, sign-extended as the kernel reads it.
func (a *Arch) Const(name string) (uint64, bool) {
	v, ok := a.tables().consts[name]
	return v, ok
}

// Decode interprets a system call's raw result: the return value, or the
// errno when the call failed, according to the arch's convention. ret is
// the Ret register, flag the ErrReg register (ignored where ErrReg is -1).
func (a *Arch) Decode(ret, flag uint64) (value int64, errno int) {
	s := &a.Syscall
	if s.ErrReg >= 0 {
		if flag&s.ErrMask != 0 {
			return -1, int(ret)
		}
		return int64(ret), 0
	}
	if v := int64(ret); v < 0 && v >= -4095 {
		return -1, int(-v)
	}
	return int64(ret), 0
}

// ParseSyscall resolves a system call given by name or number. For an
// unknown name the error suggests the nearest names.
func (a *Arch) ParseSyscall(s string) (nr int, name string, err error) {
	if n, err := strconv.ParseUint(s, 0, 32); err == nil {
		return int(n), a.SyscallName(int(n)), nil
	}
	if n, ok := a.SyscallNumber(s); ok {
		return n, strings.ToLower(s), nil
	}
	msg := fmt.Sprintf("unknown system call %q on %s", s, a.Name)
	if near := suggest.Near(s, a.SyscallNames(), 3); len(near) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, ", "))
	}
	return 0, "", fmt.Errorf("%s", msg)
}

// ParseArg parses an integer argument: decimal, 0x hex, 0 octal, negative,
// or constants (O_RDONLY, PROT_READ|PROT_WRITE, SIGUSR1) joined by '|'.
func (a *Arch) ParseArg(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty argument")
	}
	var v uint64
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		if n, err := strconv.ParseInt(part, 0, 64); err == nil {
			v |= uint64(n)
			continue
		}
		if n, err := strconv.ParseUint(part, 0, 64); err == nil {
			v |= n
			continue
		}
		if c, ok := a.Const(part); ok {
			v |= c
			continue
		}
		if n, ok := a.Signal(part); ok {
			v |= uint64(n)
			continue
		}
		return 0, fmt.Errorf("%q is neither a number nor a known constant on %s", part, a.Name)
	}
	return v, nil
}

func reverse(m map[string]uint64, v uint64) string {
	best := ""
	for k, x := range m {
		if x == v && (best == "" || k < best) {
			best = k
		}
	}
	return best
}

func keys(m map[string]uint64) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// StepTrapCode returns the si_code of a single step's SIGTRAP:
// StepSigCode, else trapTrace, the kernel's TRAP_TRACE.
func (s *SyscallABI) StepTrapCode(trapTrace int) int {
	if s.StepSigCode != 0 {
		return s.StepSigCode
	}
	return trapTrace
}
