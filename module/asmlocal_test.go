package module

import (
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
	m, err := Open(bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	start, _, ok := m.SymbolByName("labelled")
	if !ok {
		t.Fatal("no symbol labelled")
	}
	for off := uint64(0); off < 17; off++ {
		name, at, ok := m.Symbol(start + off)
		if !ok || name != "labelled" || at != start {
			t.Errorf("Symbol(labelled+%d) = %q at %#x, %v; want labelled at %#x", off, name, at, ok, start)
		}
	}
}
