package disasm

import (
	"encoding/binary"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// TestGoBodyLOONG64: the end of Go's stack check on loong64, from the
// words go1.19, go1.22 and go1.26 emit (go tool objdump of cross-built
// binaries).
func TestGoBodyLOONG64(t *testing.T) {
	const entry = 0x1000
	for _, tc := range []struct {
		name string
		code []byte
		want uint64 // 0: no check
	}{
		// MOVV 16(R22), R19; ADDV $-216, R3, R4; SGTU R4, R19; BNE R19, 4(PC) (bne r19, zero)
		{"go1.19", leWords(0x28c042d3, 0x02fca064, 0x00129273, 0x5c001260, 0x00150025), entry + 0xc + 16},
		// MOVV 16(R22), R20; ADDV $-208, R3, R24; SGTU R24, R20; BNE R20, 6(PC) (bnez)
		{"go1.22", leWords(0x28c042d4, 0x02fcc078, 0x0012e294, 0x44001a80, 0x0015003f), entry + 0xc + 24},
		// MOVV 16(R22), R20; ADDV $-208, R3, R24; SGTU R24, R20; BEQ R20, 56(PC) (beqz, to morestack)
		{"go1.26", leWords(0x28c042d4, 0x02fcc078, 0x0012e294, 0x4000e280, 0x29fac061), entry + 0x10},
		// The same branch with no load of the stackguard before it.
		{"no check", leWords(0x02fcc078, 0x0012e294, 0x4000e280, 0x29fac061), 0},
		{"empty", nil, 0},
	} {
		got, ok := GoBody(arch.LOONG64, tc.code, entry)
		if ok != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: %#x, %v; want %#x", tc.name, got, ok, tc.want)
		}
	}
}

// leWords returns the words as little-endian bytes, as code holds them.
func leWords(ws ...uint32) []byte {
	b := make([]byte, 4*len(ws))
	for i, w := range ws {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return b
}
