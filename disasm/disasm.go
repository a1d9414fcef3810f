// Package disasm decodes machine code just far enough for taiji's probes:
// instruction boundaries, which instructions return, and where a Go
// function's stack-bound check ends. It wraps golang.org/x/arch's decoders,
// chosen by architecture name from a table, so supporting an architecture
// means adding one entry to it.
package disasm

import (
	"fmt"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/errs"
)

// Kind classifies an instruction by its effect on control flow.
type Kind uint8

const (
	Other    Kind = iota
	Ret           // returns to the caller
	Call          // calls a function
	Jump          // unconditional jump (inside the function or a tail call)
	CondJump      // conditional branch
)

// Inst is one decoded instruction.
type Inst struct {
	Addr   uint64
	Len    int
	Kind   Kind
	Target uint64 // destination of a direct Call, Jump or CondJump; 0 if indirect
	Text   string // Go assembler syntax
	Raw    []byte // the instruction's bytes
}

// ErrUnsupported is returned for architectures without a decoder here. It
// wraps errors.ErrUnsupported, which matches every taiji package's "not
// supported" error (see internal/errs).
var ErrUnsupported = errs.Unsupported("disasm: architecture not supported")

// A FormatError reports bytes that do not decode as an instruction: where
// they are, what is wrong and the decoder's error, if any (see Unwrap).
// Probing code taiji cannot decode is refused: a probe placed inside an
// instruction would corrupt the target. Unlike the other packages'
// FormatErrors the place is a virtual address, not a section offset: code
// is decoded from a target's memory as well as from files.
type FormatError struct {
	Addr uint64 // virtual address of the first byte that does not decode
	Msg  string
	Err  error // the decoder's error, or nil
}

func (e *FormatError) Error() string {
	return errs.Format("disasm", "", fmt.Sprintf("cannot decode instruction at %#x", e.Addr), -1, e.Msg, e.Err)
}

// Unwrap returns the decoder's error, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// decoder decodes the instruction at the start of code, found at addr.
type decoder struct {
	decode func(code []byte, addr uint64) (Inst, error)
	// stackCheckEnd finds the end of a Go prologue's stack-bound check.
	stackCheckEnd func(insts []Inst, a *arch.Arch) (uint64, bool)
	// branchTargets, where set, is BranchTargets for the arch.
	branchTargets func(in Inst, reg func(int) uint64) ([]uint64, bool)
}

var decoders = map[string]decoder{
	"amd64":   {decodeX86, x86StackCheckEnd, nil},
	"arm64":   {decodeARM64, arm64StackCheckEnd, nil},
	"ppc64le": {decodePPC64, ppc64StackCheckEnd, nil},
	"riscv64": {decodeRISCV64, riscv64StackCheckEnd, nil},
	"s390x":   {decodeS390X, s390xStackCheckEnd, s390xBranchTargets},
}

// BranchTargets returns where the branch instruction at the start of code,
// found at addr, can leave the thread once it ran: its fall-through and its
// target, which for a branch to a register or a base-displacement address
// is computed from reg (a register by DWARF number, before the
// instruction runs). ok is false for an instruction that is no branch
// (nor a call or return), one whose target it cannot compute (one read
// from memory), and arches without this analysis
// (arch.SyscallABI.StepBranchesByTrap says which need it).
func BranchTargets(a *arch.Arch, code []byte, addr uint64, reg func(int) uint64) ([]uint64, bool) {
	d, err := lookup(a)
	if err != nil || d.branchTargets == nil {
		return nil, false
	}
	in, err := d.decode(code, addr)
	if err != nil || in.Kind == Other {
		return nil, false
	}
	return d.branchTargets(in, reg)
}

// Supports reports whether a has a decoder here.
func Supports(a *arch.Arch) bool {
	_, ok := decoders[a.Name]
	return ok
}

func lookup(a *arch.Arch) (decoder, error) {
	d, ok := decoders[a.Name]
	if !ok {
		return decoder{}, fmt.Errorf("%w: %s", ErrUnsupported, a.Name)
	}
	return d, nil
}

// Decode decodes all of code, which is found at address addr. It stops with
// a *FormatError at the first byte sequence that is not an instruction.
func Decode(a *arch.Arch, code []byte, addr uint64) (insts []Inst, err error) {
	d, err := lookup(a)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Last line of defense around the x/arch decoders: bad input must
		// be an error, never a crash of taiji.
		if r := recover(); r != nil {
			insts, err = nil, &FormatError{Addr: addr, Msg: fmt.Sprint("decoder panic: ", r)}
		}
	}()
	for off := 0; off < len(code); {
		in, err := d.decode(code[off:], addr+uint64(off))
		if err != nil {
			return insts, err
		}
		insts = append(insts, in)
		off += in.Len
	}
	return insts, nil
}

// Rets returns the addresses of the return instructions in code, which is
// found at addr.
func Rets(a *arch.Arch, code []byte, addr uint64) ([]uint64, error) {
	insts, err := Decode(a, code, addr)
	if err != nil {
		return nil, err
	}
	var rets []uint64
	for _, in := range insts {
		if in.Kind == Ret {
			rets = append(rets, in.Addr)
		}
	}
	return rets, nil
}

// GoStackCheckEnd returns the address of the first instruction after the
// stack-bound check that starts a Go function (compare SP with
// g.stackguard0, branch to the morestack call). A probe there fires once per
// call: when the stack must grow, the function calls runtime.morestack, which
// copies the stack and jumps back to the function's first instruction, so
// a probe on that instruction would fire twice. ok is false for functions
// without a check (NOSPLIT and small leaf functions), whose first
// instruction then is the entry.
func GoStackCheckEnd(a *arch.Arch, insts []Inst) (addr uint64, ok bool) {
	d, err := lookup(a)
	if err != nil || len(insts) == 0 || a.GoG < 0 {
		return 0, false
	}
	return d.stackCheckEnd(insts, a)
}

// prologueWindow bounds how far into a function the stack check may start.
// Go emits it first; huge frames need a few instructions to compute SP-n.
const prologueWindow = 6

// Offsets in runtime.g, on 64-bit targets, of stackguard0 (what Go
// prologues compare SP with) and stackguard1 (C stacks, used by
// systemstack-only functions): they follow g.stack, a {lo, hi uintptr},
// and have kept these offsets in every Go release (runtime/runtime2.go).
const (
	gStackguard0 = 16
	gStackguard1 = 24
)

// isStackguard reports whether off, a displacement from the g register,
// reads g.stackguard0 or g.stackguard1.
func isStackguard(off int64) bool { return off == gStackguard0 || off == gStackguard1 }
