package module

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A function whose body holds assembler-local labels, kept in the symbol
// table by as -L, as LoongArch and RISC-V assemblers keep them for linker
// relaxation (clang's loong64 start_thread showed as ".LVL55" in the
// loong64 VM).
// Clang's start_thread had hundreds of them, more than Symbol's look-back
// for a containing sized symbol covers: here 16, one per instruction.
const asmLocalSrc = `
__asm__(".text\n.globl labelled\n.type labelled,@function\nlabelled:\n"
        "\tnop\n.L1:\n\tnop\n.L2:\n\tnop\n.L3:\n\tnop\n.L4:\n\tnop\n.L5:\n\tnop\n.L6:\n\tnop\n.L7:\n\tnop\n.L8:\n"
        "\tnop\n.L9:\n\tnop\n.L10:\n\tnop\n.L11:\n\tnop\n.L12:\n\tnop\n.L13:\n\tnop\n.L14:\n\tnop\n.Lmid:\n"
        "\tnop\n\tret\n.size labelled,.-labelled\n");
int main(void) { return 0; }
`

// TestAsmLocalLabels: a PC after a kept .L label is named by the function
// around it, as gdb and addr2line name it.
func TestAsmLocalLabels(t *testing.T) {
	need(t, "gcc", "nm")
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "l.c"), filepath.Join(dir, "l")
	if err := os.WriteFile(src, []byte(asmLocalSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "gcc", "-O2", "-Wa,-L", "-o", bin, src)
	if !strings.Contains(run(t, "nm", bin), ".Lmid") {
		t.Fatal("as -L kept no .Lmid label: the test proves nothing")
	}
	// GNU as's fake labels ("L0\001", as in Debian's loong64 libc.a), which
	// as never keeps on amd64: .L1 to .L9 renamed in the string table.
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for i := '1'; i <= '9'; i++ {
		b = bytes.ReplaceAll(b, []byte{0, '.', 'L', byte(i), 0}, []byte("\x00L0\x01\x00"))
	}
	fake := filepath.Join(dir, "fake")
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{bin, fake} {
		m, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		start, _, ok := m.SymbolByName("labelled")
		if !ok {
			t.Fatalf("%s: no symbol labelled", path)
		}
		for off := uint64(0); off < 17; off++ {
			name, at, ok := m.Symbol(start + off)
			if !ok || name != "labelled" || at != start {
				t.Errorf("%s: Symbol(labelled+%d) = %q at %#x, %v; want labelled at %#x", filepath.Base(path), off, name, at, ok, start)
			}
		}
		m.Close()
	}
}
