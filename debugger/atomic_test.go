package debugger

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

func words(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}

// TestAtomicEnds: the load-exclusive sequences that compilers emit for an
// atomic add are found, with where running one as a unit ends.
func TestAtomicEnds(t *testing.T) {
	const pc = 0x1000
	for _, tc := range []struct {
		name string
		a    *arch.Arch
		code []byte
		want []uint64
	}{
		// ldaxr w1, [x0]; add w1, w1, #1; stlxr w2, w1, [x0]; cbnz w2, loop
		{"arm64 ldaxr/stlxr", arch.ARM64, words(0x885ffc01, 0x11000421, 0x8802fc01, 0x35ffffa2), []uint64{pc + 12}},
		// ldxr x1, [x0]; cmp x1, x3; b.ne out (+16); stxr w2, x4, [x0]; cbnz w2, loop; out:
		{"arm64 compare-and-swap", arch.ARM64, words(0xc85f7c01, 0xeb03003f, 0x54000081, 0xc8027c04, 0x35ffff82), []uint64{pc + 16, pc + 8 + 16}},
		// ll v0, 0(a0); addiu v0, v0, 1; sc v0, 0(a0); beqz v0, loop; nop
		{"mips64le ll/sc", arch.MIPS64LE, words(0xc0820000, 0x24420001, 0xe0820000, 0x1040fffc, 0), []uint64{pc + 12}},
		// lld/scd
		{"mips64le lld/scd", arch.MIPS64LE, words(0xd0820000, 0x64420001, 0xf0820000, 0x1040fffc, 0), []uint64{pc + 12}},
		// gcc's compare-and-swap: lr.d.aq a4,(a2); bne a4,a3,out (+10);
		// sc.d.aq a0,a1,(a2); c.bnez a0,loop; out: sub a3,a4,a3
		{"riscv64 lr.d/sc.d", arch.RISCV64, append(append(words(0x1406372f, 0x00d71563, 0x1cb6352f), 0x75, 0xf9), words(0x40d706b3)...), []uint64{pc + 12, pc + 4 + 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := atomicEnds(tc.a, append(tc.code, make([]byte, 64)...), pc)
			if !ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ends %x, %v; want %x", got, ok, tc.want)
			}
			// From the instruction after the load there is no sequence.
			if _, ok := atomicEnds(tc.a, tc.code[4:], pc+4); ok {
				t.Error("a sequence found from the second instruction")
			}
		})
	}
	if _, ok := atomicEnds(arch.AMD64, words(0x885ffc01, 0x8802fc01), pc); ok {
		t.Error("amd64 has no load-exclusive sequences")
	}
	// A load-exclusive without its store within the window: none.
	if _, ok := atomicEnds(arch.ARM64, words(0x885ffc01), pc); ok {
		t.Error("a lone load-exclusive made a sequence")
	}
}
