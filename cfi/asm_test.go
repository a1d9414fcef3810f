package cfi

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
)

// buildAsm links testdata/cfi_amd64.S, hand-written CFI exercising the
// rarer instructions and augmentations, into an executable.
func buildAsm(t testing.TB) string {
	t.Helper()
	need(t, "gcc")
	dir := t.TempDir()
	mainC := filepath.Join(dir, "main.c")
	if err := os.WriteFile(mainC, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "asm")
	if b, err := exec.Command("gcc", "-o", out, "testdata/cfi_amd64.S", mainC).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

func symbol(t testing.TB, path, name string) uint64 { return testprog.Symbol(t, path, name) }

func TestOracleHandWritten(t *testing.T) {
	bin := buildAsm(t)
	testEHFrameOracle(t, bin, 15)
	s := loadSections(t, bin)
	tab, err := ParseDebugFrame(s.debug, s.arch)
	if err != nil {
		t.Fatal(err)
	}
	if n := compareWithReadelf(t, tab, readelfFrames(t, bin), ".debug_frame"); n < 10 {
		t.Errorf("compared only %d .debug_frame rows", n)
	}
}

// TestStepRules applies every rule kind of the hand-written function's
// last row to a fake stack and checks the caller's registers by hand.
func TestStepRules(t *testing.T) {
	bin := buildAsm(t)
	s := loadSections(t, bin)
	eh, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	df, err := ParseDebugFrame(s.debug, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	rules := symbol(t, bin, "rules")
	for name, tab := range map[string]*Table{"eh_frame": eh, "debug_frame": df} {
		t.Run(name, func(t *testing.T) {
			row, err := tab.Lookup(rules + 0xd) // the last row: see readelf
			if err != nil {
				t.Fatal(err)
			}
			if row.CFA.Kind != CFAExpression {
				t.Fatalf("CFA rule %v, want an expression", row.CFA)
			}
			if name == "eh_frame" && row.ArgsSize != 16 {
				t.Errorf("ArgsSize %d, want 16", row.ArgsSize)
			}
			mem := &memImage{base: 0x1000, data: make([]byte, 0x1100)}
			put := func(addr, v uint64) { arch.AMD64.ByteOrder.PutUint64(mem.data[addr-0x1000:], v) }
			put(0x1008, 0x2000) // CFA = *(rsp+8)
			put(0x2020, 0xbbbb) // rbp at CFA+32
			put(0x1010, 0xdddd) // r13 at rsp+16 (expression)
			put(0x1ff8, 0x4444) // return address at CFA-8
			var regs arch.Regs
			for n := 0; n <= 16; n++ {
				regs.Set(n, 0x100+uint64(n))
			}
			regs.Set(7, 0x1000)
			regs.PC = rules + 0xd
			caller, cfa, err := row.Step(&regs, mem, arch.AMD64)
			if err != nil {
				t.Fatal(err)
			}
			if cfa != 0x2000 {
				t.Errorf("cfa %#x, want 0x2000", cfa)
			}
			want := map[int]uint64{
				0: 0x100, 3: 0x103, 6: 0xbbbb, 7: 0x2000, 12: 0x10c,
				13: 0xdddd, 14: 0x2010, 15: 0x1ff0, 16: 0x4444,
			}
			for n, w := range want {
				if v, ok := caller.Get(n); !ok || v != w {
					t.Errorf("%s = %#x (known %v), want %#x", arch.AMD64.RegName(n), v, ok, w)
				}
			}
			if caller.PC != 0x4444 {
				t.Errorf("pc %#x, want 0x4444", caller.PC)
			}
			// Earlier row: r13 undefined, rbp in rax, r12 = CFA-8.
			row, err = tab.Lookup(rules + 3)
			if err != nil {
				t.Fatal(err)
			}
			put(0x1000+0x100-8, 0x5555) // return address at CFA-8, CFA = rbp+16
			regs.Set(6, 0x1000+0x100-16)
			caller, _, err = row.Step(&regs, mem, arch.AMD64)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := caller.Get(13); ok {
				t.Errorf("r13 known, want undefined")
			}
			if v, _ := caller.Get(6); v != 0x100 {
				t.Errorf("rbp %#x, want rax's 0x100", v)
			}
			if v, _ := caller.Get(12); v != 0x1100-8 {
				t.Errorf("r12 %#x, want CFA-8", v)
			}
			if v, _ := caller.Get(14); v != 0x10e {
				t.Errorf("r14 %#x, want same value", v)
			}
			if caller.PC != 0x5555 {
				t.Errorf("pc %#x, want 0x5555", caller.PC)
			}
		})
	}
}

func TestSignalFrameAndReturnColumn(t *testing.T) {
	bin := buildAsm(t)
	s := loadSections(t, bin)
	tab, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	row, err := tab.Lookup(symbol(t, bin, "sigtramp"))
	if err != nil {
		t.Fatal(err)
	}
	if !row.SignalFrame {
		t.Error("sigtramp: SignalFrame not set by augmentation S")
	}
	mem := &memImage{base: 0x1000, data: make([]byte, 0x200)}
	arch.AMD64.ByteOrder.PutUint64(mem.data[168:], 0x7777)
	var regs arch.Regs
	regs.Set(7, 0x1000)
	caller, cfa, err := row.Step(&regs, mem, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	if cfa != 0x1000+160 || caller.PC != 0x7777 {
		t.Errorf("sigtramp: cfa %#x pc %#x, want 0x10a0 0x7777", cfa, caller.PC)
	}

	row, err = tab.Lookup(symbol(t, bin, "retcol"))
	if err != nil {
		t.Fatal(err)
	}
	if row.RA != 3 || row.SignalFrame {
		t.Errorf("retcol: RA %d signal %v, want 3 false", row.RA, row.SignalFrame)
	}
	regs.Set(0, 0x9999)
	caller, _, err = row.Step(&regs, mem, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := caller.Get(3); caller.PC != 0x9999 || v != 0x9999 {
		t.Errorf("retcol: pc %#x rbx %#x, want both 0x9999 (from rax)", caller.PC, v)
	}
}
