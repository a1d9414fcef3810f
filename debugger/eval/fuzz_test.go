package eval

import (
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// noMemory is a target whose every read fails, as unmapped memory does.
type noMemory struct{}

func (noMemory) ReadMemory(addr uint64, p []byte) error  { return errNotMapped }
func (noMemory) WriteMemory(addr uint64, p []byte) error { return errNotMapped }

var errNotMapped = &notMapped{}

type notMapped struct{}

func (*notMapped) Error() string { return "not mapped" }

// A scope with no module: what works on a stripped binary with no symbols
// at all (registers, builtin types, arithmetic) and errors for the rest.
func bareScope() *Scope {
	sc := &Scope{Arch: arch.Host(), Mem: noMemory{}, PC: 0x401000}
	sc.Regs.PC = 0x401000
	sc.Regs.Set(sc.Arch.SP, 0x7ffe0000)
	return sc
}

func TestEvalNoModule(t *testing.T) {
	sc := bareScope()
	for expr, want := range map[string]string{
		"1+2*3":               "7",
		"$pc":                 "4198400",
		"$sp == 0x7ffe0000":   "true",
		"uint8(300)":          "44",
		"int8(-1) < 0":        "true",
		"uint32(1) << 31":     "2147483648",
		"1.5 * 2":             "3",
		`"ab" == "ab"`:        "true",
		"len(\"héllo\")":      "6",
		"(*uint32)(0x7bf6c)":  "(*uint32)(0x7bf6c)",
		"int16(-32768) - 1":   "32767",
		"!(1 > 2) && 3 >= 3":  "true",
		"(*[4]uint64)(0x100)": "*[4]uint64 (unreadable cannot read 32 bytes at 0x100: not mapped)",
	} {
		v, err := Eval(sc, expr)
		if err != nil {
			t.Errorf("Eval(%q): %v", expr, err)
			continue
		}
		if got := v.String(); got != want {
			t.Errorf("Eval(%q) = %s, want %s", expr, got, want)
		}
	}
	if v, _ := Eval(sc, "255"); v.Format('x') != "0xff" || v.Format('o') != "0377" || v.Format('b') != "11111111" || v.Format('c') != "'\\xff'" && v.Format('c') != "'ÿ'" {
		t.Errorf("formats of 255: %s %s %s %s", v.Format('x'), v.Format('o'), v.Format('b'), v.Format('c'))
	}
	for expr, want := range map[string]string{
		"*(*uint32)(0x7bf6c)": "cannot read 4 bytes at 0x7bf6c: not mapped",
		"x":                   "no module at PC 0x401000",
		"1 +":                 "cannot parse",
		"$":                   "'$' must start a register name",
		"$nosuch":             "no register $nosuch",
		"1/0":                 "division by zero",
		"f(1)":                "function calls are not supported",
		"*3":                  "cannot dereference",
		"&3":                  "cannot take the address",
		"(*main.T)(0x10)":     "main.T",
	} {
		_, err := Eval(sc, expr)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Eval(%q) error %v, want one line with %q", expr, err, want)
		}
	}
	if err := Assign(sc, "$pc", "1"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Assign to $pc of a read-only scope: %v", err)
	}
	var set []uint64
	sc.SetReg = func(n int, v uint64) error { set = append(set, uint64(n), v); return nil }
	if err := Assign(sc, "$sp", "$sp - 8"); err != nil || len(set) != 2 || set[1] != 0x7ffe0000-8 {
		t.Errorf("Assign $sp: %v, SetReg calls %v", err, set)
	}
}

func TestExamineFormat(t *testing.T) {
	for in, want := range map[string]ExamineFormat{
		"":     {1, 'x', 4},
		"4xw":  {4, 'x', 4},
		"/2gx": {2, 'x', 8},
		"s":    {1, 's', 4},
		"10i":  {10, 'i', 4},
		"c":    {1, 'c', 1},
		"a":    {1, 'a', 8},
		"3db":  {3, 'd', 1},
	} {
		got, err := ParseExamineFormat(in, 8)
		if err != nil || got != want {
			t.Errorf("ParseExamineFormat(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"q", "0x", "99999999"} {
		if _, err := ParseExamineFormat(bad, 8); err == nil {
			t.Errorf("ParseExamineFormat(%q) accepted", bad)
		}
	}
}

// FuzzEval: no expression makes the parser or the evaluator panic.
func FuzzEval(f *testing.F) {
	for _, s := range []string{"1+2", "$pc", "*(*uint32)(0x7bf6c)", "(*[4]uint64)(0x10)[3]", "s[1:3]",
		`"a\"b" == "c"`, "len(x)", "a.b.c[1].d", "&x", "-$sp", "uint8(1<<70)", "$$", "'\\x", "x[", "(*int)(1)[0:]",
		"[]int", "map[int]int", "func(){}", "1e400", "0b102", "`raw`"} {
		f.Add(s)
	}
	sc := bareScope()
	f.Fuzz(func(t *testing.T, expr string) {
		v, err := Eval(sc, expr)
		if err == nil {
			_ = v.String()
			_ = v.Format('x')
			_ = v.JSON()
		} else if strings.Contains(err.Error(), "internal error") {
			t.Errorf("Eval(%q): %v", expr, err)
		}
		_ = Assign(sc, expr, "1")
		_, _ = Examine(sc, expr, 0)
	})
}
