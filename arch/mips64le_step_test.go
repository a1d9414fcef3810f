package arch

import (
	"slices"
	"testing"
)

func TestMIPSNextPCs(t *testing.T) {
	const pc = 0x120001000
	reg := func(n int) uint64 { return 0x1000 + uint64(n) }
	for _, c := range []struct {
		name string
		insn uint32
		want []uint64
	}{
		{"nop", 0x00000000, []uint64{pc + 4}},
		{"addiu sp,sp,-16", 0x67bdfff0, []uint64{pc + 4}},
		{"jr ra", 0x03e00008, []uint64{0x1000 + 31}},
		{"jalr t9", 0x0320f809, []uint64{0x1000 + 25}},
		{"b +12", 0x10000003, []uint64{pc + 16, pc + 8}},
		{"bne a0,zero,-8", 0x1480fffe, []uint64{pc - 4, pc + 8}},
		{"beqzl v0,+4", 0x50400001, []uint64{pc + 8}}, // target is the instruction after the delay slot
		{"bgezal zero,+8 (bal)", 0x04110002, []uint64{pc + 12, pc + 8}},
		{"bltz a0,+4", 0x04800001, []uint64{pc + 8}},
		{"j 0x40", 0x08000010, []uint64{(pc+4)&^0x0fffffff | 0x40}},
		{"jal 0x400", 0x0c000100, []uint64{(pc+4)&^0x0fffffff | 0x400}},
		{"bc1t +16", 0x45010004, []uint64{pc + 20, pc + 8}},
		{"syscall", 0x0000000c, []uint64{pc + 4}},
	} {
		if got := MIPS64LE.Syscall.NextPCs(c.insn, pc, reg); !slices.Equal(got, c.want) {
			t.Errorf("%s (%#08x): %#x, want %#x", c.name, c.insn, got, c.want)
		}
	}
}
