// Package arch describes each CPU architecture taiji supports as plain data:
// DWARF register numbering, the registers an unwinder cares about, the Go
// runtime's frame conventions and the kernel's signal-frame layout.
//
// Nothing here depends on the host: any host can analyse any architecture's
// binary. Code elsewhere asks an *Arch value instead of switching on GOARCH,
// so adding an architecture means adding one file to this package (and one
// register-conversion file under proc/ for live processes).
package arch

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"go/version"
	"runtime"
	"sort"
)

// MaxRegs bounds the DWARF register numbers an unwinder tracks. Callee-saved
// registers of every supported ABI (including arm64's d8-d15 at 72-79) fit;
// rules for higher-numbered registers are ignored, as they never hold a
// value the unwinder needs to continue.
const MaxRegs = 128

// Arch is one architecture, described as data.
type Arch struct {
	Name      string // GOARCH spelling: "amd64", "arm64", "mips64le", ...
	PtrSize   int
	ByteOrder binary.ByteOrder
	Machine   elf.Machine

	// DWARF register numbers. LR is -1 where calls push the return address.
	SP, FP, LR int
	// CFABias is how far the CFA lies above the caller's SP at the call:
	// s390x's 160-byte register save area, which the caller keeps for its
	// callee (the CIE's def_cfa r15+160 at entry); 0 elsewhere. The
	// caller's SP is CFA-CFABias where the CFI has no rule for it.
	CFABias int64
	// PC is the DWARF number of the program counter where the psABI gives
	// it one (x86-64 rip 16, arm64 pc 32), else 0 (no arch numbers its PC
	// 0). CFI expressions may read it: glibc's .plt CFI computes the CFA
	// from rip. Its value is Regs.PC, not a slot of Regs.R.
	PC int
	// RegNames maps DWARF register numbers to assembler names (for display).
	RegNames map[int]string

	// GoUsesLR is true where Go's calling convention keeps the return address
	// in a link register; Go then saves it at 0(SP) of a non-leaf frame.
	// Where false, the CALL instruction pushes it just below the caller's SP.
	GoUsesLR bool
	// GoG is the DWARF number of the register holding the current g under
	// ABIInternal, or -1 where the arch has no dedicated g register.
	GoG int

	// GoCgoCall, where known, says how runtime.asmcgocall left the
	// goroutine's stack to run C code on the system stack, so the unwinder
	// can return to the goroutine's frames; nil: stacks end there.
	GoCgoCall *GoCgoCall

	// SigFrame describes how the kernel lays out the interrupted context for
	// a signal handler, as seen from the signal trampoline's frame.
	SigFrame SigFrame

	// CoreRegs describes elf_gregset_t, the general registers an ELF core
	// keeps in each thread's NT_PRSTATUS (pr_reg) and PTRACE_GETREGSET
	// returns for NT_PRSTATUS: slot i, PtrSize bytes in ByteOrder, holds
	// DWARF register CoreRegs[i], or the PC (SlotPC), the thread pointer
	// (SlotTLS) or nothing an unwinder uses (SlotSkip). The kernel's
	// arch/*/include/uapi/asm/ptrace.h (user_regs_struct, user_pt_regs,
	// pt_regs) gives the order; len(CoreRegs) is ELF_NGREG.
	CoreRegs []int
	// CoreRegsets are the register-set notes a core keeps per thread
	// besides NT_PRSTATUS and NT_FPREGSET (PTRACE_GETREGSET types, named
	// "LINUX" in the core): the vector state, the thread pointer where
	// NT_PRSTATUS lacks it. taiji dump writes those the kernel gives.
	CoreRegsets []elf.NType

	// ---- Go ABIInternal, C calling convention, uprobe context (trace, goabi) ----

	// GoIntArgs and GoFloatArgs are ABIInternal's integer and floating-point
	// argument/result registers in assignment order (DWARF numbers); both
	// empty where Go uses the stack-only ABI0 on this arch.
	GoIntArgs, GoFloatArgs []int
	// GoRegABI is the first Go release ("go1.17") whose ABIInternal passes
	// arguments in registers here; binaries built by older toolchains use ABI0.
	GoRegABI string
	// GoStackArgs is the offset from SP at function entry to the first
	// stack-assigned argument (past the return address or its reserved slot).
	GoStackArgs int64
	// CIntArgs and CIntResults are the platform C ABI's integer argument and
	// result registers (DWARF numbers), in order.
	CIntArgs, CIntResults []int
	// PtRegs maps DWARF register numbers to byte offsets in the kernel's
	// struct pt_regs, which is what a uprobe's eBPF program receives;
	// PtRegsSize is that struct's size. Nil where unknown.
	PtRegs     map[int]int
	PtRegsSize int
	// PtRegsSP is the offset of the stack pointer in struct pt_regs.
	PtRegsSP int
	// GoEntryProbeOnCheckBranch puts a Go function's entry probe on the
	// conditional branch of its stack-bound check, with the re-entry after
	// morestack dropped in the probe (trace's dedupe), instead of on the
	// first instruction of the body: where the kernel's uprobe may lose
	// what the probed instruction writes to a register, a branch writes
	// none.
	GoEntryProbeOnCheckBranch bool
	// ELFLocalEntry is set where a function symbol's st_other gives the
	// offset of its local entry point (ELFv2, ppc64le): a direct call
	// enters there, past the TOC setup a call through a pointer runs
	// first, so a probe for every call goes there (as perf probe does).
	ELFLocalEntry bool
	// UprobesUnsafe, if not "", says in one sentence why taiji trace
	// refuses this arch although it has the data above: the kernel's
	// uprobes were seen to break the programs they probe.
	UprobesUnsafe string

	// ---- System calls and breakpoints (syscall.go; proc's ptrace engine,
	// taiji inject) ----

	// Syscall is how to make a system call, plant a breakpoint and restart
	// an interrupted call on this arch.
	Syscall SyscallABI
}

// GoCgoCall describes runtime.asmcgocall's frame on the system stack, where
// the C code it runs returns to. Before switching stacks asmcgocall saves
// the goroutine's resume point in g.sched (as systemstack does) and the g
// itself in this frame, so an unwinder can continue on the goroutine stack.
type GoCgoCall struct {
	G int64 // offset of the saved g from the frame's SP (0 there: no goroutine)
	// Older lists the slots of earlier Go releases, oldest change last:
	// a release before Older[i].Before kept g at Older[i].G.
	Older []GoCgoCallSlot
}

// GoCgoCallSlot is where asmcgocall kept g before Go release Before.
type GoCgoCallSlot struct {
	Before string // a Go release, "go1.22"
	G      int64
}

// GFor returns the offset of the saved g in asmcgocall's frame for a binary
// of Go release release ("go1.21.5", "go1.21"; "" for unknown, which is
// taken as current).
func (c *GoCgoCall) GFor(release string) int64 {
	g := c.G
	if !version.IsValid(release) {
		return g
	}
	for _, o := range c.Older {
		if version.Compare(version.Lang(release), o.Before) < 0 {
			g = o.G
		}
	}
	return g
}

// SigFrame describes the saved register block the kernel pushes before
// calling a signal handler. When the unwinder reaches the trampoline the
// handler returns to, it reads the interrupted thread's registers from here.
type SigFrame struct {
	// Trampoline is the instruction sequence of the sigreturn trampoline
	// (glibc's __restore_rt, the vDSO's __kernel_rt_sigreturn, Go's
	// runtime.sigreturn__sigaction); the unwinder recognises a signal frame by
	// these bytes at the frame's PC, as gdb does, so stripped libcs work.
	Trampoline []byte
	// Regs is the offset from the trampoline frame's SP to the saved
	// general-purpose register array (inside ucontext.uc_mcontext).
	Regs int64
	// Slots maps each 8-byte slot of that array to a DWARF register number,
	// SlotPC for the program counter, or SlotSkip.
	Slots []int
	// Pop is what the trampoline adds to SP before its system call, so
	// the frame is at SP+Regs-Pop there (ppc64's addi r1,r1,128 pops the
	// gap it keeps below the frame); 0 where nothing moves SP.
	Pop int64
	// HandlerCall, where the kernel does not enter a handler directly but
	// at a trampoline that calls it, is that trampoline's code at the PC
	// the signal's delivery leaves (ppc64: the vDSO's
	// __kernel_start_sigtramp_rt64, a bctrl with CTR = the handler,
	// before the sigreturn Trampoline the handler returns to). A step
	// that delivers a signal steps once more, into the handler.
	HandlerCall []byte
}

// Special values in SigFrame.Slots and CoreRegs.
const (
	SlotPC   = -1
	SlotSkip = -2
	SlotTLS  = -3 // the thread pointer (CoreRegs only)
)

// skips returns n SlotSkip values.
func skips(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = SlotSkip
	}
	return s
}

// Regs is a register set indexed by DWARF register number, plus the PC,
// which not every arch numbers in DWARF. Known records which values are
// valid: a register whose caller-frame value CFI leaves undefined is not.
type Regs struct {
	PC    uint64
	R     [MaxRegs]uint64
	Known [MaxRegs / 64]uint64
}

// Set stores v in DWARF register n and marks it known.
func (r *Regs) Set(n int, v uint64) {
	if n < 0 || n >= MaxRegs {
		return
	}
	r.R[n] = v
	r.Known[n/64] |= 1 << (n % 64)
}

// Get returns register n and whether its value is known.
func (r *Regs) Get(n int) (uint64, bool) {
	if n < 0 || n >= MaxRegs {
		return 0, false
	}
	return r.R[n], r.Known[n/64]&(1<<(n%64)) != 0
}

// Forget marks register n unknown.
func (r *Regs) Forget(n int) {
	if n < 0 || n >= MaxRegs {
		return
	}
	r.R[n] = 0
	r.Known[n/64] &^= 1 << (n % 64)
}

// RegName returns the register's assembler name, or "rN".
func (a *Arch) RegName(n int) string {
	if s, ok := a.RegNames[n]; ok {
		return s
	}
	return fmt.Sprintf("r%d", n)
}

// RegNumber returns the DWARF number of the named register.
func (a *Arch) RegNumber(name string) (int, bool) {
	for n, s := range a.RegNames {
		if s == name {
			return n, true
		}
	}
	return 0, false
}

var all = map[string]*Arch{}

func register(a *Arch) *Arch {
	all[a.Name] = a
	return a
}

// ByName returns the architecture with the given GOARCH name.
func ByName(goarch string) (*Arch, error) {
	if a, ok := all[goarch]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("arch: unsupported architecture %q (supported: %v)", goarch, Names())
}

// ForELF returns the architecture of an ELF file's machine, class and byte order.
func ForELF(f *elf.File) (*Arch, error) {
	for _, a := range all {
		if a.Machine == f.Machine && a.ByteOrder == f.ByteOrder && (a.PtrSize == 8) == (f.Class == elf.ELFCLASS64) {
			return a, nil
		}
	}
	return nil, fmt.Errorf("arch: unsupported ELF machine %v (%v, %v)", f.Machine, f.Class, f.Data)
}

// Host is the architecture taiji was built for.
func Host() *Arch {
	a, err := ByName(runtime.GOARCH)
	if err != nil {
		panic(err) // a port without an arch file must not build silently
	}
	return a
}

// Names lists the supported architectures.
func Names() []string {
	var s []string
	for n := range all {
		s = append(s, n)
	}
	sort.Strings(s)
	return s
}

// seqNames returns names prefix0..prefix(n-1) for DWARF numbers base..base+n-1.
func seqNames(m map[int]string, base, n int, prefix string) map[int]string {
	for i := 0; i < n; i++ {
		m[base+i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return m
}

// seqSlots returns the identity slot map 0..n-1 (register i saved in slot i).
func seqSlots(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// seqInts returns base, base+1, ..., base+n-1.
func seqInts(base, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = base + i
	}
	return s
}

// seqOffsets maps DWARF registers base..base+n-1 to the consecutive 8-byte
// slots starting at byte off: the register words of a struct pt_regs.
func seqOffsets(base, n, off int) map[int]int {
	m := make(map[int]int, n)
	for i := 0; i < n; i++ {
		m[base+i] = off + 8*i
	}
	return m
}

// LocalEntry returns the offset of a function's local entry point from its
// symbol's value, given the symbol's st_other, where the arch has one
// (ELFLocalEntry), else 0. The 64-bit ELF V2 ABI (3.4.1, "Symbol Values")
// keeps it in st_other's top three bits: 0 and 1 mean the entries
// coincide, 2 to 6 an offset of 1<<v bytes; 7 is reserved.
func (a *Arch) LocalEntry(other uint8) uint64 {
	v := other >> 5
	if !a.ELFLocalEntry || v < 2 || v > 6 {
		return 0
	}
	return 1 << v
}
