package debugger

import (
	"context"
	"slices"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/proc"
)

// exclusive describes an arch's load-linked/store-conditional pair by
// their fixed-width encodings: a load is an insn matching one of loads, a
// store one matching one of stores. A trap between the two (a single
// step's, a breakpoint's) clears the reservation, the store fails and the
// sequence loops for ever if stepped one instruction at a time; stepi runs
// it as a unit instead, as gdb's aarch64_software_single_step,
// mips_deal_with_atomic_sequence and ppc_deal_with_atomic_sequence do.
type exclusive struct {
	loads, stores []insnPattern
}

// insnPattern matches a 32-bit instruction word w when w&mask == value.
type insnPattern struct{ mask, value uint32 }

func matchAny(ps []insnPattern, w uint32) bool {
	for _, p := range ps {
		if w&p.mask == p.value {
			return true
		}
	}
	return false
}

// exclusives holds the arches with such sequences, by arch.Arch name.
var exclusives = map[string]exclusive{
	// ARMv8 ARM C4.1.92 "Load/store exclusive": bits 29-24 001000, o2
	// (bit 23) 0, L (bit 22) 1 for LDXR/LDAXR/LDXP/LDAXP, 0 for the stores.
	"arm64": {loads: []insnPattern{{0x3fc00000, 0x08400000}}, stores: []insnPattern{{0x3fc00000, 0x08000000}}},
	// MIPS64 vol. II: LL 0x30 and LLD 0x34, SC 0x38 and SCD 0x3c (major
	// opcode in bits 31-26; the masks leave bit 28 free for the D forms).
	"mips64le": {loads: []insnPattern{{0xec000000, 0xc0000000}}, stores: []insnPattern{{0xec000000, 0xe0000000}}},
	// RISC-V unprivileged ISA 8.2 "Load-Reserved/Store-Conditional": AMO
	// opcode 0101111, funct3 010 (.W) or 011 (.D, bit 12 left free),
	// funct5 00010 for LR, 00011 for SC; aq and rl (bits 26-25) free.
	// Neither has a compressed form; the code around them may.
	"riscv64": {loads: []insnPattern{{0xf800607f, 0x1000202f}}, stores: []insnPattern{{0xf800607f, 0x1800202f}}},
	// Power ISA 3.0 book II 4.4.2: lbarx, lharx, lwarx, ldarx are X-form,
	// primary opcode 31, extended opcode (instruction bits 21-30) 52, 116,
	// 20, 84, which differ only in its 0x20 and 0x40 bits; bit 31 (EH) is a
	// hint. stbcx., sthcx., stwcx., stdcx. and stqcx.: extended opcode 694,
	// 726, 150, 214, 182, with Rc (bit 31) 1. s390x needs none: its atomics
	// are single instructions (CS, CSG, LAA).
	"ppc64le": {
		loads: []insnPattern{{0xfc00073e, 0x7c000028}},
		stores: []insnPattern{
			{0xfc0007ff, 31<<26 | 694<<1 | 1}, {0xfc0007ff, 31<<26 | 726<<1 | 1},
			{0xfc0007ff, 31<<26 | 150<<1 | 1}, {0xfc0007ff, 31<<26 | 214<<1 | 1},
			{0xfc0007ff, 31<<26 | 182<<1 | 1},
		},
	},
}

// maxAtomicSeq bounds the instructions between a load-exclusive and its
// store (gdb: 16).
const maxAtomicSeq = 16

// seqInsn is one instruction of a possible sequence.
type seqInsn struct {
	addr    uint64
	len     int
	word    uint32   // its first 4 bytes (2 for a 2-byte one) in the arch's byte order
	targets []uint64 // where it can branch besides the next instruction
}

// atomicEnds returns, when the instruction at pc in code (the bytes from
// pc on) starts a load-exclusive sequence, the addresses where running it
// as a unit can end: after its store-exclusive, and the targets of the
// conditional branches inside it that leave it. ok is false otherwise.
func atomicEnds(a *arch.Arch, code []byte, pc uint64) (ends []uint64, ok bool) {
	ex, has := exclusives[a.Name]
	if !has {
		return nil, false
	}
	seq := insns(a, code, pc, maxAtomicSeq)
	if len(seq) == 0 || !matchAny(ex.loads, seq[0].word) {
		return nil, false
	}
	store := -1
	for i := 1; i < len(seq); i++ {
		if seq[i].len == 4 && matchAny(ex.stores, seq[i].word) {
			store = i
			break
		}
	}
	if store < 0 {
		return nil, false
	}
	last := seq[store].addr
	ends = []uint64{last + uint64(seq[store].len)}
	for _, in := range seq[:store] {
		for _, t := range in.targets {
			if t < pc || t > last {
				ends = append(ends, t)
			}
		}
	}
	return ends, true
}

// insns decodes up to max instructions from code, found at pc: with the
// disassembler where there is one (which knows riscv64's 2-byte forms),
// else as fixed 4-byte words whose branches the arch's software
// single-step decoder reads.
func insns(a *arch.Arch, code []byte, pc uint64, max int) []seqInsn {
	var out []seqInsn
	if disasm.Supports(a) {
		ins, _ := disasm.Decode(a, code, pc)
		for _, in := range ins[:min(len(ins), max)] {
			si := seqInsn{addr: in.Addr, len: in.Len}
			if in.Len >= 4 {
				si.word = a.ByteOrder.Uint32(in.Raw)
			} else if in.Len == 2 {
				si.word = uint32(a.ByteOrder.Uint16(in.Raw))
			}
			if in.Target != 0 && (in.Kind == disasm.CondJump || in.Kind == disasm.Jump) {
				si.targets = []uint64{in.Target}
			}
			out = append(out, si)
		}
		return out
	}
	for off := 0; off+4 <= len(code) && len(out) < max; off += 4 {
		addr := pc + uint64(off)
		si := seqInsn{addr: addr, len: 4, word: a.ByteOrder.Uint32(code[off:])}
		if a.Syscall.NextPCs != nil {
			for _, t := range a.Syscall.NextPCs(si.word, addr, func(int) uint64 { return 0 }) {
				if t != addr+4 && t != addr+8 {
					si.targets = append(si.targets, t)
				}
			}
		}
		out = append(out, si)
	}
	return out
}

// stepAtomic runs the load-exclusive sequence at the selected thread's PC
// as one step: temporary breakpoints where it can end, every thread
// resumed until this thread reaches one. It returns nil, false when the PC
// starts no such sequence.
func (d *Debugger) stepAtomic(ctx context.Context, pc uint64) (*Event, bool, error) {
	if _, has := exclusives[d.Arch.Name]; !has {
		return nil, false, nil
	}
	code := make([]byte, 4*maxAtomicSeq)
	if err := d.s.ReadMemory(pc, code); err != nil {
		return nil, false, nil
	}
	ends, ok := atomicEnds(d.Arch, code, pc)
	if !ok {
		return nil, false, nil
	}
	ev, err := d.stepTo(ctx, ends)
	return ev, true, err
}

// stepBranch steps the branch at the selected thread's PC with temporary
// breakpoints where it can go, where the arch's single step of a taken
// branch cannot be trusted (arch.SyscallABI.StepBranchesByTrap). It
// returns nil, false when the PC holds no branch it can follow.
func (d *Debugger) stepBranch(ctx context.Context, pc uint64) (*Event, bool, error) {
	if !d.Arch.Syscall.StepBranchesByTrap {
		return nil, false, nil
	}
	if sig, err := d.s.Signal(d.cur); err != nil || sig != 0 {
		// The step delivers a signal: it stops at the handler's first
		// instruction (the kernel enters it with no branch to step).
		return nil, false, nil
	}
	in, err := d.insnAt(pc)
	if err != nil {
		return nil, false, nil
	}
	regs, err := d.s.Regs(d.cur)
	if err != nil {
		return nil, false, nil
	}
	ends, ok := disasm.BranchTargets(d.Arch, in.Raw, pc, func(n int) uint64 { v, _ := regs.Get(n); return v })
	if !ok || slices.Contains(ends, pc) {
		// A branch to itself would stop on its own trap before it ran.
		return nil, false, nil
	}
	ev, err := d.stepTo(ctx, ends)
	return ev, true, err
}

// stepTo runs the selected thread's goroutine (or thread) until it reaches
// one of ends, every thread resumed, and returns the step's stop (or the
// stop that came first).
func (d *Debugger) stepTo(ctx context.Context, ends []uint64) (*Event, error) {
	// The goroutine, not the thread: Go's SIGURG handler may reschedule it
	// while every thread runs.
	id := d.frameID(d.cur)
	delete(d.lastHit, d.cur) // it leaves the breakpoint it was reported at
	for _, e := range ends {
		if err := d.setInternal(e); err != nil {
			d.clearInternal()
			return nil, err
		}
	}
	defer d.clearInternal()
	for {
		ev, mine, err := d.run(ctx, func(t int) bool { return d.frameID(t).sameOwner(id) })
		if err != nil || ev != nil {
			return ev, err
		}
		if mine {
			return d.event("step", proc.Stop{TID: d.cur}), nil
		}
	}
}
