package cfi

import (
	"errors"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

func TestEval(t *testing.T) {
	a := arch.AMD64
	var regs arch.Regs
	regs.Set(7, 0x1000) // rsp
	regs.Set(6, 0x2000) // rbp
	regs.Set(0, 5)      // rax
	regs.Set(100, 0x77) // a high register, via bregx/regx
	mem := &memImage{base: 0x1000, data: make([]byte, 0x100)}
	copy(mem.data[0x10:], []byte{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11})

	tests := []struct {
		name    string
		expr    []byte
		initial []uint64
		want    uint64
		err     bool
	}{
		{"lit", []byte{0x30 + 7}, nil, 7, false},
		{"lit31", []byte{0x4f}, nil, 31, false},
		{"initial", nil, []uint64{42}, 42, false},
		{"addr", []byte{0x03, 1, 2, 3, 4, 5, 6, 7, 8}, nil, 0x0807060504030201, false},
		{"const1u", []byte{0x08, 0xff}, nil, 0xff, false},
		{"const1s", []byte{0x09, 0xff}, nil, ^uint64(0), false},
		{"const2u", []byte{0x0a, 0x34, 0x12}, nil, 0x1234, false},
		{"const2s", []byte{0x0b, 0xfe, 0xff}, nil, ^uint64(1), false},
		{"const4u", []byte{0x0c, 0x78, 0x56, 0x34, 0x12}, nil, 0x12345678, false},
		{"const4s", []byte{0x0d, 0xfc, 0xff, 0xff, 0xff}, nil, ^uint64(3), false},
		{"const8u", []byte{0x0e, 1, 0, 0, 0, 0, 0, 0, 0x80}, nil, 0x8000000000000001, false},
		{"const8s", []byte{0x0f, 1, 0, 0, 0, 0, 0, 0, 0}, nil, 1, false},
		{"constu", []byte{0x10, 0xe5, 0x8e, 0x26}, nil, 624485, false},
		{"consts", []byte{0x11, 0x7f}, nil, ^uint64(0), false},
		{"dup plus", []byte{0x35, 0x12, 0x22}, nil, 10, false},
		{"drop", []byte{0x31, 0x32, 0x13}, nil, 1, false},
		{"over", []byte{0x31, 0x32, 0x14}, nil, 1, false},
		{"pick", []byte{0x31, 0x32, 0x33, 0x15, 2}, nil, 1, false},
		{"pick out of range", []byte{0x31, 0x15, 1}, nil, 0, true},
		{"swap minus", []byte{0x31, 0x35, 0x16, 0x1c}, nil, 4, false},
		// rot: (1 2 3 -- 3 1 2): the top is then 2, and minus gives 1-2.
		{"rot", []byte{0x31, 0x32, 0x33, 0x17, 0x13}, nil, 1, false},
		{"rot top", []byte{0x31, 0x32, 0x33, 0x17}, nil, 2, false},
		{"abs", []byte{0x11, 0x7b, 0x19}, nil, 5, false},
		{"and", []byte{0x08, 0x0c, 0x08, 0x0a, 0x1a}, nil, 8, false},
		{"div signed", []byte{0x11, 0x74, 0x33, 0x1b}, nil, ^uint64(3), false}, // -12/3
		{"div by zero", []byte{0x31, 0x30, 0x1b}, nil, 0, true},
		{"mod unsigned", []byte{0x08, 17, 0x35, 0x1d}, nil, 2, false},
		{"mod by zero", []byte{0x31, 0x30, 0x1d}, nil, 0, true},
		{"mul", []byte{0x36, 0x37, 0x1e}, nil, 42, false},
		{"neg", []byte{0x35, 0x1f}, nil, ^uint64(4), false},
		{"not", []byte{0x30, 0x20}, nil, ^uint64(0), false},
		{"or", []byte{0x31, 0x32, 0x21}, nil, 3, false},
		{"plus_uconst", []byte{0x31, 0x23, 0x80, 0x01}, nil, 129, false},
		{"shl", []byte{0x31, 0x34, 0x24}, nil, 16, false},
		{"shr", []byte{0x08, 0x80, 0x33, 0x25}, nil, 16, false},
		{"shra", []byte{0x11, 0x70, 0x32, 0x26}, nil, ^uint64(3), false}, // -16>>2
		{"shl huge", []byte{0x31, 0x08, 200, 0x24}, nil, 0, false},
		{"xor", []byte{0x33, 0x35, 0x27}, nil, 6, false},
		{"eq", []byte{0x33, 0x33, 0x29}, nil, 1, false},
		{"ne", []byte{0x33, 0x33, 0x2e}, nil, 0, false},
		{"ge signed", []byte{0x31, 0x11, 0x7f, 0x2a}, nil, 1, false},
		{"gt", []byte{0x31, 0x31, 0x2b}, nil, 0, false},
		{"le", []byte{0x31, 0x31, 0x2c}, nil, 1, false},
		{"lt signed", []byte{0x11, 0x7f, 0x30, 0x2d}, nil, 1, false},
		{"skip", []byte{0x31, 0x2f, 1, 0, 0x32}, nil, 1, false},
		{"bra taken", []byte{0x31, 0x31, 0x28, 1, 0, 0x35}, nil, 1, false},
		{"bra not taken", []byte{0x31, 0x30, 0x28, 1, 0, 0x35}, nil, 5, false},
		// Count down from 5 to 0: dup; bra +4 (to "lit1 minus" loop body)... as
		// a loop: L: dup; lit0; eq; bra END; lit1; minus; skip L; END:
		{"bra loop", []byte{0x35, 0x12, 0x30, 0x29, 0x28, 5, 0, 0x31, 0x1c, 0x2f, 0xf5, 0xff}, nil, 0, false},
		{"infinite loop", []byte{0x2f, 0xfd, 0xff}, nil, 0, true},
		{"branch outside", []byte{0x2f, 0x10, 0x00}, nil, 0, true},
		{"branch before the start", []byte{0x31, 0x2f, 0xf0, 0xff}, nil, 0, true},
		// ppc64 vDSO sigtramp: "bra 0x7fff" to end a register rule early.
		{"skip past the end ends it", []byte{0x35, 0x2f, 0xff, 0x7f, 0x31}, nil, 5, false},
		{"bra past the end ends it", []byte{0x35, 0x12, 0x28, 0xff, 0x7f, 0x13, 0x31}, nil, 5, false},
		{"nop", []byte{0x96, 0x31, 0x96}, nil, 1, false},
		{"breg7", []byte{0x77, 0x10}, nil, 0x1010, false},
		{"breg6 negative", []byte{0x76, 0x78}, nil, 0x1ff8, false},
		{"bregx", []byte{0x92, 100, 0x01}, nil, 0x78, false},
		{"reg0 value", []byte{0x50}, nil, 5, false},
		{"regx value", []byte{0x90, 100}, nil, 0x77, false},
		{"unknown register", []byte{0x71, 0x00}, nil, 0, true},
		{"deref", []byte{0x77, 0x10, 0x06}, nil, 0x1122334455667788, false},
		{"deref_size 2", []byte{0x77, 0x10, 0x94, 2}, nil, 0x7788, false},
		{"deref_size 3", []byte{0x77, 0x10, 0x94, 3}, nil, 0x667788, false},
		{"deref_size 0", []byte{0x77, 0x10, 0x94, 0}, nil, 0, true},
		{"deref unmapped", []byte{0x30, 0x06}, nil, 0, true},
		{"CFA pushed first", []byte{0x23, 8, 0x06}, []uint64{0x1008}, 0x1122334455667788, false},
		{"stack underflow", []byte{0x22}, nil, 0, true},
		{"underflow after initial", []byte{0x31, 0x17}, []uint64{1}, 0, true},
		{"empty", nil, nil, 0, true},
		{"truncated operand", []byte{0x0c, 1, 2}, nil, 0, true},
		{"fbreg unsupported", []byte{0x91, 0}, nil, 0, true},
		{"call2 unsupported", []byte{0x98, 0, 0}, nil, 0, true},
		{"tls unsupported", []byte{0x30, 0xe0}, nil, 0, true},
		{"piece unsupported", []byte{0x30, 0x93, 8}, nil, 0, true},
		{"call_frame_cfa unsupported", []byte{0x9c}, nil, 0, true},
		{"unknown op", []byte{0xff}, nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Eval(tt.expr, &regs, mem, a, tt.initial...)
			if tt.err {
				if err == nil {
					t.Fatalf("Eval = %#x, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Eval = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestEvalBounds(t *testing.T) {
	// Pushing more than the stack holds is an error, not a panic.
	expr := make([]byte, 100)
	for i := range expr {
		expr[i] = 0x31
	}
	var fe *FormatError
	if _, err := Eval(expr, nil, nil, arch.AMD64); !errors.As(err, &fe) {
		t.Fatalf("stack overflow: %v, want a FormatError", err)
	}
	// A long straight-line expression stops at the operation limit.
	expr = make([]byte, 20001)
	expr[0] = 0x31
	for i := 1; i < len(expr); i++ {
		expr[i] = 0x96 // nop
	}
	if _, err := Eval(expr, nil, nil, arch.AMD64); err == nil {
		t.Fatal("20001 operations: want an error")
	}
}

// TestEvalPC evaluates the CFA expression ld writes for x86-64 .plt stubs:
// rsp+8, plus 8 more once the stub's push has run (at offset 11 and later
// within the 16-byte entry): rsp+8 + ((rip&15) >= 11) << 3. The PC is no
// numbered register in arch.Regs, yet rip (DWARF 16) must read it.
func TestEvalPC(t *testing.T) {
	expr := []byte{0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}
	for _, tt := range []struct{ pc, want uint64 }{
		{0x401040, 0x1008}, {0x40104a, 0x1008}, {0x40104b, 0x1010}, {0x40104f, 0x1010},
	} {
		var regs arch.Regs
		regs.Set(7, 0x1000)
		regs.PC = tt.pc
		got, err := Eval(expr, &regs, nil, arch.AMD64)
		if err != nil || got != tt.want {
			t.Errorf("pc %#x: Eval = %#x, %v; want %#x", tt.pc, got, err, tt.want)
		}
	}
	// An arch whose PC has no DWARF number: register 16 stays unknown.
	var regs arch.Regs
	regs.PC = 0x401040
	if _, err := Eval([]byte{0x80, 0}, &regs, nil, arch.MIPS64LE); err == nil {
		t.Error("mips64le r16 (no value): want an error")
	}
}
