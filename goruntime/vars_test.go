package goruntime

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// varsArches are the GOARCHes FindVars reads code of, and whether each
// builds -buildmode=pie without cgo.
var varsArches = []struct {
	goarch string
	pie    bool
}{
	{"amd64", true}, {"arm64", true}, {"mips64le", false}, {"386", false},
}

const varsProgram = "package main\n\nimport \"os\"\n\nfunc main() {\n\tdone := make(chan bool)\n\tgo func() { done <- true }()\n\t<-done\n\tos.Exit(0)\n}\n"

// buildFor builds the Go program in dir/main.go with toolchain tc for
// linux/goarch, without cgo, and returns the binary's path.
func buildFor(t testing.TB, tc testprog.Toolchain, goarch, dir string, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog")
	cmd := exec.Command(tc.Go, append(append([]string{"build", "-o", out}, flags...), "main.go")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOROOT=", "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0",
		"GO111MODULE=off", "GOFLAGS=", "GOEXPERIMENT=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s build %v for %s: %v\n%s", tc.Version, flags, goarch, err, b)
	}
	return out
}

func writeProgram(t testing.TB, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openGo(t testing.TB, path string) (*elf.File, *pclntab.Table) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tab, err := pclntab.Open(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f, tab
}

// moved returns where the data at addr in binary f is in binary g, a
// build of the same program with other -ldflags: -s -w lengthens
// .go.buildinfo (it records the flags) and so moves every data section
// after it, each as a whole. The sections must have the same names and
// sizes in both: anything else is a different link, which is an error.
func moved(f, g *elf.File, addr uint64) (uint64, error) {
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_WRITE == 0 || addr < s.Addr || addr-s.Addr >= s.Size {
			continue
		}
		t := g.Section(s.Name)
		if t == nil || t.Size != s.Size {
			return 0, fmt.Errorf("section %s of %#x+%#x is %+v in the other build: not the same data", s.Name, s.Addr, s.Size, t)
		}
		return addr - s.Addr + t.Addr, nil
	}
	return 0, fmt.Errorf("%#x is in no writable section", addr)
}

// TestFindVars builds a program with every toolchain for every arch of
// varsArches, default and PIE, each with and without its symbol table
// (-s -w). The oracle is the unstripped build's symbol table: the code of
// the unstripped binary must name exactly the addresses its symbols give,
// and so must the code of its stripped twin, whose data sections are those
// of the unstripped build, moved by the longer build info (see moved).
func TestFindVars(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	dir := writeProgram(t, varsProgram)
	for _, tc := range tcs {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			for _, a := range varsArches {
				modes := [][]string{nil}
				if a.pie {
					modes = append(modes, []string{"-buildmode=pie"})
				}
				for _, mode := range modes {
					name := a.goarch
					if mode != nil {
						name += "-pie"
					}
					t.Run(name, func(t *testing.T) {
						full := buildFor(t, tc, a.goarch, dir, mode...)
						stripped := buildFor(t, tc, a.goarch, dir, append(mode, "-ldflags=-s -w")...)
						checkVars(t, full, stripped)
					})
				}
			}
		})
	}
}

func checkVars(t *testing.T, full, stripped string) {
	t.Helper()
	f, ft := openGo(t, full)
	want, err := FindVars(f, ft)
	if err != nil {
		t.Fatalf("unstripped: %v", err)
	}
	if want.From != "symbol table" || want.Allgs == 0 || want.Allglen == 0 || want.Allm == 0 || want.WaitReasonStrings == 0 {
		t.Fatalf("unstripped: %+v: want every variable from the symbol table", want)
	}
	fromCode, err := varsFromCode(f, ft)
	if err != nil {
		t.Fatalf("code of the unstripped binary: %v", err)
	}
	if !strings.HasPrefix(fromCode.From, "code of runtime.") {
		t.Errorf("From %q", fromCode.From)
	}
	fromCode.From = want.From
	if fromCode != want {
		t.Errorf("code of the unstripped binary: %+v\nits symbol table:          %+v", fromCode, want)
	}

	s, st := openGo(t, stripped)
	if _, err := s.Symbols(); err == nil {
		t.Fatal("-s left a symbol table")
	}
	for _, p := range []*uint64{&want.Allgs, &want.Allglen, &want.Allm, &want.WaitReasonStrings} {
		if *p, err = moved(f, s, *p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := FindVars(s, st)
	if err != nil {
		t.Fatalf("stripped: %v", err)
	}
	t.Logf("stripped: %+v", got)
	// The wait reasons there are the generated table of the release.
	ptrSize := 8
	if s.Class == elf.ELFCLASS32 {
		ptrSize = 4
	}
	release := Release(GoVersion(s))
	reasons, err := WaitReasonsAt(elfMem{s}, got.WaitReasonStrings, ptrSize, s.ByteOrder, len(WaitReasons(release)))
	if err != nil {
		t.Errorf("stripped %s: %v", release, err)
	} else if !reflect.DeepEqual(reasons, WaitReasons(release)) {
		t.Errorf("stripped %s: wait reasons %q, generated %q", release, reasons, WaitReasons(release))
	}
	got.From = want.From
	if got != want {
		t.Errorf("stripped: %+v\nsymbols:  %+v", got, want)
	}
}

// TestVarsFromSymbolsInPlace: the variables are found by scanning the
// symbol table, not by copying it (elf.File.Symbols makes a string and a
// struct of each symbol: tens of megabytes for a large service), and the
// scan finds what the copy does.
func TestVarsFromSymbolsInPlace(t *testing.T) {
	f, err := elf.Open(testprog.BuildGo(t, "gotarget"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var syms []elf.Symbol
	copied := testprog.Allocated(func() { syms, err = f.Symbols() })
	if err != nil {
		t.Fatal(err)
	}
	var v Vars
	var ok bool
	n := testprog.Allocated(func() { v, ok = varsFromSymbols(f) })
	if !ok {
		t.Fatal("varsFromSymbols found no runtime.allgs")
	}
	for _, r := range varRules {
		var want uint64
		for _, s := range syms {
			if s.Name == r.Symbol {
				want = s.Value
			}
		}
		if got := *r.field(&v); got != want {
			t.Errorf("%s = %#x, the symbol table says %#x", r.Symbol, got, want)
		}
	}
	if n > copied/8 {
		t.Errorf("varsFromSymbols allocated %d bytes, elf.File.Symbols %d: want at most an eighth", n, copied)
	}
}
