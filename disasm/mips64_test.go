package disasm

import (
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// TestGoBodyMIPS64: the end of Go's stack check on mips64le, from the
// words go1.26 emits (objdump of a cross-built binary).
func TestGoBodyMIPS64(t *testing.T) {
	const entry = 0x1000
	for _, tc := range []struct {
		name string
		code []byte
		want uint64 // 0: no check
	}{
		// ld at,16(s8); daddi v0,sp,-72; sltu at,at,v0; bnez at,+6; nop;
		// or v1,zero,ra; jal morestack_noctxt; nop; b entry; nop; sd ra,...
		{"frame", leWords(0xdfc10010, 0x63a2ffb8, 0x0022082b, 0x14200006, 0, 0x001f1825, 0x0c02f19e, 0, 0x1000fff7, 0, 0xffbfff38), entry + 0x28},
		// ld at,16(s8); sltu at,at,sp; bnez at,+6; ...
		{"small frame", leWords(0xdfc10010, 0x003d082b, 0x14200006, 0, 0x001f1825, 0x0c02f19e, 0, 0x1000fff8, 0), entry + 0x24},
		// A bnez at with no load of the stackguard before it.
		{"no check", leWords(0x003d082b, 0x14200006, 0, 0x03e00008, 0), 0},
		{"empty", nil, 0},
	} {
		got, ok := GoBody(arch.MIPS64LE, tc.code, entry)
		if ok != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: %#x, %v; want %#x", tc.name, got, ok, tc.want)
		}
	}
}
