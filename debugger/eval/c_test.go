package eval

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const cSrc = "testdata/ctarget/ctarget.c"

func TestCO0(t *testing.T) { testC(t, "-O0") }

// gcc 12 writes DWARF 5: arguments at -O2 come from .debug_loclists.
func TestCO2(t *testing.T) { testC(t, "-O2") }

// DWARF 4: location lists from .debug_loc.
func TestCO2Dwarf4(t *testing.T) { testC(t, "-O2", "-gdwarf-4") }

func testC(t *testing.T, opt string, flags ...string) {
	st := start(t, cTarget(t, append([]string{opt}, flags...)...), cSrc)
	first := st.ora("addr first")

	// What gdb prints for the same globals of the same process (gdb
	// attaches after the session detaches: run it last). Here values
	// known from the source and the target's own printf.
	st.want("gflags", "struct flags {a: 5, b: -3, c: 1000000, d: 777, e: -123456789012}")
	for expr, want := range map[string]string{
		"counter":                              "42",
		"gnode.id":                             "7",
		"gnode.name":                           `0x` + "", // checked below against gdb
		"gnode.pt.y":                           "4",
		"gnode.c":                              "BLUE",
		"gnode.d":                              "1.5",
		"gnode.arr":                            "[4]short int [1,-2,3,-4]",
		"gnode.arr[3]":                         "-4",
		"greeting[4]":                          "111 'o'",
		"*greeting":                            "104 'h'",
		"&counter":                             "(*long int)(" + st.ora("addr counter") + ")",
		"a":                                    "3",
		"b":                                    "1000000000000",
		"local":                                "6",
		"counter + a":                          "45",
		"$sp != 0":                             "true",
		"a == 3 && b > 10":                     "true",
		fmt.Sprintf("*(*int32)(%s)", first):    "1",
		fmt.Sprintf("(*node)(%s).pt.y", first): "2",
		fmt.Sprintf("(*node)(%s).next.name", first): "", // a char*: checked by prefix below
	} {
		if want == "" || strings.HasSuffix(want, "0x") {
			continue
		}
		st.want(expr, want)
	}
	if got := st.eval("greeting").String(); !strings.HasSuffix(got, ` "hello, world"`) || !strings.HasPrefix(got, "0x") {
		t.Errorf("greeting = %s, want 0x... \"hello, world\"", got)
	}
	if got := st.eval(fmt.Sprintf("(*node)(%s).next.name", first)).String(); !strings.HasSuffix(got, `"second"`) {
		t.Errorf("first.next.name = %s", got)
	}
	if opt == "-O0" {
		// -O2 keeps these in registers or folds them: checked only at -O0.
		for expr, want := range map[string]string{
			"c8": "-8 '\\370'", "s16": "-1600", "u32": "4000000000", "i64": "-64000000000",
			"w.u": "16909060", "w.b[0]": "4 '\\004'",
			"first.next.pt.x": "5", "first.c": "RED", "second.c": "GREEN", "first.d": "2.5",
			"first.next.next": "(*struct node)(0x0)",
		} {
			if expr == "first.next.next" {
				want = "*struct node nil"
			}
			st.want(expr, want)
		}
		if got := st.eval("first").String(); !strings.HasPrefix(got, `struct node {id: 1, name: 0x`) ||
			!strings.Contains(got, `"first", pt: struct point {x: 1, y: 2}, next: *struct node {...}, c: RED, d: 2.5, arr: [4]short int [1,2,3,4]}`) {
			t.Errorf("first = %s", got)
		}
		if got := st.eval("w").Format('x'); got != "union word {u: 0x1020304, b: [4]unsigned char [0x4,0x3,0x2,0x1]}" {
			t.Errorf("w/x = %s", got)
		}
		if got := st.eval("&first").String(); got != "*struct node {id: 1, name: "+st.eval("first.name").String()+", pt: struct point {x: 1, y: 2}, next: *struct node {...}, c: RED, d: 2.5, arr: [4]short int [1,2,3,4]}" {
			t.Errorf("&first = %s", got)
		}
	}
	st.wantErr("nosuch", "no variable nosuch in inspect at line")
	st.wantErr("*(*uint64)(0x10)", "cannot read 8 bytes at 0x10: not mapped")
	st.wantErr("gnode.next.id", "gnode.next is nil")
	st.want("gnode.arr[2] == *(&gnode.arr[0] + 2)", "true")
	st.want("&gnode.arr[3] - &gnode.arr[1]", "2")
	// Locals the optimizer dropped say so in one line; the others read.
	locals, err := Locals(st.sc)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, l := range locals {
		if err := l.Err(); err != nil {
			if !errors.Is(err, ErrOptimizedOut) || err.Error() != l.Name+" is optimized out here" && !strings.HasPrefix(err.Error(), l.Name+" is optimized out here (") {
				t.Errorf("local %s: %v", l.Name, err)
			}
			continue
		}
		if l.Name == "local" && l.String() == "6" || l.Name == "first" {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("Locals lacks local = 6 or first: %v", locals)
	}
	if opt == "-O0" {
		// Frame 1 (main), with the registers and CFA CFI gives it: the
		// line main read from stdin.
		caller := st.callerScope()
		v, err := Eval(caller, "line")
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Format('s'); got != `[64]char "go\n"` {
			t.Errorf("frame 1: line/s = %s", got)
		}
		if _, err := Eval(caller, "local"); err == nil || !strings.Contains(err.Error(), "no variable local in main") {
			t.Errorf("frame 1 sees inspect's local: %v", err)
		}
	}

	// x/FMT against the values the target holds.
	out, err := Examine(st.sc, "2dw", hex(first))
	if err != nil {
		t.Fatal(err)
	}
	// struct node starts with int id = 1 (then padding).
	if f := strings.Fields(out); len(f) != 3 || f[0] != first+":" || f[1] != "1" {
		t.Errorf("x/2dw first = %q", out)
	}
	out, err = Examine(st.sc, "s", st.eval("greeting").uintMust(t))
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), `"hello, world"`) {
		t.Errorf("x/s greeting = %q, %v", out, err)
	}
	out, err = Examine(st.sc, "2i", st.sc.PC)
	if err != nil || !strings.Contains(out, "=> ") || strings.Count(out, "\n") != 2 {
		t.Errorf("x/2i $pc = %q, %v", out, err)
	}

	// Registers: $pc is the breakpoint's address, $sp the thread's; set
	// $sp, see the thread's register change, and put it back.
	regs, _ := st.s.Regs(st.tid)
	st.want("$pc", fmt.Sprint(regs.PC))
	sp, _ := regs.Get(st.sc.Arch.SP)
	st.want("$sp", fmt.Sprint(sp))
	st.want("$pc == "+fmt.Sprint(regs.PC)+" && $sp > 0", "true")
	if err := Assign(st.sc, "$sp", "$sp + 16"); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.s.Regs(st.tid); r.R[st.sc.Arch.SP] != sp+16 {
		t.Errorf("after set $sp = $sp + 16: sp %#x, want %#x", r.R[st.sc.Arch.SP], sp+16)
	}
	if err := Assign(st.sc, "$sp", fmt.Sprint(sp)); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.s.Regs(st.tid); r.R[st.sc.Arch.SP] != sp {
		t.Errorf("sp not restored")
	}

	// set, then the target prints what it sees.
	if err := Assign(st.sc, "counter", "-5"); err != nil {
		t.Fatal(err)
	}
	if err := Assign(st.sc, "local", "1234"); err != nil {
		t.Fatal(err)
	}
	if err := Assign(st.sc, fmt.Sprintf("*(*int32)(%s)", first), "77"); err != nil {
		t.Fatal(err)
	}
	// gdb, attached to the same process once the session has let it
	// go, prints the globals as this package did (counter as set).
	exprs := []string{"gflags.a", "gflags.b", "gflags.c", "gflags.d", "gflags.e", "counter", "gnode.id", "gnode.pt.y", "gnode.c", "gnode.d", "gnode.arr[1]", "*greeting", "greeting[4]", "gnode.name[0]"}
	var mine []string
	for _, e := range exprs {
		mine = append(mine, st.eval(e).String())
	}
	mineX := st.eval("gnode.pt").Format('x')
	gn := st.eval("&gnode").uintMust(t)
	var mineExamine []string
	for _, f := range examineFormats {
		out, err := Examine(st.sc, f, gn)
		if err != nil {
			t.Fatal(err)
		}
		mineExamine = append(mineExamine, out)
	}
	if l := st.resume("after"); l != "after counter=-5 local=1234 first.id=77" {
		t.Errorf("target says %q, want the values set", l)
	}
	if err := st.s.Detach(); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for _, e := range exprs {
		cmds = append(cmds, "print "+e)
	}
	gdb := gdbPrint(t, st.pid, append(cmds, "print/x gnode.pt")...)
	for i, e := range exprs {
		if gdb[i] != mine[i] {
			t.Errorf("%s: gdb prints %s, eval %s", e, gdb[i], mine[i])
		}
	}
	var xcmds []string
	for _, f := range examineFormats {
		xcmds = append(xcmds, "x/"+f+" &gnode")
	}
	gdbX := gdbExamine(t, st.pid, xcmds...)
	for i, f := range examineFormats {
		if got := gdbX[i]; got != mineExamine[i] {
			t.Errorf("x/%s &gnode: gdb\n%s\neval\n%s", f, got, mineExamine[i])
		}
	}
	if want := "{x = 0x3, y = 0x4}"; gdb[len(exprs)] != want || mineX != "struct point {x: 0x3, y: 0x4}" {
		t.Errorf("print/x gnode.pt: gdb %s, eval %s", gdb[len(exprs)], mineX)
	}
}

func (v *Value) uintMust(t *testing.T) uint64 {
	u, err := v.uint()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// BenchmarkCondition is the cost of a breakpoint condition over a local,
// a global and a register, evaluated at a stop (what each conditional hit
// of taiji debug pays in the evaluator).
func BenchmarkCondition(b *testing.B) {
	st := start(b, cTarget(b, "-O2"), cSrc)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := Eval(st.sc, "local > 10 && counter == 42 || $sp == 0")
		if err != nil || v.String() != "false" {
			b.Fatal(v, err)
		}
	}
}

// examineFormats are x/FMT letters compared with gdb's output, byte for byte.
var examineFormats = []string{"6xw", "3dg", "8xb", "4dh", "2ug", "3ow", "2tb", "3c"}
