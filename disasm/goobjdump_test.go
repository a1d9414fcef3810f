package disasm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/pclntab"
)

// TestGoObjdumpAgrees cross-builds a Go program for each arch whose
// decoder reads the encodings itself (ppc64le, s390x, riscv64: fixed or
// self-describing lengths, compressed riscv64 instructions in go1.26) and
// checks every function against `go tool objdump`, the Go toolchain's own
// disassembler for these arches: the same instruction starts, the same
// RETs, a CALL wherever it says CALL, and, for each function whose prologue
// calls morestack, an entry probe site past the stack check that is not in
// the morestack path (the body's first instruction).
func TestGoObjdumpAgrees(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	for _, name := range []string{"ppc64le", "s390x", "riscv64"} {
		t.Run(name, func(t *testing.T) {
			a, _ := arch.ByName(name)
			bin := filepath.Join(t.TempDir(), "tracetarget")
			cmd := exec.Command(goTool, "build", "-o", bin, "../internal/testprog/tracetarget")
			cmd.Env = append(os.Environ(), "GOARCH="+name, "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			out, err := exec.Command(goTool, "tool", "objdump", bin).Output()
			if err != nil {
				t.Fatalf("go tool objdump: %v", err)
			}
			listing := parseGoObjdump(out)
			checkAgainstObjdump(t, a, bin, listing)
		})
	}
}

type objdumpLine struct {
	addr uint64
	text string
}

// parseGoObjdump maps the address of each TEXT symbol of go tool
// objdump's output to its lines ("  file.go:12  0x1000  eade0010  MOVD
// 16(R30),R22"). Symbols are keyed by address, as objdump names ABI0
// functions "F.abi0" where pclntab says "F".
func parseGoObjdump(out []byte) map[uint64][]objdumpLine {
	m := map[uint64][]objdumpLine{}
	var cur string
	var start uint64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "TEXT "); ok {
			cur, _, _ = strings.Cut(rest, "(SB)")
			start = 0
			continue
		}
		f := strings.Split(strings.TrimSpace(line), "\t")
		var fields []string
		for _, s := range f {
			if s != "" {
				fields = append(fields, s)
			}
		}
		if len(fields) < 3 || !strings.HasPrefix(fields[1], "0x") {
			continue
		}
		addr, err := strconv.ParseUint(fields[1][2:], 16, 64)
		if err != nil {
			continue
		}
		text := ""
		if len(fields) > 3 {
			text = strings.TrimSpace(fields[3])
		}
		if start == 0 {
			start = addr
		}
		m[start] = append(m[start], objdumpLine{addr, text})
		_ = cur
	}
	return m
}

func checkAgainstObjdump(t *testing.T, a *arch.Arch, bin string, listing map[uint64][]objdumpLine) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := pclntab.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	funcs, checks := 0, 0
	for _, fn := range tab.Funcs() {
		lines, ok := listing[fn.Entry]
		if !ok || fn.End <= fn.Entry || fn.Entry < text.Addr {
			continue
		}
		code := make([]byte, fn.End-fn.Entry)
		if _, err := text.ReadAt(code, int64(fn.Entry-text.Addr)); err != nil {
			t.Fatal(err)
		}
		insts, err := Decode(a, code, fn.Entry)
		if err != nil {
			// Refusing is right only where objdump too finds no
			// instruction (data in code), or for markers that are no
			// function (go:textfipsend).
			unknown := strings.HasPrefix(fn.Name, "go:")
			for _, l := range lines {
				unknown = unknown || l.text == "?" && l.addr < lines[len(lines)-1].addr
			}
			if !unknown {
				t.Errorf("%s: %v", fn.Name, err)
			}
			continue
		}
		funcs++
		ours := map[uint64]Inst{}
		for _, in := range insts {
			ours[in.Addr] = in
		}
		// pclntab's End includes the padding after the function, which
		// go tool objdump leaves out.
		n := 0
		for _, in := range insts {
			if len(lines) > 0 && in.Addr <= lines[len(lines)-1].addr {
				n++
			}
		}
		if n != len(lines) {
			t.Errorf("%s: %d instructions, go tool objdump %d", fn.Name, n, len(lines))
		}
		morestack, self := -1, -1
		for i, l := range lines {
			in, ok := ours[l.addr]
			if !ok {
				t.Errorf("%s: go tool objdump has an instruction at %#x (%s), taiji none", fn.Name, l.addr, l.text)
				break
			}
			op, _, _ := strings.Cut(l.text, " ")
			if op == "RET" && a.Name == "s390x" && in.Raw[1] != 0xfe {
				// go tool objdump writes every bcr 15,Rx as RET; only
				// br %r14 returns (gogo's br %r6, reflectcall's br %r5
				// jump to code elsewhere).
				op = "JMP"
				if in.Kind != Jump {
					t.Errorf("%s: %#x %q: kind %d, want an indirect jump", fn.Name, l.addr, l.text, in.Kind)
				}
			}
			if (op == "RET") != (in.Kind == Ret) {
				t.Errorf("%s: %#x %q: kind %d", fn.Name, l.addr, l.text, in.Kind)
			}
			if op == "CALL" && in.Kind != Call {
				t.Errorf("%s: %#x %q: not a call", fn.Name, l.addr, l.text)
			}
			if strings.Contains(l.text, "runtime.morestack") && morestack < 0 {
				morestack = i
			}
			if (op == "JMP" || op == "BR") && strings.HasSuffix(l.text, " "+fn.Name+"(SB)") && self < 0 && strings.HasPrefix(fn.Name, "main.") {
				self = i
				if in.Kind != Jump || in.Target != fn.Entry {
					t.Errorf("%s: %#x %q: kind %d target %#x, want a jump to %#x", fn.Name, l.addr, l.text, in.Kind, in.Target, fn.Entry)
				}
			}
		}
		if morestack < 0 || self < 0 || !strings.HasPrefix(fn.Name, "main.") {
			continue
		}
		// The morestack path spills, calls and jumps back; the body is
		// right after it when it comes first (ppc64, riscv64), else right
		// after the check's branch, with the path at the end (s390x).
		end, ok := GoStackCheckEnd(a, insts)
		checks++
		if br, ok := GoStackCheckBranch(a, insts); !ok || ours[br].Kind != CondJump || br > fn.Entry+16 {
			t.Errorf("%s: stack check branch %#x (%v) is not the prologue's conditional branch", fn.Name, br, ok)
		}
		switch {
		case !ok:
			t.Errorf("%s: no stack check found", fn.Name)
		case !retBefore(lines, morestack):
			if self+1 >= len(lines) || end != lines[self+1].addr {
				t.Errorf("%s: entry %#x, want %#x (after the morestack path)", fn.Name, end, lines[self+1].addr)
			}
		case end >= lines[morestack].addr || end <= fn.Entry || end > lines[min(4, len(lines)-1)].addr:
			t.Errorf("%s: entry %#x not right after the stack check", fn.Name, end)
		}
	}
	if funcs < 1000 || checks < 5 {
		t.Fatalf("only %d functions, %d stack checks compared", funcs, checks)
	}
	t.Logf("%d functions agree with go tool objdump, %d stack checks", funcs, checks)
}

// retBefore reports whether a RET comes before line i.
func retBefore(lines []objdumpLine, i int) bool {
	for _, l := range lines[:i] {
		if l.text == "RET" {
			return true
		}
	}
	return false
}
