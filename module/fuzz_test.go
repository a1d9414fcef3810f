package module

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

const tinyProg = `static inline __attribute__((always_inline)) int sq(int x) { return x * x; }
__attribute__((noinline)) int f(int x) { return sq(x) + 1; }
void _start(void) {
	volatile int r = f(3);
	(void)r;
	for (;;) __builtin_trap();
}
`

// FuzzFromBytes feeds arbitrary bytes to FromBytes and every query. It
// must never panic, whatever the input.
func FuzzFromBytes(f *testing.F) {
	dir := f.TempDir()
	bin := build(f, dir, "tiny", ".c", tinyProg, "-nostdlib", "-static", "-fno-asynchronous-unwind-tables")
	good, err := os.ReadFile(bin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	// Corrupt variants: truncated, and with the section header table
	// and the DWARF bytes scrambled.
	f.Add(good[:len(good)/2])
	bad := append([]byte(nil), good...)
	for i := len(bad) / 3; i < len(bad); i += 97 {
		bad[i] ^= 0x5a
	}
	f.Add(bad)
	split := filepath.Join(dir, "tiny.debug")
	run(f, "objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", bin, split)
	if d, err := os.ReadFile(split); err == nil {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := FromBytes("fuzz", data, Options{DebugDirs: []string{}})
		if err != nil {
			return
		}
		defer m.Close()
		addrs := []uint64{m.File.Entry, m.File.Entry + 3, 0}
		for _, p := range m.File.Progs {
			addrs = append(addrs, p.Vaddr, p.Vaddr+p.Filesz/2)
		}
		for _, a := range addrs {
			m.Symbol(a)
			m.Frames(a, false)
			m.Frames(a, true)
			m.Code(a, 16)
			m.StmtLine(a)
			m.InlineEntries(a)
		}
		m.InlinedCopies("f")
		m.SymbolByName("f")
		m.SymbolValue("f")
		for _, s := range m.File.Sections {
			m.SectionData(s)
		}
		for _, s := range []string{".eh_frame", ".eh_frame_hdr", ".debug_info", ".debug_frame", ".gopclntab"} {
			m.Section(s)
		}
		m.Bias(0x555555554000, 0)
		m.Bias(0x555555555000, 0x1000)
		m.DWARF()
	})
}

// FuzzUnitIndex feeds arbitrary .debug_aranges, .debug_info and
// .debug_abbrev bytes to the parsers behind the unit index.
func FuzzUnitIndex(f *testing.F) {
	bin := build(f, f.TempDir(), "tiny", ".c", tinyProg, "-nostdlib", "-static")
	ef, err := elf.Open(bin)
	if err != nil {
		f.Fatal(err)
	}
	var secs [3][]byte
	for i, name := range []string{".debug_aranges", ".debug_info", ".debug_abbrev"} {
		if s := ef.Section(name); s != nil {
			secs[i], _ = s.Data()
		}
	}
	ef.Close()
	if secs[0] == nil || secs[1] == nil {
		f.Fatalf("%s has no .debug_aranges or .debug_info", bin)
	}
	f.Add(secs[0], secs[1], secs[2])
	f.Add(secs[0][:len(secs[0])/2], secs[1][:len(secs[1])/3], secs[2][:len(secs[2])/2])
	f.Fuzz(func(t *testing.T, aranges, info, abbrev []byte) {
		sets, _ := parseAranges(aranges, binary.LittleEndian)
		hs, err := unitHeaders(info, binary.LittleEndian)
		for _, h := range hs {
			if h.off >= h.end || h.end > uint64(len(info)) || h.dieOff > h.end {
				t.Fatalf("unit header %+v out of bounds of %d bytes", h, len(info))
			}
			selfContained(abbrev, h.abbrevOff)
		}
		for _, s := range sets {
			for _, r := range s.ranges {
				if r[1] <= r[0] {
					t.Fatalf("empty or wrapping range %#x", r)
				}
			}
		}
		_ = err
	})
}
