package debugger

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/arch/ppc64/ppc64asm"
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
		// lwarx r10,0,r9; addi r10,r10,1; stwcx. r10,0,r9; bne- loop
		{"ppc64le lwarx/stwcx.", arch.PPC64LE, words(0x7d404828, 0x394a0001, 0x7d40492d, 0x40c2fff4), []uint64{pc + 12}},
		// lharx r10,0,r9,1 (EH set); sthcx. r10,0,r9
		{"ppc64le lharx/sthcx.", arch.PPC64LE, words(0x7d4048e9, 0x7d404dad), []uint64{pc + 8}},
		// ldarx r10,0,r9; cmpd r10,r4; bne- out (+12); stdcx. r5,0,r9; bne- loop; out:
		{"ppc64le compare-and-swap", arch.PPC64LE, words(0x7d4048a8, 0x7c2a2000, 0x40c2000c, 0x7ca049ad, 0x40c2fff0), []uint64{pc + 16, pc + 8 + 12}},
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

// TestAtomicPPC64Masks: of every X-form instruction of primary opcode 31,
// ppc64le's masks take exactly the load-and-reserve instructions for loads
// (lqarx aside) and the store-conditional ones for stores, as
// golang.org/x/arch's decoder names them.
func TestAtomicPPC64Masks(t *testing.T) {
	ex := exclusives["ppc64le"]
	for xo := uint32(0); xo < 1<<10; xo++ {
		for _, low := range []uint32{0, 1} { // EH for the loads, Rc for the stores
			insn := 31<<26 | 10<<21 | 9<<11 | xo<<1 | low
			in, err := ppc64asm.Decode(binary.LittleEndian.AppendUint32(nil, insn), binary.LittleEndian)
			op := ""
			if err == nil {
				op = in.Op.String()
			}
			isLoad := strings.HasSuffix(op, "arx") && op != "lqarx"
			isStore := strings.HasSuffix(op, "cx.") && low == 1
			if got := matchAny(ex.loads, insn); got != isLoad {
				t.Errorf("%#08x (%q): load-and-reserve %v, want %v", insn, op, got, isLoad)
			}
			if got := matchAny(ex.stores, insn); got != isStore {
				t.Errorf("%#08x (%q): store-conditional %v, want %v", insn, op, got, isStore)
			}
		}
	}
}
