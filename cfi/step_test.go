package cfi

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// memImage is target memory: data copied from address base.
type memImage struct {
	base uint64
	data []byte
}

func (m *memImage) ReadAt(p []byte, off int64) (int, error) {
	addr := uint64(off)
	if addr < m.base || addr-m.base >= uint64(len(m.data)) {
		return 0, fmt.Errorf("address %#x not mapped", addr)
	}
	n := copy(p, m.data[addr-m.base:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

var gdbRegs = []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// calleeSaved are the registers the SysV ABI preserves across calls, which
// gdb recovers in every frame.
var calleeSaved = []int{3, 6, 12, 13, 14, 15}

// TestStepAgainstGDB stops a real process at stop_here, reads its
// registers and stack through gdb, unwinds with Lookup+Step, and compares
// every frame up to main with gdb's own unwinding. The chain crosses
// frames whose CFA is an expression (realign: stack realignment through a
// DRAP register) and register-based (alloca and VLA frames).
func TestStepAgainstGDB(t *testing.T) {
	need(t, "gdb")
	for _, flags := range [][]string{{"-O2"}, {"-O0", "-fomit-frame-pointer"}, {"-O1", "-fno-omit-frame-pointer"}} {
		t.Run(strings.Join(flags, ""), func(t *testing.T) {
			testStepAgainstGDB(t, buildC(t, append([]string{"-no-pie"}, flags...)...))
		})
	}
}

func testStepAgainstGDB(t *testing.T, prog string) {
	dir := t.TempDir()
	stackFile := filepath.Join(dir, "stack.bin")
	const depth = 6 // stop_here deep realign vla use_alloca main
	var script strings.Builder
	fmt.Fprintf(&script, "set pagination off\nset confirm off\nbreak *stop_here\nrun\n")
	fmt.Fprintf(&script, "printf \"STACK %%lx\\n\", $rsp\ndump binary memory %s $rsp $rsp+3072\n", stackFile)
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&script, "frame %d\nprintf \"FRAME %d %%lx %%lx", i, i)
		for _, r := range gdbRegs {
			if r != "rsp" {
				fmt.Fprintf(&script, " %s=%%lx", r)
			}
		}
		fmt.Fprintf(&script, "\\n\", $pc, $sp")
		for _, r := range gdbRegs {
			if r != "rsp" {
				fmt.Fprintf(&script, ", $%s", r)
			}
		}
		fmt.Fprintf(&script, "\n")
	}
	fmt.Fprintf(&script, "kill\nquit\n")
	scriptFile := filepath.Join(dir, "cmds")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gdb", "-nx", "-batch", "-x", scriptFile, prog).CombinedOutput()
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, out)
	}
	type frame struct {
		pc, sp uint64
		regs   map[int]uint64
	}
	var frames []frame
	var stackBase uint64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "STACK":
			stackBase, _ = strconv.ParseUint(f[1], 16, 64)
		case len(f) > 3 && f[0] == "FRAME":
			fr := frame{regs: map[int]uint64{}}
			fr.pc, _ = strconv.ParseUint(f[2], 16, 64)
			fr.sp, _ = strconv.ParseUint(f[3], 16, 64)
			for _, kv := range f[4:] {
				name, val, _ := strings.Cut(kv, "=")
				n, ok := arch.AMD64.RegNumber(name)
				v, err := strconv.ParseUint(val, 16, 64)
				if !ok || err != nil {
					t.Fatalf("bad gdb output %q", line)
				}
				fr.regs[n] = v
			}
			frames = append(frames, fr)
		}
	}
	if len(frames) != depth || stackBase == 0 {
		t.Fatalf("gdb printed %d frames, stack %#x:\n%s", len(frames), stackBase, out)
	}
	stack, err := os.ReadFile(stackFile)
	if err != nil {
		t.Fatal(err)
	}
	mem := &memImage{base: stackBase, data: stack}

	s := loadSections(t, prog)
	tab, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	var regs arch.Regs
	regs.PC = frames[0].pc
	regs.Set(arch.AMD64.SP, frames[0].sp)
	for n, v := range frames[0].regs {
		regs.Set(n, v)
	}
	sawExpr := false
	for i := 1; i < depth; i++ {
		pc := regs.PC
		if i > 1 {
			pc-- // a return address: look up the call instruction
		}
		row, err := tab.Lookup(pc)
		if err != nil {
			t.Fatalf("frame %d: Lookup(%#x): %v", i-1, pc, err)
		}
		if row.CFA.Kind == CFAExpression {
			sawExpr = true
		}
		caller, cfa, err := row.Step(&regs, mem, arch.AMD64)
		if err != nil {
			t.Fatalf("frame %d: Step: %v", i-1, err)
		}
		want := frames[i]
		if caller.PC != want.pc {
			t.Errorf("frame %d: pc %#x, gdb says %#x", i, caller.PC, want.pc)
		}
		if sp, _ := caller.Get(arch.AMD64.SP); sp != want.sp || cfa != want.sp {
			t.Errorf("frame %d: sp %#x cfa %#x, gdb says %#x", i, sp, cfa, want.sp)
		}
		for _, n := range calleeSaved {
			got, ok := caller.Get(n)
			if !ok || got != want.regs[n] {
				t.Errorf("frame %d: %s = %#x (known %v), gdb says %#x", i, arch.AMD64.RegName(n), got, ok, want.regs[n])
			}
		}
		regs = caller
	}
	if !sawExpr {
		t.Error("no frame had an expression CFA: realign() did not realign the stack")
	}
}

// TestStepEndOfStack: the CFI of a function marking its return address
// undefined (as glibc's _start does) ends the stack.
func TestStepEndOfStack(t *testing.T) {
	bin := buildAsm(t)
	s := loadSections(t, bin)
	tab, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	addr := symbol(t, bin, "outermost")
	row, err := tab.Lookup(addr)
	if err != nil {
		t.Fatal(err)
	}
	var regs arch.Regs
	regs.Set(7, 0x1000)
	if _, _, err := row.Step(&regs, &memImage{}, arch.AMD64); !errors.Is(err, ErrEndOfStack) {
		t.Fatalf("Step = %v, want ErrEndOfStack", err)
	}
}

// TestStepUnevaluableRule: a rule that cannot be evaluated (here an
// expression branching backwards out of itself, as the ppc64 vDSO's
// vector-register rules do) makes only its register unknown; on the
// return-address column it still fails the step.
func TestStepUnevaluableRule(t *testing.T) {
	a := arch.AMD64
	const rbx = 3
	mem := &memImage{base: 0x1000, data: []byte{0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0}}
	row := &Row{
		CFA: Rule{Kind: CFARegOffset, Reg: a.SP, Offset: 8},
		RA:  16,
		Rules: []RegRule{
			{Col: rbx, Rule: Rule{Kind: Expression, Expr: []byte{0x31, 0x2f, 0xf0, 0xff}}},
			{Col: 16, Rule: Rule{Kind: Offset, Offset: -8}},
		},
	}
	var regs arch.Regs
	regs.Set(a.SP, 0x1000)
	regs.Set(rbx, 7)
	caller, cfa, err := row.Step(&regs, mem, a)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if _, ok := caller.Get(rbx); ok || caller.PC != 0x12345678 || cfa != 0x1008 {
		t.Errorf("caller pc %#x cfa %#x, rbx known %v: want pc 0x12345678, cfa 0x1008, rbx unknown", caller.PC, cfa, ok)
	}
	row.Rules[1].Rule = row.Rules[0].Rule
	if _, _, err := row.Step(&regs, mem, a); err == nil {
		t.Error("Step with an unevaluable return-address rule succeeded")
	}
}

// TestStepS390XSP: on s390x the CFA is the caller's SP plus its 160-byte
// register save area (arch.Arch.CFABias), so at a leaf's entry, with no
// rule for r15, the caller's SP is the callee's; past gcc's -O0 leaf
// prologue (ldgr %f2,%r11; ldgr %f0,%r15; lay %r15,-176(%r15); lgr
// %r11,%r15), where r15's rule names f0, which the registers lack, it is
// the CFA less 160 all the same. The return address stays in r14.
func TestStepS390XSP(t *testing.T) {
	a := arch.S390X
	const r11, r14, f0, f2 = 11, 14, 16, 17
	var regs arch.Regs
	regs.Set(a.SP, 0x7ff000)
	regs.Set(r14, 0x1000b00)
	entry := &Row{CFA: Rule{Kind: CFARegOffset, Reg: a.SP, Offset: 160}, RA: r14}
	caller, _, err := entry.Step(&regs, nil, a)
	if sp, _ := caller.Get(a.SP); err != nil || sp != 0x7ff000 || caller.PC != 0x1000b00 {
		t.Errorf("at the entry: caller sp %#x pc %#x, %v; want sp 0x7ff000 pc 0x1000b00", sp, caller.PC, err)
	}
	body := &Row{
		CFA: Rule{Kind: CFARegOffset, Reg: r11, Offset: 336},
		RA:  r14,
		Rules: []RegRule{
			{Col: r11, Rule: Rule{Kind: Register, Reg: f2}},
			{Col: a.SP, Rule: Rule{Kind: Register, Reg: f0}},
		},
	}
	regs.Set(a.SP, 0x7ff000-176)
	regs.Set(r11, 0x7ff000-176)
	caller, _, err = body.Step(&regs, nil, a)
	if sp, _ := caller.Get(a.SP); err != nil || sp != 0x7ff000 || caller.PC != 0x1000b00 {
		t.Errorf("in the body: caller sp %#x pc %#x, %v; want sp 0x7ff000 pc 0x1000b00", sp, caller.PC, err)
	}
}
