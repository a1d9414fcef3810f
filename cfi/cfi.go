// Package cfi reads DWARF Call Frame Information (.eh_frame with its
// .eh_frame_hdr search table, and .debug_frame), finds the FDE covering a
// program counter, runs the CIE and FDE programs to the row for that PC, and
// applies the row to a register set to recover the caller's registers.
//
// Addresses in a Table are link-time addresses: the unwinder subtracts a
// module's load bias before Lookup. Memory read by Step and Eval is target
// memory at absolute (run-time) addresses.
//
// Parsers never panic on malformed input: they return a *FormatError naming
// the section and the byte offset of the problem. Interpretation is bounded
// (remember_state depth, expression length and stack depth), so corrupt
// input cannot hang the unwinder or make it allocate without limit.
package cfi

import (
	"errors"
	"fmt"

	"github.com/taijidbg/taiji/internal/errs"
)

// ErrNoFDE reports that no FDE covers an address. Callers test for it with
// errors.Is; an unwinder usually falls back to another method (frame
// pointers, a different module's table).
var ErrNoFDE = errors.New("cfi: no FDE covers this address")

// ErrEndOfStack reports that the return-address column of a row is
// DW_CFA_undefined. glibc marks _start and the clone trampolines this way:
// it is the outermost frame, the normal end of a backtrace, not a failure.
var ErrEndOfStack = errors.New("cfi: return address is undefined")

// A FormatError reports malformed CFI: the section, the byte offset within
// it where the problem was found, what was wrong and, if another error
// caused it, that error (see Unwrap). Its message follows internal/errs:
// "cfi: .eh_frame at offset 0x1f: msg".
type FormatError struct {
	Section string // ".eh_frame", ".eh_frame_hdr", ".debug_frame" or "DWARF expression"
	Offset  int64  // byte offset within Section
	Msg     string
	Err     error // the cause, or nil
}

func (e *FormatError) Error() string {
	return errs.Format("cfi", "", e.Section, e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// RuleKind says how a register's (or the CFA's) value in the caller is found.
type RuleKind uint8

const (
	// Undefined: the register's value in the caller is unknown. On the
	// return-address column it marks the outermost frame.
	Undefined RuleKind = iota
	// SameValue: the caller's value is the callee's current value. This is
	// also the meaning of a register that has no rule.
	SameValue
	// Offset: saved in memory at CFA+Offset.
	Offset
	// ValOffset: the value is CFA+Offset itself.
	ValOffset
	// Register: saved in register Reg.
	Register
	// Expression: saved in memory at the address Expr computes (the CFA is
	// pushed on the stack first).
	Expression
	// ValExpression: the value Expr computes (the CFA is pushed first).
	ValExpression
	// CFARegOffset: the CFA is register Reg plus Offset.
	CFARegOffset
	// CFAExpression: the CFA is the value Expr computes (nothing pushed).
	CFAExpression
)

var kindNames = [...]string{"Undefined", "SameValue", "Offset", "ValOffset", "Register",
	"Expression", "ValExpression", "CFARegOffset", "CFAExpression"}

func (k RuleKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("RuleKind(%d)", uint8(k))
}

// A Rule recovers one value of the caller's frame. Which fields matter
// depends on Kind. Expr aliases the section data: do not modify it.
type Rule struct {
	Kind   RuleKind
	Reg    int
	Offset int64
	Expr   []byte
}

func (r Rule) String() string {
	switch r.Kind {
	case Offset:
		return fmt.Sprintf("c%+d", r.Offset)
	case ValOffset:
		return fmt.Sprintf("v%+d", r.Offset)
	case Register:
		return fmt.Sprintf("r%d", r.Reg)
	case CFARegOffset:
		return fmt.Sprintf("r%d%+d", r.Reg, r.Offset)
	case Expression, ValExpression, CFAExpression:
		return fmt.Sprintf("%v[% x]", r.Kind, r.Expr)
	}
	return r.Kind.String()
}

// A RegRule is the rule for one register column.
type RegRule struct {
	Col  int // DWARF register number
	Rule Rule
}

// A Row is the unwind information in effect at one PC: the CFA rule and the
// rules of every register column that has one.
type Row struct {
	Start, End uint64 // the FDE's address range [Start, End)
	CFA        Rule   // CFARegOffset or CFAExpression
	RA         int    // return-address column, from the CIE
	// Rules holds the register rules, sorted by column, at most one per
	// column; registers without a rule keep their value in the caller
	// (SameValue). Columns >= arch.MaxRegs are dropped.
	Rules []RegRule
	// SignalFrame is set by the CIE augmentation "S": the frame was
	// interrupted by a signal, so its PC is the faulting instruction
	// itself and must not be decremented before a lookup.
	SignalFrame bool
	// ArgsSize is the last DW_CFA_GNU_args_size value; informational.
	ArgsSize uint64
	// RASigned is the arm64 return-address signing state after
	// DW_CFA_AARCH64_negate_ra_state (0x2d): when set the saved return
	// address carries a pointer-authentication code that the unwinder must
	// strip before using it.
	RASigned bool
	// BKey is set by the CIE augmentation "B": return addresses are signed
	// with the arm64 B key rather than the A key.
	BKey bool
}

// Rule returns the rule for register column col, SameValue if it has none.
func (r *Row) Rule(col int) Rule {
	for _, rr := range r.Rules {
		if rr.Col == col {
			return rr.Rule
		}
	}
	return Rule{Kind: SameValue}
}
