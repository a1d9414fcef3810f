package disasm

import (
	"fmt"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// TestS390XBranchTargets: where each kind of z/Architecture branch can
// leave the thread, as a debugger steps it by traps
// (arch.SyscallABI.StepBranchesByTrap): relative targets from the
// encoding, register and base-displacement ones from the registers, the
// fall-through only where the branch may not be taken.
func TestS390XBranchTargets(t *testing.T) {
	const pc = 0x1000
	reg := func(n int) uint64 { return 0x10000 * uint64(n) } // r1 = 0x10000, r14 = 0xe0000
	for _, tc := range []struct {
		name string
		code []byte
		want []uint64 // nil: no branch to follow
	}{
		{"brasl %r14,-0x318 (a call)", []byte{0xc0, 0xe5, 0xff, 0xff, 0xfe, 0x74}, []uint64{pc - 0x318}},
		{"br %r14 (a return)", []byte{0x07, 0xfe}, []uint64{0xe0000}},
		{"ber %r1", []byte{0x07, 0x81}, []uint64{0x10000, pc + 2}},
		{"basr %r14,%r1", []byte{0x0d, 0xe1}, []uint64{0x10000}},
		{"bas %r14,8(%r2,%r1)", []byte{0x4d, 0xe2, 0x10, 0x08}, []uint64{0x20000 + 0x10000 + 8}},
		{"b 4(%r1)", []byte{0x47, 0xf0, 0x10, 0x04}, []uint64{0x10004}},
		{"jne +8", []byte{0xa7, 0x74, 0x00, 0x04}, []uint64{pc + 8, pc + 4}},
		{"j +8", []byte{0xa7, 0xf4, 0x00, 0x04}, []uint64{pc + 8}},
		{"nopr %r7 (bcr 0)", []byte{0x07, 0x07}, nil},
		{"bcr 15,0 (serialise)", []byte{0x07, 0xf0}, nil},
		{"lghi %r1,1", []byte{0xa7, 0x19, 0x00, 0x01}, nil},
	} {
		got, ok := BranchTargets(arch.S390X, tc.code, pc, reg)
		if ok != (tc.want != nil) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %x, %v; want %x", tc.name, got, ok, tc.want)
		}
	}
	if _, ok := BranchTargets(arch.ARM64, []byte{0xc0, 0x03, 0x5f, 0xd6}, pc, reg); ok {
		t.Error("arm64 steps its branches in hardware: no targets expected")
	}
}
