package arch

import (
	"debug/elf"
	"runtime"
	"slices"
	"testing"
)

// TestArchData checks what every arch file must get right for the unwinder:
// the registers it names exist, and the signal frame restores PC and SP.
func TestArchData(t *testing.T) {
	if len(Names()) < 7 {
		t.Errorf("architectures: %v", Names())
	}
	for _, name := range Names() {
		a, _ := ByName(name)
		t.Run(name, func(t *testing.T) {
			if a.PtrSize != 8 {
				t.Errorf("PtrSize %d", a.PtrSize)
			}
			for _, r := range []int{a.SP, a.FP} {
				if r < 0 || r >= MaxRegs || a.RegNames[r] == "" {
					t.Errorf("register %d has no name or is out of range", r)
				}
			}
			if a.LR >= MaxRegs || (a.LR >= 0 && a.RegNames[a.LR] == "") {
				t.Errorf("LR %d", a.LR)
			}
			if a.GoUsesLR != (a.LR >= 0) {
				t.Errorf("GoUsesLR=%v but LR=%d", a.GoUsesLR, a.LR)
			}
			sf := a.SigFrame
			if len(sf.Trampoline) == 0 || sf.Regs <= 0 {
				t.Errorf("no signal frame description")
			}
			seen := map[int]bool{}
			for _, s := range sf.Slots {
				if s == SlotSkip {
					continue
				}
				if seen[s] {
					t.Errorf("slot for %d restored twice", s)
				}
				seen[s] = true
			}
			if !seen[SlotPC] || !seen[a.SP] {
				t.Errorf("the signal frame must restore PC and SP (slots %v)", sf.Slots)
			}
		})
	}
	if _, err := ByName("vax"); err == nil {
		t.Error("ByName(vax) succeeded")
	}
}

func TestHostMatchesOwnBinary(t *testing.T) {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	a, err := ForELF(f)
	if err != nil {
		t.Fatal(err)
	}
	if a != Host() || a.Name != runtime.GOARCH {
		t.Errorf("ForELF(self) = %s, Host() = %s, GOARCH %s", a.Name, Host().Name, runtime.GOARCH)
	}
}

func TestRegs(t *testing.T) {
	var r Regs
	for _, n := range []int{0, 63, 64, MaxRegs - 1} {
		if _, ok := r.Get(n); ok {
			t.Errorf("fresh register %d known", n)
		}
		r.Set(n, uint64(n)+1)
		if v, ok := r.Get(n); !ok || v != uint64(n)+1 {
			t.Errorf("Get(%d) = %d, %v", n, v, ok)
		}
		r.Forget(n)
		if _, ok := r.Get(n); ok {
			t.Errorf("forgotten register %d known", n)
		}
	}
	r.Set(-1, 1)
	r.Set(MaxRegs, 1) // ignored, never a panic
	if _, ok := r.Get(MaxRegs); ok {
		t.Error("out-of-range register known")
	}
}

// TestGoCgoCallGFor: amd64's asmcgocall kept g at 48(SP) before go1.22
// (asm_amd64.s of go1.21: MOVQ DI, 48(SP)) and at 8(SP) since.
func TestGoCgoCallGFor(t *testing.T) {
	c := AMD64.GoCgoCall
	for _, tc := range []struct {
		release string
		want    int64
	}{{"go1.19", 48}, {"go1.21.13", 48}, {"go1.22", 8}, {"go1.22.0", 8}, {"go1.27.3", 8}, {"", 8}, {"devel", 8}} {
		if got := c.GFor(tc.release); got != tc.want {
			t.Errorf("GFor(%q) = %d, want %d", tc.release, got, tc.want)
		}
	}
	if g := ARM64.GoCgoCall.GFor("go1.19"); g != 0 {
		t.Errorf("arm64 GFor(go1.19) = %d, want 0 (asm_arm64.s: MOVD R4, 0(RSP))", g)
	}
}

// TestTraceData: where an arch has Go register-ABI and pt_regs data, every
// register trace reads from a uprobe's pt_regs (the Go and C argument and
// result registers, g, SP) has a slot inside the struct, no two registers
// share one, and the SP slot is PtRegsSP.
func TestTraceData(t *testing.T) {
	for _, n := range Names() {
		a, _ := ByName(n)
		if len(a.GoIntArgs) == 0 || a.PtRegs == nil {
			continue
		}
		if a.PtRegs[a.SP] != a.PtRegsSP {
			t.Errorf("%s: SP at %d in pt_regs, PtRegsSP %d", n, a.PtRegs[a.SP], a.PtRegsSP)
		}
		seen := map[int]int{}
		for r, off := range a.PtRegs {
			if off < 0 || off+8 > a.PtRegsSize || off%8 != 0 {
				t.Errorf("%s: register %d at %d, outside pt_regs (%d bytes)", n, r, off, a.PtRegsSize)
			}
			if o, dup := seen[off]; dup {
				t.Errorf("%s: registers %d and %d both at %d", n, o, r, off)
			}
			seen[off] = r
		}
		regs := append(append(append([]int{a.GoG, a.SP}, a.GoIntArgs...), a.CIntArgs...), a.CIntResults...)
		for _, r := range regs {
			if _, ok := a.PtRegs[r]; !ok {
				t.Errorf("%s: register %s has no pt_regs slot", n, a.RegName(r))
			}
		}
		for _, r := range a.GoFloatArgs {
			if _, ok := a.PtRegs[r]; ok || slices.Contains(a.GoIntArgs, r) {
				t.Errorf("%s: float register %d is an integer register", n, r)
			}
		}
	}
}
