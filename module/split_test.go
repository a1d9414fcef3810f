package module

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildSplit compiles src with -gsplit-dwarf in dir (where the .dwo goes).
func buildSplit(t testing.TB, dir, cc, src string, flags ...string) string {
	t.Helper()
	need(t, cc)
	if err := os.WriteFile(filepath.Join(dir, "prog.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cc, append(append([]string{"-O2", "-g", "-gsplit-dwarf"}, flags...), "-o", "prog", "prog.c")...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc, err, out)
	}
	return filepath.Join(dir, "prog")
}

// TestSplitDWARFFrames checks inline frames and lines from .dwo files
// against those of the same program built without -gsplit-dwarf.
func TestSplitDWARFFrames(t *testing.T) {
	for _, cc := range []string{"gcc", "clang"} {
		for _, v := range []string{"-gdwarf-4", "-gdwarf-5"} {
			t.Run(cc+v, func(t *testing.T) {
				plain := build(t, t.TempDir(), "prog", ".c", cProg, v)
				if cc == "clang" {
					plain = buildSplit(t, t.TempDir(), cc, cProg, v, "-gno-split-dwarf")
				}
				split := buildSplit(t, t.TempDir(), cc, cProg, v)
				mp := mustOpen(t, plain, Options{DebugDirs: []string{}})
				ms := mustOpen(t, split, Options{DebugDirs: []string{}})
				a, size, ok := mp.SymbolByName("work")
				b, _, ok2 := ms.SymbolByName("work")
				if !ok || !ok2 || a != b {
					t.Fatalf("work at %#x and %#x: the builds differ", a, b)
				}
				inlined := 0
				for pc := a; pc < a+size; pc++ {
					// The builds differ only in their directories.
					want := strings.ReplaceAll(fmtLocs(mp.Frames(pc, false)), filepath.Dir(plain), "")
					got := strings.ReplaceAll(fmtLocs(ms.Frames(pc, false)), filepath.Dir(split), "")
					if got != want {
						t.Fatalf("pc %#x: split %s, plain %s", pc, got, want)
					}
					if strings.Contains(want, "inline") {
						inlined++
					}
				}
				if inlined == 0 {
					t.Error("no inline frame in work: the test shows nothing")
				}
				if w := ms.Warnings(); len(w) > 0 {
					t.Errorf("warnings: %q", w)
				}
			})
		}
	}
}

// A .dwo from another build (the source changed, the binary was not
// relinked) is refused by its DWO id, with a warning naming it.
func TestSplitDWARFStale(t *testing.T) {
	dir := t.TempDir()
	bin := buildSplit(t, dir, "gcc", cProg)
	other := buildSplit(t, t.TempDir(), "gcc", strings.Replace(cProg, "+ 1", "+ 2", 1))
	// gcc names the .dwo after the output and the source: prog.dwo.
	b, err := os.ReadFile(filepath.Join(filepath.Dir(other), "prog.dwo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prog.dwo"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, bin, Options{DebugDirs: []string{}})
	a, _, _ := m.SymbolByName("work")
	if ls := m.Frames(a, false); len(ls) != 1 || ls[0].Function != "work" {
		t.Errorf("Frames(work) = %s", fmtLocs(ls))
	}
	if w := strings.Join(m.Warnings(), "\n"); !strings.Contains(w, "DWO id") || !strings.Contains(w, "prog.dwo") {
		t.Errorf("warnings %q: want the stale .dwo named", w)
	}
}

func FuzzSplitIndex(f *testing.F) {
	// A version 5 index with one unit and two columns (info, abbrev).
	seed := []byte{5, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
		1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0, 0, 3, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
		16, 0, 0, 0, 8, 0, 0, 0}
	// An abbreviation with DW_FORM_GNU_str_index and an implicit const.
	f.Add(seed, []byte{1, 0x11, 1, 0x03, 0x82, 0x3e, 0x3a, 0x21, 0x7f, 0, 0, 0})
	f.Fuzz(func(t *testing.T, index, abbrev []byte) {
		parseCUIndex(index, binary.LittleEndian)
		gnuAbbrevs(abbrev, 0)
		for _, v := range []int{4, 5} {
			s := &splitUnit{rng: index, addr: abbrev, order: binary.LittleEndian, vers: v}
			s.rangeList(0)
		}
	})
}
