package debugger

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// bytesMem is memory at a base address, for the evaluator's own tests
// (the debugger's tests read real processes).
type bytesMem struct {
	base uint64
	b    []byte
}

func (m bytesMem) ReadMemory(addr uint64, p []byte) error {
	if addr < m.base || addr-m.base+uint64(len(p)) > uint64(len(m.b)) {
		return fmt.Errorf("cannot read %#x", addr)
	}
	copy(p, m.b[addr-m.base:])
	return nil
}

func (m bytesMem) WriteMemory(addr uint64, p []byte) error {
	if addr < m.base || addr-m.base+uint64(len(p)) > uint64(len(m.b)) {
		return fmt.Errorf("cannot write %#x", addr)
	}
	copy(m.b[addr-m.base:], p)
	return nil
}

func testFrame() *Frame {
	mem := bytesMem{base: 0x1000, b: make([]byte, 64)}
	binary.LittleEndian.PutUint32(mem.b[8:], 0x17ff9ee9)
	binary.LittleEndian.PutUint64(mem.b[16:], 0x1008)
	f := &Frame{Arch: arch.AMD64, Mem: mem}
	f.Regs.PC = 0x401000
	f.Regs.Set(0, 3)       // rax
	f.Regs.Set(7, 0x1000)  // rsp
	f.Regs.Set(5, 1<<63+1) // rdi
	return f
}

// TestEvalNoDWARF: conditions over registers and memory need no DWARF.
func TestEvalNoDWARF(t *testing.T) {
	f := testFrame()
	for _, tc := range []struct {
		expr string
		want uint64
	}{
		{"$rax == 3", 1},
		{"$rax != 3", 0},
		{"$rax+1 == 4 && $pc == 0x401000", 1},
		{"$rax < 2 || $sp == 4096", 1},
		{"*(*uint32)($sp+8)", 0x17ff9ee9},
		{"*(*uint32)(*(*uint64)(0x1010))", 0x17ff9ee9},
		{"*(*uint8)(0x1008) == 0xe9", 1},
		{"-1 < 0", 1},
		{"$rdi > 0", 1}, // registers are unsigned, as delve's
		{"int64($rdi) < 0", 1},
		{"(($rax))", 3},
	} {
		got, err := evalInt(f, tc.expr)
		if err != nil || got != tc.want {
			t.Errorf("%s = %#x, %v; want %#x", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "$nosuch == 1", "x > 10", "*(*int7)(0x1000)", "*(*uint32)(0x9000)", "(1", "1 2", "$rax ==", "$r8 == 0"} {
		if v, err := evalInt(f, bad); err == nil {
			t.Errorf("%q = %#x, want an error", bad, v)
		}
	}
}

func TestAssignNoDWARF(t *testing.T) {
	f := testFrame()
	var setN int
	var setV uint64
	f.SetReg = func(n int, v uint64) error { setN, setV = n, v; return nil }
	var e dwarfEval
	if err := e.Assign(f, "*(*uint16)($sp+8)", "0x9090"); err != nil {
		t.Fatal(err)
	}
	if v, _ := evalInt(f, "*(*uint32)(0x1008)"); v != 0x17ff9090 {
		t.Errorf("after a 16-bit store the word is %#x, want 0x17ff9090", v)
	}
	if err := e.Assign(f, "$rdi", "$rax + 7"); err != nil || setN != 5 || setV != 10 {
		t.Errorf("set $rdi = $rax + 7: register %d = %d, %v; want 5 = 10", setN, setV, err)
	}
	if err := e.Assign(f, "$pc", "0x401010"); err != nil || (setN != -1 && setN != f.Arch.PC) {
		t.Errorf("set $pc: register %d, %v; want the PC (-1 or %d)", setN, err, f.Arch.PC)
	}
	for _, bad := range [][2]string{{"x", "1"}, {"$nosuch", "1"}, {"*(*uint32)(0x9000)", "1"}, {"$rax", "y"}, {"*(*uint8)(0x1000) 3", "1"}} {
		if err := e.Assign(f, bad[0], bad[1]); err == nil {
			t.Errorf("set %s = %s succeeded", bad[0], bad[1])
		}
	}
	f.SetReg = nil
	if err := e.Assign(f, "$rax", "1"); err == nil {
		t.Error("a register set outside frame 0 succeeded")
	}
}

// evalInt is what a condition or x's operand makes of expr.
func evalInt(f *Frame, expr string) (uint64, error) { return dwarfEval{}.Address(f, expr) }
