package goruntime

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestTablesMatchDWARF builds a program with every Go toolchain here, with
// and without DWARF: the layout FromDWARF reads must be the generated
// table's for that release (a stale ztables.go fails here: run
// scripts/gen-goruntime), and the stripped build must get it from the table.
func TestTablesMatchDWARF(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { println(1) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tcs {
		t.Run(tc.Version, func(t *testing.T) {
			full := testprog.BuildGoDir(t, tc, src, false)
			stripped := testprog.BuildGoDir(t, tc, src, false, "-ldflags=-s -w")
			f, err := elf.Open(full)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := f.DWARF()
			if err != nil {
				t.Fatal(err)
			}
			fromDWARF, err := ForBinary(d, GoVersion(f), 8)
			if err != nil || fromDWARF.Source != FromDWARFInfo {
				t.Fatalf("ForBinary with DWARF: %+v, %v", fromDWARF, err)
			}
			if fromDWARF.Release != tc.Version {
				t.Errorf("release %q, want %q", fromDWARF.Release, tc.Version)
			}
			s, err := elf.Open(stripped)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.DWARF(); err == nil {
				t.Fatal("-s -w left DWARF")
			}
			fromTable, err := ForBinary(nil, GoVersion(s), 8)
			if err != nil {
				t.Fatalf("%s without DWARF: %v", tc.Version, err)
			}
			if fromTable.Source != FromTable {
				t.Errorf("source %v, want the generated table", fromTable.Source)
			}
			if !reflect.DeepEqual(fromDWARF.G, fromTable.G) || !reflect.DeepEqual(fromDWARF.M, fromTable.M) ||
				!reflect.DeepEqual(fromDWARF.Gobuf, fromTable.Gobuf) {
				t.Errorf("the table for %s differs from its DWARF (regenerate: scripts/gen-goruntime):\nDWARF %+v\ntable %+v", tc.Version, fromDWARF, fromTable)
			}
			if !fromTable.G.Goid.Known() || !fromTable.SchedSP().Known() || !fromTable.M.Curg.Known() {
				t.Errorf("fields taiji needs are unknown: %+v", fromTable)
			}
		})
	}
}

// TestBetweenReleases: a release between two generated ones takes the
// fields on which both agree, unverified, and leaves the others unknown;
// outside the tables there is no layout.
func TestBetweenReleases(t *testing.T) {
	for _, v := range []string{"devel +abc", "", "1.22"} {
		if _, err := ForRelease(v, 8); !errors.Is(err, ErrUnknownLayout) {
			t.Errorf("ForRelease(%q): %v, want ErrUnknownLayout", v, err)
		}
	}
	if _, err := ForRelease("go1.22", 2); !errors.Is(err, ErrUnknownLayout) {
		t.Errorf("2-byte pointers: %v, want ErrUnknownLayout", err)
	}
	// Outside the tables: only what every generated release agrees on
	// (g.sched, moved by none of them; not g.goid, which go1.23 moved).
	for _, v := range []string{"go1.18.10", "go1.99.0"} {
		l, err := ForRelease(v, 8)
		if err != nil {
			t.Fatal(err)
		}
		if l.Source != FromNeighbours || l.G.Goid.Known() || !l.SchedSP().Known() || !l.SchedPC().Known() {
			t.Errorf("%s: %+v: want g.sched known and g.goid unknown", v, l)
		}
	}
	// Between go1.19 and go1.21 (go1.20, no toolchain here): every field
	// both agree on is kept, the rest is unknown.
	l, err := ForRelease("go1.20.14", 8)
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != FromNeighbours || l.Release != "go1.20" {
		t.Errorf("go1.20: source %v release %q", l.Source, l.Release)
	}
	a, _ := ForRelease("go1.19", 8)
	b, _ := ForRelease("go1.21", 8)
	check := func(name string, got, x, y Off) {
		switch {
		case x == y && got != x:
			t.Errorf("go1.20 %s = %d, but go1.19 and go1.21 agree on %d", name, got, x)
		case x != y && got != Unknown:
			t.Errorf("go1.20 %s = %d, but go1.19 (%d) and go1.21 (%d) differ", name, got, x, y)
		}
	}
	check("g.goid", l.G.Goid, a.G.Goid, b.G.Goid)
	check("g.lockedm", l.G.Lockedm, a.G.Lockedm, b.G.Lockedm)
	check("g.parentGoid", l.G.ParentGoid, a.G.ParentGoid, b.G.ParentGoid)
	check("m.curg", l.M.Curg, a.M.Curg, b.M.Curg)
}

// TestVersionFromBuildInfo reads the real section of this test binary and
// rejects what is not one.
func TestVersionFromBuildInfo(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skip(err)
	}
	if got, want := Release(GoVersion(f)), Release(string(out[:len(out)-1])); got != want || got == "" {
		t.Errorf("GoVersion of the test binary: release %q, want %q", got, want)
	}
	for _, b := range [][]byte{nil, []byte("\xff Go buildinf:"), append([]byte("\xff Go buildinf:\x08\x02"), make([]byte, 16)...)} {
		if v := VersionFromBuildInfo(b); v != "" {
			t.Errorf("VersionFromBuildInfo(%q) = %q", b, v)
		}
	}
}

func FuzzVersionFromBuildInfo(f *testing.F) {
	hdr := append([]byte("\xff Go buildinf:\x08\x02"), make([]byte, 16)...)
	f.Add(append(append([]byte{}, hdr...), append([]byte{8}, "go1.22.3"...)...))
	f.Add(append(append([]byte{}, hdr...), 0xff, 0xff, 0xff, 0xff, 0x0f))
	f.Fuzz(func(t *testing.T, b []byte) {
		VersionFromBuildInfo(b)
		Release(string(b))
	})
}

// TestNotGo: DWARF without runtime.g (a C program) is ErrUnknownLayout.
func TestNotGo(t *testing.T) {
	bin := testprog.BuildC(t, "native")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromDWARF(d, 8); !errors.Is(err, ErrUnknownLayout) {
		t.Errorf("FromDWARF of a C program: %v, want ErrUnknownLayout", err)
	}
	if _, ok := SwitchAt("main"); ok {
		t.Error("main is not a stack switch")
	}
	if s, ok := SwitchAt("runtime.mcall"); !ok || s.Resume != ResumeEnd {
		t.Errorf("runtime.mcall: %+v, %v: its stack ends there", s, ok)
	}
}

// TestVDSORulesCoverRuntime reads the Linux assembly of every Go toolchain's
// runtime: every function that stores m.vdsoSP (and so calls into the vDSO
// on a stack its pcsp table does not describe) must have a ResumeVDSO rule,
// and every ResumeVDSO rule must name such a function in some release.
func TestVDSORulesCoverRuntime(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	text := regexp.MustCompile(`^TEXT\s+([a-z]*)·(\w+)`)
	found := map[string]bool{}
	for _, tc := range tcs {
		out, err := exec.Command(tc.Go, "env", "GOROOT").Output()
		if err != nil {
			t.Fatalf("%s env GOROOT: %v", tc.Version, err)
		}
		files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "src", "runtime", "*_linux_*.s"))
		if len(files) == 0 {
			t.Fatalf("%s: no runtime/*_linux_*.s", tc.Version)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			fn := ""
			for _, line := range strings.Split(string(b), "\n") {
				if m := text.FindStringSubmatch(line); m != nil {
					pkg := m[1]
					if pkg == "" {
						pkg = "runtime"
					}
					fn = pkg + "." + m[2]
				}
				if fn != "" && strings.Contains(line, ", m_vdsoSP(") {
					found[fn] = true
					if s, ok := SwitchAt(fn); !ok || s.Resume != ResumeVDSO {
						t.Errorf("%s %s: %s stores m.vdsoSP but has no ResumeVDSO rule", tc.Version, filepath.Base(file), fn)
					}
				}
			}
		}
	}
	for _, s := range Switches() {
		if s.Resume == ResumeVDSO && !found[s.Func] {
			t.Errorf("the ResumeVDSO rule for %s names no function that stores m.vdsoSP", s.Func)
		}
	}
}
