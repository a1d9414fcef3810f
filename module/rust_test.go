package module

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Legacy Rust names (_ZN...17h<hash>E) keep every leading underscore of
// every path component, as libiberty (nm -C, gdb) prints them. These come
// from a rustc 1.95 build of rustProg; TestRustLegacyNames checks a fresh
// build against nm -C where rustc is installed.
func TestRustLegacyDemangle(t *testing.T) {
	for mangled, want := range map[string]string{
		"_ZN1u1u13_single_under17h87a143c49167ce41E":                                                                              "u::u::_single_under",
		"_ZN1u1u8__double17h25d26fe2cc1d387bE":                                                                                    "u::u::__double",
		"_ZN3std3sys9backtrace28__rust_begin_short_backtrace17h811648d09d81a198E":                                                 "std::sys::backtrace::__rust_begin_short_backtrace",
		"_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h6b7f24e1d3d7d63aE": "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>",
		"_ZN2_a3_b_17h0123456789abcdefE.llvm.42":                                                                                  "_a::_b_",
		"_ZN3foo3bar17h0123456789abcdefE":                                                                                         "foo::bar",
		"_ZN2ns3Foo3barEi":                                                                                                        "ns::Foo::bar(int)",
	} {
		if got := demangleName(mangled); got != want {
			t.Errorf("demangleName(%s) = %q, want %q", mangled, got, want)
		}
	}
}

const rustProg = `mod u {
    #[inline(never)]
    pub fn _single_under() { std::thread::sleep(std::time::Duration::from_millis(1)); }
    #[inline(never)]
    pub fn __double() { _single_under() }
}
fn main() { u::__double(); }
`

// TestRustLegacyNames builds a Rust program with legacy mangling and
// compares the name of every legacy-mangled symbol with nm -C's.
func TestRustLegacyNames(t *testing.T) {
	need(t, "nm")
	rustc, err := exec.LookPath("rustc")
	if err != nil {
		if home, _ := os.UserHomeDir(); home != "" {
			rustc, err = exec.LookPath(filepath.Join(home, ".cargo/bin/rustc"))
		}
	}
	if err != nil {
		t.Skip("rustc not installed: TestRustLegacyDemangle covers names from a real build")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "u.rs")
	if err := os.WriteFile(src, []byte(rustProg), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "u")
	run(t, rustc, "-g", "-o", bin, src)
	mangled := run(t, "nm", "--defined-only", bin)
	plain := run(t, "nm", "-C", "--defined-only", bin)
	ms, ps := lines(mangled), lines(plain)
	if len(ms) != len(ps) {
		t.Fatalf("nm and nm -C list %d and %d symbols", len(ms), len(ps))
	}
	legacy := 0
	for i, l := range ms {
		f, g := strings.SplitN(l, " ", 3), strings.SplitN(ps[i], " ", 3)
		if len(f) != 3 || len(g) != 3 || !strings.HasPrefix(f[2], "_ZN") || !strings.HasSuffix(f[2], "E") || !strings.Contains(f[2], "17h") {
			continue
		}
		legacy++
		if got := demangleName(f[2]); got != g[2] {
			t.Errorf("%s: demangled %q, nm -C says %q", f[2], got, g[2])
		}
	}
	if legacy == 0 {
		t.Fatal("no legacy-mangled Rust symbol in the build")
	}
	m := mustOpen(t, bin, Options{DebugDirs: []string{}})
	a, _, ok := m.SymbolByName("u::u::_single_under")
	if !ok {
		t.Fatal(`SymbolByName("u::u::_single_under") found nothing`)
	}
	if ls := m.Frames(a, false); len(ls) == 0 || ls[len(ls)-1].Function != "u::u::_single_under" {
		t.Errorf("Frames(u::u::_single_under) = %s", fmtLocs(ls))
	}
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
