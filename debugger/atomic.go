package debugger

import (
	"context"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/disasm"
	"github.com/taijidbg/taiji/proc"
)

// exclusive describes an arch's load-linked/store-conditional pair by
// their fixed-width encodings: insn&mask == value. A trap between the two
// (a single step's, a breakpoint's) clears the reservation, the store
// fails and the sequence loops for ever if stepped one instruction at a
// time; stepi runs it as a unit instead, as gdb's
// aarch64_software_single_step and mips_deal_with_atomic_sequence do.
type exclusive struct {
	loadMask, load   uint32
	storeMask, store uint32
}

// exclusives holds the arches with such sequences, by arch.Arch name.
var exclusives = map[string]exclusive{
	// ARMv8 ARM C4.1.92 "Load/store exclusive": bits 29-24 001000, o2
	// (bit 23) 0, L (bit 22) 1 for LDXR/LDAXR/LDXP/LDAXP, 0 for the stores.
	"arm64": {loadMask: 0x3fc00000, load: 0x08400000, storeMask: 0x3fc00000, store: 0x08000000},
	// MIPS64 vol. II: LL 0x30 and LLD 0x34, SC 0x38 and SCD 0x3c (major
	// opcode in bits 31-26; the masks leave bit 28 free for the D forms).
	"mips64le": {loadMask: 0xec000000, load: 0xc0000000, storeMask: 0xec000000, store: 0xe0000000},
	// RISC-V unprivileged ISA 8.2 "Load-Reserved/Store-Conditional": AMO
	// opcode 0101111, funct3 010 (.W) or 011 (.D, bit 12 left free),
	// funct5 00010 for LR, 00011 for SC; aq and rl (bits 26-25) free.
	// Neither has a compressed form; the code around them may.
	"riscv64": {loadMask: 0xf800607f, load: 0x1000202f, storeMask: 0xf800607f, store: 0x1800202f},
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
	if len(seq) == 0 || seq[0].word&ex.loadMask != ex.load {
		return nil, false
	}
	store := -1
	for i := 1; i < len(seq); i++ {
		if seq[i].len == 4 && seq[i].word&ex.storeMask == ex.store {
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
	// The goroutine, not the thread: Go's SIGURG handler may reschedule it
	// while every thread runs.
	id := d.frameID(d.cur)
	for _, e := range ends {
		if err := d.setInternal(e); err != nil {
			d.clearInternal()
			return nil, true, err
		}
	}
	defer d.clearInternal()
	for {
		ev, mine, err := d.run(ctx, func(t int) bool { return d.frameID(t).sameOwner(id) })
		if err != nil || ev != nil {
			return ev, true, err
		}
		if mine {
			return d.event("step", proc.Stop{TID: d.cur}), true, nil
		}
	}
}
