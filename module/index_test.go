package module

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const twoUnitsA = `#include <stdlib.h>
static inline __attribute__((always_inline)) int inner(int x) { return (x * 3 + (x >> 2)) ^ rand(); }
__attribute__((noinline)) int work(int x) {
	int s = 0;
	for (int i = 0; i < x; i++)
		s += inner(i);
	return s;
}
`

const twoUnitsB = `int work(int);
static inline __attribute__((always_inline)) int twice(int x) { return work(x) + work(x + 1); }
int main(int argc, char **argv) { return twice(argc) & 1; }
`

// unitKinds opens every indexed unit of m and counts those read through
// their own one-unit Data and those read through the full Data.
func unitKinds(t *testing.T, m *Module) (own, full int) {
	t.Helper()
	ix := m.dwarfIndex()
	if ix == nil {
		t.Fatalf("no DWARF: %v", m.dwErr)
	}
	for _, cu := range ix.units {
		ix.open(cu)
		switch {
		case cu.entry == nil:
			t.Errorf("unit at %#x: no unit DIE", cu.hdr.off)
		case cu.d == ix.fullData:
			full++
		default:
			own++
		}
	}
	return own, full
}

// TestUnitIndex checks that units are found from .debug_aranges and read
// one at a time when they can be, that every way of falling back (units
// with cross-unit references, no .debug_aranges, units it leaves out,
// .debug_types) gives addr2line's answers, and that the full Data is not
// built when it is not needed.
func TestUnitIndex(t *testing.T) {
	need(t, "gcc", "objcopy")
	dir := t.TempDir()
	for _, f := range []struct{ name, src string }{{"a.c", twoUnitsA}, {"b.c", twoUnitsB}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "a.c"), filepath.Join(dir, "b.c")
	out := func(name string) string { return filepath.Join(dir, name) }

	plain := out("plain")
	run(t, "gcc", "-O2", "-g", "-o", plain, a, b)
	lto := out("lto")
	run(t, "gcc", "-O2", "-g", "-flto", "-o", lto, a, b)
	noAranges := out("noaranges")
	run(t, "objcopy", "--remove-section=.debug_aranges", plain, noAranges)
	dw4 := out("dw4")
	run(t, "gcc", "-O2", "-gdwarf-4", "-o", dw4, a, b)

	cases := []struct {
		name, bin string
		full      bool // the full Data is expected to be built
	}{
		{"aranges", plain, false},
		{"dwarf4", dw4, false},
		{"lto-ref-addr", lto, true},
		{"no-aranges", noAranges, true},
	}
	// Type units are found by signature from other units.
	types := build(t, dir, "types", ".cc", cxxProg, "-gdwarf-4", "-fdebug-types-section")
	cases = append(cases, struct {
		name, bin string
		full      bool
	}{"debug-types", types, true})
	if _, err := exec.LookPath("clang"); err == nil {
		// A unit built by clang, which writes no .debug_aranges, next
		// to one built by gcc: the table leaves one unit out.
		mixed := out("mixed")
		bo := out("b.o")
		run(t, "clang", "-O2", "-g", "-c", "-o", bo, b)
		run(t, "gcc", "-O2", "-g", "-o", mixed, a, bo)
		cases = append(cases, struct {
			name, bin string
			full      bool
		}{"clang-unit-missing", mixed, false})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustOpen(t, tc.bin, Options{DebugDirs: []string{}})
			if tc.name == "lto-ref-addr" {
				ref := out("lto-noaranges")
				run(t, "objcopy", "--remove-section=.debug_aranges", lto, ref)
				checkFramesLTO(t, m, tc.bin, ref)
			} else {
				checkFrames(t, m, tc.bin, nmFuncs(t, tc.bin))
			}
			own, full := unitKinds(t, m)
			t.Logf("%d units read alone, %d through the full Data", own, full)
			built := m.dwarfIndex().fullData != nil
			if built != tc.full {
				t.Errorf("full Data built = %v, want %v", built, tc.full)
			}
			if !tc.full && (own < 2 || full != 0) {
				t.Errorf("%d units read alone and %d through the full Data, want all of at least 2 alone", own, full)
			}
			if tc.name == "lto-ref-addr" && full == 0 {
				t.Errorf("no unit of the LTO build uses the full Data, yet its units refer to each other")
			}
			// DWARF() still returns every unit.
			d, err := m.DWARF()
			if err != nil {
				t.Fatal(err)
			}
			units := 0
			for r := d.Reader(); ; r.SkipChildren() {
				e, err := r.Next()
				if err != nil {
					t.Fatal(err)
				}
				if e == nil {
					break
				}
				units++
			}
			if units < len(m.dwarfIndex().units) {
				t.Errorf("DWARF() has %d units, the index %d", units, len(m.dwarfIndex().units))
			}
		})
	}
}

// checkFramesLTO compares Frames in an LTO build with addr2line, ignoring
// file names: binutils misreads this unit's DWARF 5 file numbers (it names
// <artificial> for a.c, see TestLibcWide), and elfutils does not follow
// the cross-unit references to show inlined calls. The files are compared
// with the same binary read through the full Data (ref, which has no
// .debug_aranges), which the other tests check against addr2line.
func checkFramesLTO(t *testing.T, m *Module, bin, ref string) {
	t.Helper()
	addrs := funcAddrs(nmFuncs(t, bin))
	want := addr2line(t, bin, addrs)
	rm := mustOpen(t, ref, Options{DebugDirs: []string{}})
	bad, inl := 0, 0
	for _, a := range addrs {
		if len(want[a]) > 1 {
			inl++
		}
		got := m.Frames(a, false)
		w := append([]Location(nil), want[a]...)
		for i := range w {
			if i < len(got) {
				w[i].File = got[i].File
			}
		}
		if r := rm.Frames(a, false); fmtLocs(got) != fmtLocs(w) || fmtLocs(got) != fmtLocs(r) {
			if bad++; bad <= 10 {
				t.Errorf("Frames(%#x):\ngot:%s\naddr2line:%s\nwithout aranges:%s", a, fmtLocs(got), fmtLocs(want[a]), fmtLocs(r))
			}
		}
	}
	if bad > 0 || inl == 0 {
		t.Errorf("%d of %d addresses differ; %d are in inlined code", bad, len(addrs), inl)
	}
}
