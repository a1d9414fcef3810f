package testprog

import (
	"debug/buildinfo"
	"debug/elf"
	"reflect"
	"strings"
	"testing"
)

func TestParseToolchains(t *testing.T) {
	got, err := parseToolchains([]byte("go1.26 /usr/local/go/bin/go\n\n# comment\ngo1.19 /usr/lib/go-1.19/bin/go\ngo1.9 /old/go\n"))
	want := []Toolchain{{"go1.9", "/old/go"}, {"go1.19", "/usr/lib/go-1.19/bin/go"}, {"go1.26", "/usr/local/go/bin/go"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseToolchains = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"go1.19\n", "1.19 /x/go\n", "go1.x /x/go\n", "go2.1 /x/go\n", "go1.19 /x/go extra\n"} {
		if tcs, err := parseToolchains([]byte(bad)); err == nil {
			t.Errorf("parseToolchains(%q) = %v, want an error", bad, tcs)
		}
	}
}

// TestToolchainsBuild checks that what Toolchains lists builds what it is
// asked for: each binary says it was built by its release, and each mode
// gives its kind of ELF file.
func TestToolchainsBuild(t *testing.T) {
	src := []byte("package main\n\nfunc main() {}\n")
	RunMatrix(t, "hello", src, func(t *testing.T, tc Toolchain, m GoMode, bins map[string]string) {
		bin := bins[m.Name]
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if v := bi.GoVersion; v != tc.Version && !strings.HasPrefix(v, tc.Version+".") && !strings.HasPrefix(v, tc.Version+"rc") {
			t.Errorf("built by %s, want %s", v, tc.Version)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if cgo := settings["CGO_ENABLED"]; cgo != map[bool]string{true: "1", false: "0"}[m.Cgo] {
			t.Errorf("CGO_ENABLED=%q, want cgo %v", cgo, m.Cgo)
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		syms, _ := f.Symbols()
		if m.Stripped != (len(syms) == 0) || m.Stripped != (f.Section(".debug_info") == nil) {
			t.Errorf("%d symbols, .debug_info %v; stripped %v", len(syms), f.Section(".debug_info") != nil, m.Stripped)
		}
		if m.PIE != (f.Type == elf.ET_DYN) {
			t.Errorf("ELF type %v, PIE %v", f.Type, m.PIE)
		}
		// gcc, the external linker, leaves its mark in .comment; Go's own
		// linker writes none.
		external := strings.Contains(strings.Join(m.Flags, " "), "-linkmode=external")
		if ext := f.Section(".comment") != nil; ext != external {
			t.Errorf(".comment section %v in mode %s", ext, m.Name)
		}
	})
}
