package goruntime

import (
	"debug/elf"
	"fmt"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// varsArches are the GOARCHes FindVars reads code of, and the first
// release that builds -buildmode=pie for it without cgo ("": none here).
var varsArches = []struct {
	goarch  string
	pieFrom string
}{
	{"amd64", "go1.19"}, {"arm64", "go1.19"}, {"mips64le", ""}, {"386", ""},
	{"ppc64le", "go1.19"}, {"s390x", ""}, {"riscv64", ""}, {"loong64", "go1.26"},
}

const varsProgram = "package main\n\nimport \"os\"\n\nfunc main() {\n\tdone := make(chan bool)\n\tgo func() { done <- true }()\n\t<-done\n\tos.Exit(0)\n}\n"

// buildFor builds the Go program in dir/main.go with toolchain tc for
// linux/goarch, without cgo, and returns the binary's path.
func buildFor(t testing.TB, tc testprog.Toolchain, goarch, dir string, flags ...string) string {
	t.Helper()
	return build(t, tc, goarch, dir, "CGO_ENABLED=0", flags...)
}

func build(t testing.TB, tc testprog.Toolchain, goarch, dir, cgo string, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "prog")
	cmd := exec.Command(tc.Go, append(append([]string{"build", "-o", out}, flags...), "main.go")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOROOT=", "GOTOOLCHAIN=local", "GOOS=linux", "GOARCH="+goarch, cgo,
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
// With -short, only the arches taiji runs on live (amd64, arm64, mips64le).
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
				if testing.Short() && a.goarch != "amd64" && a.goarch != "arm64" && a.goarch != "mips64le" {
					continue
				}
				modes := [][]string{nil}
				if a.pieFrom != "" && version.Compare(tc.Version, a.pieFrom) >= 0 {
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

const cgoProgram = "package main\n\n// #include <stdlib.h>\nimport \"C\"\n\nfunc main() { C.free(nil) }\n"

// TestFindVarsCgo: a cgo program linked by the system's linker (as most
// programs with C dependencies are) keeps the Go linker's section names,
// and FindVars finds the variables in it, stripped or not.
func TestFindVarsCgo(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	dir := writeProgram(t, cgoProgram)
	for _, tc := range tcs {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			full := build(t, tc, "amd64", dir, "CGO_ENABLED=1", "-ldflags=-linkmode=external")
			stripped := build(t, tc, "amd64", dir, "CGO_ENABLED=1", "-ldflags=-linkmode=external -s -w")
			checkVars(t, full, stripped)
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
	if want.From != "symbol table" || want.Allgs == 0 || want.Allglen == 0 || want.Allm == 0 || want.WaitReasonStrings == 0 ||
		want.NumWaitReasons == 0 {
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
	reasons, err := WaitReasonsAt(elfMem{s}, got.WaitReasonStrings, ptrSize, s.ByteOrder, got.NumWaitReasons)
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

// TestFindVarsRefusesToGuess: witnesses that name no common address, or
// several, and a variable looked for outside the writable sections are
// errors that say so, never an address.
func TestFindVarsRefusesToGuess(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	bin := buildFor(t, tcs[len(tcs)-1], "amd64", writeProgram(t, varsProgram), "-ldflags=-s -w")
	f, tab := openGo(t, bin)
	scan := refScanners[f.Machine][f.Class]
	for _, c := range []struct {
		rule varRule
		want string
	}{
		{varRule{Symbol: "disagree", Section: ".bss", Witnesses: []witness{{[]string{"runtime.allgadd"}, refLoad}, {[]string{"runtime.mexit"}, 0}}},
			"names no common address in .bss: they disagree"},
		{varRule{Symbol: "ambiguous", Section: ".bss", Witnesses: []witness{{[]string{"runtime.mcommoninit"}, 0}, {[]string{"runtime.mexit"}, 0}}},
			"names several addresses in .bss"},
		{varRule{Symbol: "read-only", Section: ".rodata", Witnesses: []witness{{[]string{"runtime.waitReason.String"}, 0}}},
			"names no address in .rodata"},
	} {
		addr, _, err := c.rule.find(f, tab, scan, 8)
		if err == nil || !strings.Contains(err.Error(), c.want) || addr != 0 {
			t.Errorf("%s: %#x, %v; want an error saying %q", c.rule.Symbol, addr, err, c.want)
		}
	}
	// No witness in the binary: not found, and FindVars says which
	// functions it looked for.
	if addr, from, err := (&varRule{Section: ".bss", Witnesses: []witness{{[]string{"runtime.nosuchfunc"}, 0}}}).find(f, tab, scan, 8); addr != 0 || from != nil || err != nil {
		t.Errorf("absent witness: %#x, %v, %v", addr, from, err)
	}
}

// TestScanX86VEXLengths: x86asm takes VZEROUPPER (3 bytes) for 5; the
// amd64 scanner must take its length from disasm, or it reads the LEA
// after it out of step and names a wrong address.
func TestScanX86VEXLengths(t *testing.T) {
	code := []byte{
		0xc5, 0xf8, 0x77, // VZEROUPPER
		0x48, 0x8d, 0x15, 0x10, 0, 0, 0, // LEAQ 0x10(RIP), DX
		0xc3, // RET
	}
	want := []ref{{PC: 0x1003, Addr: 0x1003 + 7 + 0x10, Kind: refAddr}}
	if got := scanX86(64)(code, 0x1000); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
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
