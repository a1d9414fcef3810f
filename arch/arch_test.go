package arch

import (
	"debug/elf"
	"runtime"
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
