package eval

import (
	"fmt"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const goSrc = "testdata/gotarget/main.go"

func TestGoOptimized(t *testing.T) { testGo(t, goTarget(t), true) }

func TestGoNoOpt(t *testing.T) { testGo(t, goTarget(t, "-gcflags=all=-N -l"), false) }

// noOpt are expressions over locals the optimizer folds away: without
// -N -l they must print the same or fail with one clear line.
var noOpt = map[string]string{
	// Integers of every size, negative ones included.
	"i8": "-8", "i16": "-1600", "i32": "-320000", "i64": "-64000000000",
	"u8": "200", "u16": "65000", "u32": "4000000000", "u64": "9223372036854775813",
	"f": "3.5", "-i8": "8", "uint8(u16)": "232", "i8 < 0 || false": "true",
	"sl":    "[]int len: 4, cap: 4, [10,20,30,40]",
	"sl[2]": "30", "len(sl)": "4", "sl[1:3]": "[]int len: 2, cap: 3, [20,30]",
	"e":     `error(*errors.errorString) *errors.errorString {s: "boom"}`,
	"ifc":   `interface {}(main.T) main.T {A: 7, S: "in iface", P: *main.T nil, U: main.U {X: 0, Y: false}, Arr: [3]int8 [0,0,0], F: 0}`,
	"ifc.S": `"in iface"`,
}

func testGo(t *testing.T, path string, optimized bool) {
	st := start(t, path, goSrc)
	taddr := hex(st.ora("addr t"))
	for expr, want := range noOpt {
		if !optimized {
			st.want(expr, want)
			continue
		}
		v, err := Eval(st.sc, expr)
		switch {
		case err == nil:
			if s := v.String(); s != want && !strings.HasPrefix(s, "(partly optimized out)") && !strings.HasPrefix(expr, "len(") && !strings.Contains(expr, "[") {
				t.Errorf("Eval(%q) = %s, want %s or an error", expr, s, want)
			}
		case strings.Contains(err.Error(), "\n"):
			t.Errorf("Eval(%q): error of several lines: %q", expr, err)
		case !strings.Contains(err.Error(), "optimized out") && !strings.Contains(err.Error(), "no variable") && !strings.Contains(err.Error(), "out of range"):
			t.Errorf("Eval(%q): %v, want 'optimized out' or 'no variable'", expr, err)
		}
	}
	for expr, want := range map[string]string{
		"local": "5",
		// arguments, as the target printed them
		"n": st.ora("values n"), "s": `"` + st.ora("values s") + `"`,
		"counter": "42", "main.counter": "42",
		"len(gmap)": st.ora("values len(gmap)"), "cap(gch)": st.ora("values cap(gch)"), "len(gch)": "2",
		"len(gbig)": "100",
		"t.A":       "1", "t.S": `"hello"`, "t.P.S": `"child"`, "t.U.X": "9", "t.U.Y": "true",
		"t.Arr": "[3]int8 [1,-2,3]", "t.Arr[1]": "-2", "t.F": "2.25",
		"(*t).A": "1", "*t.P": `main.T {A: 2, S: "child", P: *main.T nil, U: main.U {X: 0, Y: false}, Arr: [3]int8 [0,0,0], F: 0}`,
		"t":                                    `*main.T {A: 1, S: "hello", P: *main.T {...}, U: main.U {X: 9, Y: true}, Arr: [3]int8 [1,-2,3], F: 2.25}`,
		"gerr":                                 `error(*errors.errorString) *errors.errorString {s: "boom"}`,
		"giface":                               `interface {}(main.T) main.T {A: 7, S: "in iface", P: *main.T nil, U: main.U {X: 0, Y: false}, Arr: [3]int8 [0,0,0], F: 0}`,
		"gmap[\"b\"]":                          "2",
		"gbig[7]":                              "49",
		"gslice":                               `[]string len: 3, cap: 3, ["x","yy","zzz"]`,
		"gslice[2][1]":                         "122",
		"n > 3 && t.A == 1":                    "true",
		"n*2+1":                                "11",
		"s == \"arg\"":                         "true",
		fmt.Sprintf("*(*int)(%#x)", taddr):     "1",
		fmt.Sprintf("(*main.T)(%#x).S", taddr): `"hello"`,
		fmt.Sprintf("*(*int64)(%s)", st.ora("addr counter")): "42",
		"&counter":              "(*int64)(" + st.ora("addr counter") + ")",
		"$pc == $pc":            "true",
		"runtime.ncgocall >= 0": "true",
	} {
		st.want(expr, want)
	}
	if v := st.eval("t"); v.Format('x') == "" || !strings.Contains(st.eval("t.A").Format('x'), "0x1") {
		t.Errorf("Format('x') of t.A = %q", st.eval("t.A").Format('x'))
	}
	if got := st.eval("gmap").String(); !strings.HasPrefix(got, "map[string]int [") ||
		!strings.Contains(got, `"a": 1`) || !strings.Contains(got, `"b": 2`) || !strings.Contains(got, `"c": 3`) {
		t.Errorf("gmap = %s", got)
	}
	if got := st.eval("gbig").String(); !strings.Contains(got, "...+36 more") {
		t.Errorf("gbig = %s, want 64 entries and ...+36 more", got)
	}
	if got := st.eval("&local").String(); got != "(*int)("+st.ora("addr local")+")" {
		t.Errorf("&local = %s, target says %s", got, st.ora("addr local"))
	}
	st.wantErr("nosuch", "no variable nosuch in main.inspect at line")
	st.wantErr("t.Nope", "has no field Nope")
	st.wantErr("*(*uint64)(0x10)", "cannot read 8 bytes at 0x10")
	st.wantErr("sl[9]", "index 9 out of range")
	st.wantErr("$nosuchreg", "no register $nosuchreg")
	st.wantErr("t +", "cannot parse")
	st.wantErr("runtime.types", "runtime.types has no DWARF type; its symbol is at 0x")

	if !optimized {
		st.want(fmt.Sprintf("(*[2]int64)(%#x)[0]", hex(st.ora("addr sl0"))), "10")
	}
	args, err := Args(st.sc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range args {
		names = append(names, a.Name+"="+a.String())
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "n=5") || !strings.Contains(got, `s="arg"`) {
		t.Errorf("Args = %s", got)
	}
	locals, err := Locals(st.sc)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, l := range locals {
		found[l.Name] = l.String()
	}
	if found["local"] != "5" || !optimized && found["i16"] != "-1600" {
		t.Errorf("Locals = %v", found)
	}
	j := st.eval("t.U").JSON().(map[string]any)
	if j["type"] != "main.U" || len(j["children"].([]any)) != 2 {
		t.Errorf("JSON = %v", j)
	}

	// set: a global and a local, then the target prints them.
	if err := Assign(st.sc, "counter", "77"); err != nil {
		t.Fatal(err)
	}
	if err := Assign(st.sc, "local", "-99"); err != nil {
		t.Fatal(err)
	}
	if err := Assign(st.sc, fmt.Sprintf("*(*int)(%#x)", taddr), "0x1234"); err != nil {
		t.Fatal(err)
	}
	st.want("counter", "77")
	if err := Assign(st.sc, "counter", `"x"`); err == nil {
		t.Error("Assign of a string to an int64 succeeded")
	}
	if l := st.resume("after"); l != "after counter=77 local=-99 t.A=4660" {
		t.Errorf("target says %q, want the values set", l)
	}
}

// TestGoToolchains reads the Go runtime's structures as every toolchain
// lays them out: bucket maps up to go1.23, swiss maps after, interfaces,
// strings and slices, in default (optimized) builds.
func TestGoToolchains(t *testing.T) {
	for _, tc := range testprog.Toolchains(t) {
		if tc.Go == "" || tc.Minor() == 26 { // the machine's Go: TestGoOptimized
			continue
		}
		t.Run(tc.Version, func(t *testing.T) {
			requireRoot(t)
			st := start(t, testprog.BuildGoDir(t, tc, "testdata/gotarget", false), goSrc)
			for expr, want := range map[string]string{
				"counter": "42", "len(gmap)": "3", "gmap[\"c\"]": "3", "len(gbig)": "100", "gbig[9]": "81",
				"cap(gch)": "10", "len(gch)": "2", "t.P.S": `"child"`, "t.Arr": "[3]int8 [1,-2,3]",
				"gerr":   `error(*errors.errorString) *errors.errorString {s: "boom"}`,
				"giface": `interface {}(main.T) main.T {A: 7, S: "in iface", P: *main.T nil, U: main.U {X: 0, Y: false}, Arr: [3]int8 [0,0,0], F: 0}`,
				"gslice": `[]string len: 3, cap: 3, ["x","yy","zzz"]`,
			} {
				st.want(expr, want)
			}
			if got := st.eval("gbig").String(); !strings.Contains(got, "...+36 more") || strings.Count(got, ":") != 64 {
				t.Errorf("gbig = %s", got)
			}
			if err := Assign(st.sc, "counter", "-1"); err != nil {
				t.Fatal(err)
			}
			if l := st.resume("after"); !strings.HasPrefix(l, "after counter=-1 ") {
				t.Errorf("target says %q", l)
			}
		})
	}
}

// TestGoEntryArgs stops at the first instruction of main.inspect, where
// ABIInternal has the arguments in registers and the optimized build's
// location lists describe the string as two register pieces
// (DW_OP_regN DW_OP_piece 8 DW_OP_regM DW_OP_piece 8).
func TestGoEntryArgs(t *testing.T) {
	st := startAt(t, goTarget(t), func(m *module.Module) uint64 {
		a, _, ok := m.SymbolByName("main.inspect")
		if !ok {
			t.Fatal("no main.inspect")
		}
		return a
	})
	st.want("n", "5")
	st.want("s", `"arg"`)
	st.want("len(s) + n", "8")
	if err := Assign(st.sc, "n", "7"); err != nil {
		t.Fatal(err)
	}
	st.want("n", "7")
	if err := Assign(st.sc, "s", `"x"`); err == nil {
		t.Error("Assign of a string literal to a register-split string succeeded")
	}
	if l := st.resume("values"); !strings.HasPrefix(l, "values n=7 s=arg ") {
		t.Errorf("target says %q, want n=7 (set in its register)", l)
	}
}

// TestGoStripped: without DWARF or symbols, registers, memory and the
// builtin types still work, and names say why they do not.
func TestGoStripped(t *testing.T) {
	full := goTarget(t)
	stripped := filepath.Join(buildDir, "gostripped")
	if out, err := exec.Command("objcopy", "--strip-all", full, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	st := startAt(t, stripped, func(*module.Module) uint64 {
		m, err := module.Open(full, module.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		return lineAddr(t, m, filepath.Base(goSrc), breakLine(t, goSrc))
	})
	st.waitLine("addr")
	st.want(fmt.Sprintf("*(*int64)(%s)", st.ora("addr counter")), "42")
	st.want(fmt.Sprintf("(*[4]int)(%s)[3]", st.ora("addr sl0")), "40")
	st.want(fmt.Sprintf("*(*uint8)(%s + 1) == 0", st.ora("addr counter")), "true")
	st.want("$pc == "+fmt.Sprint(st.sc.Regs.PC), "true")
	st.wantErr("counter", "has no DWARF (stripped): only registers, memory and builtin types work")
	st.wantErr("*(*main.T)(0x10)", "no DWARF")
	if err := Assign(st.sc, fmt.Sprintf("*(*int64)(%s)", st.ora("addr counter")), "-7"); err != nil {
		t.Fatal(err)
	}
	if l := st.resume("after"); !strings.HasPrefix(l, "after counter=-7 ") {
		t.Errorf("target says %q", l)
	}
}
