package cfi

import (
	"fmt"

	"github.com/taijidbg/taiji/arch"
)

// maxRememberDepth bounds DW_CFA_remember_state nesting. Compilers nest a
// handful at most; corrupt input must not allocate without limit.
const maxRememberDepth = 64

// state is one row of the CFA table under construction.
type state struct {
	cfa      Rule
	rules    []RegRule // sorted by column
	raSigned bool
}

// machine interprets CFA programs (DWARF 5 section 6.4.2).
type machine struct {
	t        *Table
	cie      *cie
	st       state
	stack    []state
	loc      uint64
	argsSize uint64
}

func (s *state) set(col int, r Rule) {
	if col < 0 || col >= arch.MaxRegs {
		return // not tracked: see arch.MaxRegs
	}
	i := 0
	for i < len(s.rules) && s.rules[i].Col < col {
		i++
	}
	if i < len(s.rules) && s.rules[i].Col == col {
		s.rules[i].Rule = r
		return
	}
	s.rules = append(s.rules, RegRule{})
	copy(s.rules[i+1:], s.rules[i:])
	s.rules[i] = RegRule{col, r}
}

func (s *state) clear(col int) {
	for i := range s.rules {
		if s.rules[i].Col == col {
			s.rules = append(s.rules[:i], s.rules[i+1:]...)
			return
		}
	}
}

// DW_CFA_* opcodes.
const (
	cfaAdvanceLoc = 0x40 // high 2 bits
	cfaOffset     = 0x80
	cfaRestore    = 0xc0

	cfaNop                       = 0x00
	cfaSetLoc                    = 0x01
	cfaAdvanceLoc1               = 0x02
	cfaAdvanceLoc2               = 0x03
	cfaAdvanceLoc4               = 0x04
	cfaOffsetExtended            = 0x05
	cfaRestoreExtended           = 0x06
	cfaUndefined                 = 0x07
	cfaSameValue                 = 0x08
	cfaRegister                  = 0x09
	cfaRememberState             = 0x0a
	cfaRestoreState              = 0x0b
	cfaDefCFA                    = 0x0c
	cfaDefCFARegister            = 0x0d
	cfaDefCFAOffset              = 0x0e
	cfaDefCFAExpression          = 0x0f
	cfaExpression                = 0x10
	cfaOffsetExtendedSf          = 0x11
	cfaDefCFASf                  = 0x12
	cfaDefCFAOffsetSf            = 0x13
	cfaValOffset                 = 0x14
	cfaValOffsetSf               = 0x15
	cfaValExpression             = 0x16
	cfaMIPSAdvanceLoc8           = 0x1d
	cfaGNUWindowSave             = 0x2d // DW_CFA_AARCH64_negate_ra_state on arm64
	cfaGNUArgsSize               = 0x2e
	cfaGNUNegativeOffsetExtended = 0x2f
)

// run executes the instructions in t.data[off:end] until the row covering
// pc is complete. CIE initial instructions run with pc = ^0 and cie=true.
func (m *machine) run(off, end int, pc uint64, isCIE bool) error {
	t, c := m.t, m.cie
	b := newBuf(t.sec, t.data, off, end, t.order)
	// advance moves to a new location; it reports false when the new row
	// starts after pc, i.e. the current row is the answer.
	advance := func(delta uint64) bool {
		if isCIE {
			return true
		}
		n := m.loc + delta*c.codeAlign
		if pc < n {
			return false
		}
		m.loc = n
		return true
	}
	for b.off < b.end && b.err == nil {
		opOff := b.off
		op := b.u8()
		switch op & 0xc0 {
		case cfaAdvanceLoc:
			if !advance(uint64(op & 0x3f)) {
				return nil
			}
			continue
		case cfaOffset:
			m.st.set(int(op&0x3f), Rule{Kind: Offset, Offset: int64(b.uleb()) * c.dataAlign})
			continue
		case cfaRestore:
			m.restore(int(op & 0x3f))
			continue
		}
		switch op {
		case cfaNop:
		case cfaSetLoc:
			var n uint64
			if t.eh {
				bases := t.bases(0)
				n, _ = b.ptr(c.fdeEnc, &bases)
			} else {
				b.bytes(uint64(c.segSize))
				n = b.uint(c.addrSize)
			}
			if b.err != nil {
				break
			}
			if !isCIE {
				if pc < n {
					return nil
				}
				m.loc = n
			}
		case cfaAdvanceLoc1:
			if d := uint64(b.u8()); b.err == nil && !advance(d) {
				return nil
			}
		case cfaAdvanceLoc2:
			if d := uint64(b.u16()); b.err == nil && !advance(d) {
				return nil
			}
		case cfaAdvanceLoc4:
			if d := uint64(b.u32()); b.err == nil && !advance(d) {
				return nil
			}
		case cfaMIPSAdvanceLoc8:
			if d := b.u64(); b.err == nil && !advance(d) {
				return nil
			}
		case cfaOffsetExtended:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: Offset, Offset: int64(b.uleb()) * c.dataAlign})
		case cfaOffsetExtendedSf:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: Offset, Offset: b.sleb() * c.dataAlign})
		case cfaGNUNegativeOffsetExtended:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: Offset, Offset: -(int64(b.uleb()) * c.dataAlign)})
		case cfaValOffset:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: ValOffset, Offset: int64(b.uleb()) * c.dataAlign})
		case cfaValOffsetSf:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: ValOffset, Offset: b.sleb() * c.dataAlign})
		case cfaRestoreExtended:
			m.restore(clampReg(b.uleb()))
		case cfaUndefined:
			m.st.set(clampReg(b.uleb()), Rule{Kind: Undefined})
		case cfaSameValue:
			m.st.set(clampReg(b.uleb()), Rule{Kind: SameValue})
		case cfaRegister:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: Register, Reg: clampReg(b.uleb())})
		case cfaRememberState:
			if len(m.stack) >= maxRememberDepth {
				b.off = opOff
				b.error("DW_CFA_remember_state nested too deeply")
				break
			}
			saved := m.st
			saved.rules = append([]RegRule(nil), m.st.rules...)
			m.stack = append(m.stack, saved)
		case cfaRestoreState:
			if len(m.stack) == 0 {
				b.off = opOff
				b.error("DW_CFA_restore_state without DW_CFA_remember_state")
				break
			}
			// Like libgcc and binutils, the CFA rule is part of the
			// remembered state: GCC's epilogues depend on it.
			m.st = m.stack[len(m.stack)-1]
			m.stack = m.stack[:len(m.stack)-1]
		case cfaDefCFA:
			reg := clampReg(b.uleb())
			m.st.cfa = Rule{Kind: CFARegOffset, Reg: reg, Offset: int64(b.uleb())}
		case cfaDefCFASf:
			reg := clampReg(b.uleb())
			m.st.cfa = Rule{Kind: CFARegOffset, Reg: reg, Offset: b.sleb() * c.dataAlign}
		case cfaDefCFARegister:
			// Only meaningful after a register+offset rule; like libgcc,
			// switch to register+offset keeping the offset.
			m.st.cfa = Rule{Kind: CFARegOffset, Reg: clampReg(b.uleb()), Offset: m.st.cfa.Offset}
		case cfaDefCFAOffset:
			m.st.cfa = Rule{Kind: CFARegOffset, Reg: m.st.cfa.Reg, Offset: int64(b.uleb())}
		case cfaDefCFAOffsetSf:
			m.st.cfa = Rule{Kind: CFARegOffset, Reg: m.st.cfa.Reg, Offset: b.sleb() * c.dataAlign}
		case cfaDefCFAExpression:
			m.st.cfa = Rule{Kind: CFAExpression, Expr: b.bytes(b.uleb())}
		case cfaExpression:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: Expression, Expr: b.bytes(b.uleb())})
		case cfaValExpression:
			reg := clampReg(b.uleb())
			m.st.set(reg, Rule{Kind: ValExpression, Expr: b.bytes(b.uleb())})
		case cfaGNUWindowSave:
			// On arm64 this toggles the return-address signing state;
			// SPARC register windows are not supported by taiji.
			m.st.raSigned = !m.st.raSigned
		case cfaGNUArgsSize:
			m.argsSize = b.uleb()
		default:
			b.off = opOff
			b.error(fmt.Sprintf("unknown DW_CFA opcode %#x", op))
		}
	}
	if b.err != nil {
		return b.err
	}
	return nil
}

// restore resets col to its rule after the CIE's initial instructions.
func (m *machine) restore(col int) {
	for _, rr := range m.cie.init.rules {
		if rr.Col == col {
			m.st.set(col, rr.Rule)
			return
		}
	}
	m.st.clear(col)
}
