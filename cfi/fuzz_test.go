package cfi

import (
	"os"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// Run the fuzzers with a short -fuzzminimizetime (e.g. 2s): minimizing the
// 4 KiB seeds otherwise stalls a 30 s run.

// fuzzSeeds returns real CFI sections: the host libc and a compiled test
// program. Large sections are cut to keep the fuzzer's inputs small.
func fuzzSeeds(f *testing.F, pick func(s elfSections) []byte) {
	paths := []string{libcPath, ldPath}
	if _, err := os.Stat("/usr/bin/gcc"); err == nil {
		paths = append(paths, buildC(f, "-O2"), buildAsm(f))
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		b := pick(loadSections(f, p))
		if len(b) > 4096 {
			b = b[:4096]
		}
		if len(b) > 0 {
			f.Add(b)
		}
	}
}

// exercise looks up a spread of PCs and steps each row over a small
// memory image; errors are fine, panics and hangs are not.
func exercise(tab *Table) {
	mem := &memImage{base: 0x1000, data: make([]byte, 256)}
	var regs arch.Regs
	for n := 0; n < 17; n++ {
		regs.Set(n, 0x1000+uint64(n)*8)
	}
	n := 0
	tab.Ranges(func(start, end uint64) bool {
		for _, pc := range []uint64{start, start + (end-start)/2, end - 1} {
			if row, err := tab.Lookup(pc); err == nil {
				row.Step(&regs, mem, arch.AMD64)
			}
		}
		n++
		return n < 16
	})
	for _, pc := range []uint64{0, 0x1000, 0x1129, 0x2000} {
		tab.Lookup(pc)
	}
}

func FuzzParseEHFrame(f *testing.F) {
	fuzzSeeds(f, func(s elfSections) []byte { return s.eh })
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseEHFrame(data, 0x1000, nil, 0, arch.AMD64)
		if err != nil {
			return
		}
		exercise(tab)
	})
}

func FuzzEHFrameHdr(f *testing.F) {
	fuzzSeeds(f, func(s elfSections) []byte { return s.hdr })
	if s := loadSectionsIfExists(f, libcPath); s != nil {
		eh := s.eh
		f.Fuzz(func(t *testing.T, hdr []byte) {
			tab, err := ParseEHFrame(eh, s.ehAddr, hdr, s.hdrAddr, arch.AMD64)
			if err != nil {
				return
			}
			exercise(tab)
		})
	}
}

func loadSectionsIfExists(f *testing.F, path string) *elfSections {
	if _, err := os.Stat(path); err != nil {
		f.Skip(err)
		return nil
	}
	s := loadSections(f, path)
	return &s
}

func FuzzDebugFrame(f *testing.F) {
	fuzzSeeds(f, func(s elfSections) []byte { return s.debug })
	f.Add(mustBuildDebugFrame(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ParseDebugFrame(data, arch.AMD64)
		if err != nil {
			return
		}
		exercise(tab)
	})
}

func mustBuildDebugFrame(f *testing.F) []byte {
	s := loadSections(f, buildC(f, "-O2", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"))
	return s.debug
}

func FuzzEval(f *testing.F) {
	// Real expressions from the test binaries' CFI, and loops.
	for _, e := range [][]byte{
		{0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}, // PLT CFA
		{0x76, 0x70, 0x06}, // DRAP CFA
		{0x35, 0x12, 0x30, 0x29, 0x28, 5, 0, 0x31, 0x1c, 0x2f, 0xf5, 0xff},
		{0x23, 8, 0x06},
		{0x92, 100, 0x01, 0x94, 3},
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, expr []byte) {
		var regs arch.Regs
		for n := 0; n < 17; n++ {
			regs.Set(n, 0x1000+uint64(n)*8)
		}
		mem := &memImage{base: 0x1000, data: make([]byte, 256)}
		Eval(expr, &regs, mem, arch.AMD64, 0x1010)
		Eval(expr, &regs, mem, arch.ARM64)
	})
}

func BenchmarkLookupLibc(b *testing.B) {
	if _, err := os.Stat(libcPath); err != nil {
		b.Skip(err)
	}
	s := loadSections(b, libcPath)
	tab, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		b.Fatal(err)
	}
	var pcs []uint64
	tab.Ranges(func(start, end uint64) bool {
		pcs = append(pcs, start+(end-start)/2)
		return true
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tab.Lookup(pcs[i%len(pcs)]); err != nil {
			b.Fatal(err)
		}
	}
}
