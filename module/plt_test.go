package module

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const pltLib = `void f(void) {}
void g(void) {}
`

const pltProg = `#include <stdio.h>
void f(void);
void g(void);
int main(int argc, char **argv) {
	if (argc > 5)
		g();
	f();
	printf("%d\n", argc);
	return 0;
}
`

var objdumpPLT = regexp.MustCompile(`^([0-9a-f]+) <(.+@plt)>:$`)

// TestPLTSymbols checks that every PLT stub objdump names is named alike,
// in every layout of the PLT: lazy and -z now, PIE or not, IBT's .plt.sec,
// and .plt.got for a function whose address is also taken.
func TestPLTSymbols(t *testing.T) {
	pltSymbolsFor(t, "gcc", "objdump", []pltCase{
		{"lazy", []string{"-no-pie", "-Wl,-z,lazy"}},
		{"now", []string{"-no-pie", "-Wl,-z,now"}},
		{"pie-lazy", []string{"-pie", "-fPIE", "-Wl,-z,lazy"}},
		{"ibt-lazy", []string{"-no-pie", "-fcf-protection=full", "-Wl,-z,lazy,-z,ibtplt"}},
		{"ibt-pie-now", []string{"-pie", "-fPIE", "-fcf-protection=full", "-Wl,-z,now,-z,ibtplt"}},
		{"address-taken", []string{"-no-pie", "-DTAKE", "-Wl,-z,lazy"}},
	})
}

// TestPLTSymbolsARM64 is TestPLTSymbols for arm64 binaries, built by the
// cross compiler scripts/xarch-test installs.
func TestPLTSymbolsARM64(t *testing.T) {
	pltSymbolsFor(t, "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-objdump", []pltCase{
		{"pie", []string{"-pie", "-fPIE"}},
		{"now", []string{"-no-pie", "-Wl,-z,now"}},
		{"bti", []string{"-mbranch-protection=standard", "-Wl,-z,force-bti"}},
		{"address-taken", []string{"-no-pie", "-DTAKE"}},
	})
}

type pltCase struct {
	name  string
	flags []string
}

func pltSymbolsFor(t *testing.T, cc, objdump string, cases []pltCase) {
	need(t, cc, objdump)
	dir := t.TempDir()
	lib := filepath.Join(dir, "libf.so")
	if err := os.WriteFile(lib+".c", []byte(pltLib), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, cc, "-O2", "-shared", "-fPIC", "-o", lib, lib+".c")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := pltProg
			if tc.name == "address-taken" {
				src = strings.Replace(src, "f();", "void (*volatile p)(void) = f; p(); f();", 1)
			}
			d := t.TempDir()
			srcPath, bin := filepath.Join(d, "prog.c"), filepath.Join(d, "prog")
			if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			// The library after the source, or ld drops it.
			run(t, cc, append(append([]string{"-O2", "-g"}, tc.flags...), "-o", bin, srcPath, lib)...)
			m := mustOpen(t, bin, Options{DebugDirs: []string{}})
			out := run(t, objdump, "-d", "-j", ".plt", "-j", ".plt.sec", "-j", ".plt.got", bin)
			n := 0
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				mm := objdumpPLT.FindStringSubmatch(sc.Text())
				if mm == nil {
					continue
				}
				n++
				a, _ := strconv.ParseUint(mm[1], 16, 64)
				for _, pc := range []uint64{a, a + 6} {
					if name, start, ok := m.Symbol(pc); !ok || name != mm[2] || start != a {
						t.Errorf("Symbol(%#x) = %q at %#x, %v; objdump: %s at %#x", pc, name, start, ok, mm[2], a)
					}
				}
			}
			if n < 2 {
				t.Fatalf("objdump names %d PLT stubs in %s:\n%s", n, filepath.Base(bin), out)
			}
		})
	}
}
