package disasm

import (
	"debug/elf"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/pclntab"
)

//go:noinline
func leaf(x int) int { return x*3 + 1 }

var sink int

// TestOwnCode decodes a function of this very binary: its instructions tile
// the function exactly, it has a RET, and the stack check of a Go function
// that has one is found before the function's body.
func TestOwnCode(t *testing.T) {
	sink = leaf(sink) // keep it linked
	a := arch.Host()
	if !Supports(a) {
		t.Skipf("no decoder for %s", a.Name)
	}
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	tab, err := pclntab.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"github.com/taijidbg/taiji/disasm.leaf", "github.com/taijidbg/taiji/disasm.TestOwnCode"} {
		fn, ok := tab.ByName(name)
		if !ok {
			t.Fatalf("%s not in the pclntab", name)
		}
		code := make([]byte, fn.End-fn.Entry)
		text := f.Section(".text")
		if _, err := text.ReadAt(code, int64(fn.Entry-text.Addr)); err != nil {
			t.Fatal(err)
		}
		insts, err := Decode(a, code, fn.Entry)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		next := fn.Entry
		for _, in := range insts {
			if in.Addr != next || in.Len <= 0 {
				t.Fatalf("%s: instruction at %#x (len %d), expected one at %#x", name, in.Addr, in.Len, next)
			}
			next += uint64(in.Len)
		}
		rets, err := Rets(a, code, fn.Entry)
		if err != nil || len(rets) == 0 {
			t.Errorf("%s: no RET found (%v)", name, err)
		}
		end, ok := GoStackCheckEnd(a, insts)
		if name == "github.com/taijidbg/taiji/disasm.TestOwnCode" && (!ok || end <= fn.Entry || end >= fn.End) {
			t.Errorf("%s: stack check end %#x, %v", name, end, ok)
		}
	}
}

// FuzzDecode: any bytes decode to instructions or an error, never a panic,
// and the instructions never run past the code.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xc3})                   // ret
	f.Add([]byte{0xc0, 0x03, 0x5f, 0xd6}) // arm64 ret
	f.Add([]byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x20})
	f.Add([]byte{0xc5, 0xf8, 0x77, 0xc3})                                                 // vzeroupper; ret
	f.Add([]byte{0xc4, 0xe3, 0x7d, 0x38, 0xc1, 0x01})                                     // vinserti128 $1
	f.Add([]byte{0x62, 0xf2, 0x7d, 0x48, 0x18, 0x8c, 0x24, 0x00, 0x01, 0x00, 0x00})       // EVEX, SIB, disp32
	f.Add([]byte{0x8f, 0xe8, 0x78, 0xc0, 0xc1, 0x05})                                     // XOP vprotb $5
	f.Add([]byte{0x66, 0x4c, 0x0f, 0x38, 0xf6, 0xeb})                                     // adcx
	f.Add([]byte{0x10, 0x00, 0xde, 0xea, 0x40, 0x08, 0x36, 0x7c, 0x50, 0x00, 0x80, 0x41}) // ppc64le stack check
	f.Add([]byte{0xe3, 0xa0, 0xd0, 0x10, 0x00, 0x04, 0xec, 0xaf, 0x00, 0x6c, 0xa0, 0x65}) // s390x stack check
	f.Add([]byte{0x03, 0xb3, 0x0d, 0x01, 0x63, 0x6a, 0x23, 0x02, 0xe4, 0x2a, 0x82, 0x80}) // riscv64, compressed
	f.Fuzz(func(t *testing.T, code []byte) {
		for _, name := range []string{"amd64", "arm64", "ppc64le", "s390x", "riscv64"} {
			a, _ := arch.ByName(name)
			insts, err := Decode(a, code, 0x1000)
			if err != nil {
				continue
			}
			total := 0
			for _, in := range insts {
				total += in.Len
			}
			if total > len(code) {
				t.Fatalf("%s: %d bytes of instructions in %d bytes", name, total, len(code))
			}
			GoStackCheckEnd(a, insts)
			GoStackCheckBranch(a, insts)
		}
	})
}
