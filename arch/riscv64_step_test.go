package arch

import (
	"slices"
	"testing"
)

// TestRISCV64NextPCs: encodings as riscv64-linux-gnu-objdump decodes them
// (binutils 2.40, -M no-aliases), with where each can lead.
func TestRISCV64NextPCs(t *testing.T) {
	const pc = 0x10000
	reg := func(n int) uint64 { return 0x2000 + 0x10*uint64(n) }
	for _, c := range []struct {
		name string
		insn uint32
		want []uint64
	}{
		{"addi sp,sp,-16", 0xff010113, []uint64{pc + 4}},
		{"c.nop", 0x0001, []uint64{pc + 2}},
		{"ecall", 0x00000073, []uint64{pc + 4}},
		{"c.ebreak", 0x9002, []uint64{pc + 2}},
		{"jal ra,+256", 0x100000ef, []uint64{pc + 256}},
		{"jal zero,-8", 0xff9ff06f, []uint64{pc - 8}},
		{"jalr zero,0(ra)", 0x00008067, []uint64{0x2010}},
		{"jalr ra,8(a5)", 0x008780e7, []uint64{0x20f0 + 8}},
		{"jalr ra,-1(a5): low bit cleared", 0xfff780e7, []uint64{0x20ee}},
		{"beq a0,a1,+16", 0x00b50863, []uint64{pc + 16, pc + 4}},
		{"bne a5,a1,+10", 0x00b79563, []uint64{pc + 10, pc + 4}},
		{"c.j +4", 0xa011, []uint64{pc + 4}},
		{"c.jr ra", 0x8082, []uint64{0x2010}},
		{"c.jalr a5", 0x9782, []uint64{0x20f0}},
		{"c.beqz a0,+8", 0xc501, []uint64{pc + 8, pc + 2}},
		{"c.bnez a4,-12", 0xfb75, []uint64{pc - 12, pc + 2}},
		{"c.bnez in the low half, a 4-byte word read", 0x1234fb75, []uint64{pc - 12, pc + 2}},
		{"lr.w.aqrl a4,(a0)", 0x1605272f, []uint64{pc + 4}},
	} {
		if got := RISCV64.Syscall.NextPCs(c.insn, pc, reg); !slices.Equal(got, c.want) {
			t.Errorf("%s (%#08x): %#x, want %#x", c.name, c.insn, got, c.want)
		}
	}
}
