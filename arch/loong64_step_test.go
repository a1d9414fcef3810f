package arch

import (
	"slices"
	"testing"
)

// TestLoongNextPCs: encodings assembled by clang 19 for loongarch64 and
// checked with golang.org/x/arch's loong64asm (the comments), at pc 0x1000.
func TestLoongNextPCs(t *testing.T) {
	const pc = 0x1000
	reg := func(n int) uint64 {
		switch n {
		case 1: // ra
			return 0x4242
		case 12: // t0
			return 0x9000
		}
		return 0
	}
	for _, c := range []struct {
		insn uint32
		want []uint64
	}{
		{0x03400000, []uint64{pc + 4}},           // nop
		{0x02c00484, []uint64{pc + 4}},           // addi.d $a0, $a0, 1
		{0x40007c80, []uint64{pc + 124, pc + 4}}, // beqz $a0, 124
		{0x47fff8bf, []uint64{pc - 8, pc + 4}},   // bnez $a1, -8
		{0x48007400, []uint64{pc + 116, pc + 4}}, // bceqz $fcc0, 116
		{0x4bfff13f, []uint64{pc - 16, pc + 4}},  // bcnez $fcc1, -16
		{0x4c000981, []uint64{0x9000 + 8}},       // jirl $ra, $t0, 8
		{0x4c000020, []uint64{0x4242}},           // ret (jirl $zero, $ra, 0)
		{0x50006400, []uint64{pc + 100}},         // b 100
		{0x57ffe3ff, []uint64{pc - 32}},          // bl -32
		{0x58005c85, []uint64{pc + 92, pc + 4}},  // beq $a0, $a1, 92
		{0x5fffd885, []uint64{pc - 40, pc + 4}},  // bne $a0, $a1, -40
		{0x60005485, []uint64{pc + 84, pc + 4}},  // blt $a0, $a1, 84
		{0x67ffd085, []uint64{pc - 48, pc + 4}},  // bge $a0, $a1, -48
		{0x68004c85, []uint64{pc + 76, pc + 4}},  // bltu $a0, $a1, 76
		{0x6fffc885, []uint64{pc - 56, pc + 4}},  // bgeu $a0, $a1, -56
	} {
		if got := LOONG64.Syscall.NextPCs(c.insn, pc, reg); !slices.Equal(got, c.want) {
			t.Errorf("%#08x: got %#x, want %#x", c.insn, got, c.want)
		}
	}
}
