package goruntime

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// fuzzSeeds builds the stripped program for each arch FindVars reads with
// the newest toolchain and returns the binaries.
func fuzzSeeds(f *testing.F) [][]byte {
	tcs := testprog.Toolchains(f)
	if len(tcs) == 0 {
		return nil
	}
	dir := writeProgram(f, varsProgram)
	var out [][]byte
	for _, a := range varsArches {
		b, err := os.ReadFile(buildFor(f, tcs[len(tcs)-1], a.goarch, dir, "-ldflags=-s -w"))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzFindVars: FindVars on a corrupt ELF file or pclntab returns an
// error or addresses, never panics (without the recover FindVars keeps as
// its last line of defence). The input patches one of the real stripped
// binaries (which, a byte) at an offset, and may truncate it: seeds aim at
// the section headers, the pclntab and the code of runtime.allgadd.
func FuzzFindVars(f *testing.F) {
	bases := fuzzSeeds(f)
	for i, b := range bases {
		ef, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		shoff := uint64(0x28)
		if ef.Class == elf.ELFCLASS32 {
			shoff = 0x20
		}
		f.Add(uint8(i), uint64(0), []byte{}, uint64(0))
		f.Add(uint8(i), shoff, []byte{0xff, 0xff, 0xff, 0x7f}, uint64(0))
		if s := ef.Section(".gopclntab"); s != nil {
			f.Add(uint8(i), s.Offset+8, []byte{0xff, 0xff, 0, 0}, uint64(0))
			f.Add(uint8(i), s.Offset+64, []byte{0x10, 0x20}, uint64(0))
			f.Add(uint8(i), uint64(0), []byte{}, s.Offset+s.Size/2)
		}
		if tab, err := pclntab.Open(ef); err == nil {
			if fn, ok := tab.ByName("runtime.allgadd"); ok {
				text := ef.Section(".text")
				f.Add(uint8(i), text.Offset+fn.Entry-text.Addr+16, []byte{0xff, 0xff, 0xff, 0xff}, uint64(0))
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, off uint64, patch []byte, trunc uint64) {
		if len(bases) == 0 {
			return
		}
		b := bytes.Clone(bases[int(which)%len(bases)])
		copy(b[off%uint64(len(b)):], patch)
		if trunc != 0 {
			b = b[:trunc%uint64(len(b))]
		}
		ef, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			return
		}
		tab, _ := pclntab.Open(ef)
		findVars(ef, tab)
		if tab != nil {
			findVars(ef, nil)
		}
	})
}

// FuzzRefScanners: every arch's scanner takes any bytes at any address
// without panicking, and names only instructions inside the code.
func FuzzRefScanners(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		ef, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			f.Fatal(err)
		}
		tab, err := pclntab.Open(ef)
		if err != nil {
			f.Fatal(err)
		}
		fn, ok := tab.ByName("runtime.allgadd")
		if !ok {
			f.Fatal("no runtime.allgadd")
		}
		code := make([]byte, fn.End-fn.Entry)
		if _, err := ef.Section(".text").ReadAt(code, int64(fn.Entry-ef.Section(".text").Addr)); err != nil {
			f.Fatal(err)
		}
		f.Add(code, fn.Entry)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x90}, uint64(1<<64-3))
	f.Fuzz(func(t *testing.T, code []byte, pc uint64) {
		for m, byClass := range refScanners {
			for c, scan := range byClass {
				for _, r := range scan(code, pc) {
					if r.PC-pc >= uint64(len(code)) {
						t.Fatalf("%s %s: a reference at %#x, outside the code at %#x+%d", m, c, r.PC, pc, len(code))
					}
				}
			}
		}
	})
}
