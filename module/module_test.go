package module

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const cProg = `#include <stdio.h>
#include <stdlib.h>
static inline __attribute__((always_inline)) int inner(int x) {
	return (x * 3 + (x >> 2)) ^ rand();
}
static inline __attribute__((always_inline)) int outer(int x) {
	int s = 0;
	for (int i = 0; i < x; i++)
		s += inner(i + x);
	return s;
}
__attribute__((noinline)) int work(int x) { return outer(x) + 1; }
int main(int argc, char **argv) {
	printf("main=%p\n", (void *)main);
	fflush(stdout);
	if (argc > 1)
		getchar();
	return work(argc + 5) & 1;
}
`

const cxxProg = `#include <cstdio>
#include <vector>
#include <string>
namespace ns {
class Foo {
public:
	int k;
	__attribute__((noinline)) int bar(int x);
	int baz(int x) { return x * k + 1; }
};
int Foo::bar(int x) {
	std::vector<int> v(x, 1);
	return baz(x) + (int)v.size();
}
template <typename T> __attribute__((noinline)) T add(T a, T b) { return a + b; }
} // namespace ns
int main(int argc, char **argv) {
	ns::Foo f{argc};
	std::string s(argv[0]);
	return f.bar(argc) + ns::add<int>(argc, 2) + (int)ns::add<double>(argc, 1.5) + (int)s.size();
}
`

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test installs it)", tool)
		}
	}
}

// build compiles src (C or C++ by ext) into dir/name with extra flags.
func build(t testing.TB, dir, name, ext, src string, flags ...string) string {
	t.Helper()
	cc := "gcc"
	if ext == ".cc" {
		cc = "g++"
	}
	need(t, cc)
	srcPath := filepath.Join(dir, name+ext)
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	run(t, cc, append(append([]string{"-O2", "-g"}, flags...), "-o", bin, srcPath)...)
	return bin
}

type nmSym struct {
	addr, size uint64
	name       string
}

// nmFuncs lists the sized function symbols nm sees, demangled.
func nmFuncs(t *testing.T, bin string) []nmSym {
	t.Helper()
	need(t, "nm")
	var out []nmSym
	sc := bufio.NewScanner(strings.NewReader(run(t, "nm", "-S", "-C", "--defined-only", bin)))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		if len(f) != 4 || !strings.ContainsAny(f[2], "tTwWi") {
			continue
		}
		a, _ := strconv.ParseUint(f[0], 16, 64)
		s, _ := strconv.ParseUint(f[1], 16, 64)
		if s > 0 {
			out = append(out, nmSym{a, s, f[3]})
		}
	}
	if len(out) == 0 {
		t.Fatalf("nm found no functions in %s", bin)
	}
	return out
}

var discriminator = regexp.MustCompile(` \(discriminator \d+\)$`)

// addr2line is the oracle: binutils' addr2line -a -f -i -C.
func addr2line(t *testing.T, bin string, addrs []uint64) map[uint64][]Location {
	t.Helper()
	need(t, "addr2line")
	args := []string{"-a", "-f", "-i", "-C", "-e", bin}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	lines := strings.Split(strings.TrimRight(run(t, "addr2line", args...), "\n"), "\n")
	res := make(map[uint64][]Location)
	var cur uint64
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "0x") {
			cur, _ = strconv.ParseUint(lines[i][2:], 16, 64)
			res[cur] = nil
			continue
		}
		if i+1 >= len(lines) {
			t.Fatalf("addr2line: odd output at %q", lines[i])
		}
		fn, fl := lines[i], discriminator.ReplaceAllString(lines[i+1], "")
		i++
		loc := Location{Function: fn}
		if fn == "??" {
			loc.Function = ""
		}
		if c := strings.LastIndexByte(fl, ':'); c >= 0 && !strings.HasPrefix(fl, "??:") {
			loc.File = fl[:c]
			loc.Line, _ = strconv.Atoi(fl[c+1:])
		}
		res[cur] = append(res[cur], loc)
	}
	for loc := range res {
		ls := res[loc]
		for i := range ls {
			ls[i].Inline = i < len(ls)-1
		}
		if len(ls) == 1 && ls[0] == (Location{}) {
			res[loc] = nil
		}
	}
	return res
}

// funcAddrs returns every byte address of the given functions.
func funcAddrs(fs []nmSym) []uint64 {
	var as []uint64
	for _, f := range fs {
		for a := f.addr; a < f.addr+f.size; a++ {
			as = append(as, a)
		}
	}
	return as
}

func mustOpen(t testing.TB, path string, opts Options) *Module {
	t.Helper()
	m, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func fmtLocs(ls []Location) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "\n\t%s %s:%d inline=%v", l.Function, l.File, l.Line, l.Inline)
	}
	return b.String()
}

// checkFrames compares Frames and Symbol with addr2line and nm at every
// byte of every function.
func checkFrames(t *testing.T, m *Module, oracleBin string, fs []nmSym) {
	t.Helper()
	addrs := funcAddrs(fs)
	want := addr2line(t, oracleBin, addrs)
	bad := 0
	for _, a := range addrs {
		got := m.Frames(a, false)
		if fmtLocs(got) != fmtLocs(want[a]) {
			if bad++; bad <= 10 {
				t.Errorf("Frames(%#x):\ngot:%s\nwant:%s", a, fmtLocs(got), fmtLocs(want[a]))
			}
		}
		// noSource gives the same names.
		ns := m.Frames(a, true)
		if len(ns) != len(got) {
			t.Errorf("Frames(%#x, noSource) has %d frames, want %d", a, len(ns), len(got))
		} else {
			for i := range ns {
				if ns[i].Function != got[i].Function || ns[i].Inline != got[i].Inline || ns[i].File != "" {
					t.Errorf("Frames(%#x, noSource)[%d] = %+v, want name of %+v", a, i, ns[i], got[i])
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d addresses differ from addr2line", bad, len(addrs))
	}
	inl := 0
	for _, ls := range want {
		if len(ls) > 1 {
			inl++
		}
	}
	t.Logf("%d addresses in %d functions compared with addr2line, %d of them in inlined code", len(addrs), len(fs), inl)
	if inl == 0 {
		t.Errorf("no inlined code among the addresses: the test checks nothing about inlining")
	}
	for _, f := range fs {
		for a := f.addr; a < f.addr+f.size; a++ {
			name, start, ok := m.Symbol(a)
			if !ok || start != f.addr || name != f.name {
				t.Fatalf("Symbol(%#x) = %q %#x %v, want %q %#x (nm)", a, name, start, ok, f.name, f.addr)
			}
		}
		if addr, size, ok := m.SymbolByName(f.name); !ok || addr != f.addr || size != f.size {
			t.Errorf("SymbolByName(%q) = %#x %d %v, want %#x %d", f.name, addr, size, ok, f.addr, f.size)
		}
	}
}

func TestFramesC(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir, "prog", ".c", cProg)
	m := mustOpen(t, bin, Options{DebugDirs: []string{}})
	if m.Debug != nil {
		t.Fatalf("unexpected debug file %s", m.DebugPath)
	}
	fs := nmFuncs(t, bin)
	checkFrames(t, m, bin, fs)

	// The inline chain this test is about must really be there: inner
	// inlined into outer inlined into work.
	work, _, ok := m.SymbolByName("work")
	if !ok {
		t.Fatal("no symbol work")
	}
	deepest := 0
	for a := work; ; a++ {
		name, _, ok := m.Symbol(a)
		if !ok || name != "work" {
			break
		}
		ls := m.Frames(a, false)
		if len(ls) == 3 && ls[0].Function == "inner" && ls[1].Function == "outer" && ls[2].Function == "work" &&
			ls[0].Inline && ls[1].Inline && !ls[2].Inline && ls[1].Line == 9 && ls[2].Line == 12 {
			deepest = 3
		}
	}
	if deepest != 3 {
		t.Errorf("no address in work shows inner <- outer <- work with call lines 9 and 12")
	}
}

func TestFramesCXX(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir, "prog", ".cc", cxxProg)
	m := mustOpen(t, bin, Options{DebugDirs: []string{}})
	fs := nmFuncs(t, bin)
	checkFrames(t, m, bin, fs)
	for _, n := range []string{"ns::Foo::bar(int)", "int ns::add<int>(int, int)", "_ZN2ns3Foo3barEi"} {
		if _, _, ok := m.SymbolByName(n); !ok {
			t.Errorf("SymbolByName(%q) not found", n)
		}
	}
	a, _, _ := m.SymbolByName("ns::Foo::bar(int)")
	if ls := m.Frames(a, true); len(ls) == 0 || ls[len(ls)-1].Function != "ns::Foo::bar(int)" {
		t.Errorf("Frames(ns::Foo::bar) = %s", fmtLocs(ls))
	}
}

// split makes dir/prog.stripped and dir/prog.debug from bin the way
// distributions do, adding a .gnu_debuglink if link.
func split(t *testing.T, bin, dir string, link bool) (stripped, debug string) {
	t.Helper()
	need(t, "objcopy")
	debug = filepath.Join(dir, "prog.debug")
	stripped = filepath.Join(dir, "prog.stripped")
	run(t, "objcopy", "--only-keep-debug", bin, debug)
	run(t, "objcopy", "--strip-debug", "--strip-unneeded", bin, stripped)
	if link {
		// objcopy finds the debug file by the path given and records
		// only its base name.
		run(t, "objcopy", "--add-gnu-debuglink="+debug, stripped)
	}
	return stripped, debug
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestSplitDebug(t *testing.T) {
	src := t.TempDir()
	bin := build(t, src, "prog", ".cc", cxxProg)
	fs := nmFuncs(t, bin)
	full := mustOpen(t, bin, Options{DebugDirs: []string{}})
	bid := full.BuildID
	if len(bid) < 8 {
		t.Fatalf("no build ID in %s (gcc should add one)", bin)
	}
	if out := run(t, "readelf", "-n", bin); !strings.Contains(out, bid) {
		t.Fatalf("BuildID %s not in readelf -n output:\n%s", bid, out)
	}

	type layout struct {
		name  string
		link  bool
		place func(t *testing.T, dir, debug string) (debugDirs []string, wantPath string)
	}
	layouts := []layout{
		{"samedir", true, func(t *testing.T, dir, debug string) ([]string, string) {
			return []string{}, debug
		}},
		{"dotdebug", true, func(t *testing.T, dir, debug string) ([]string, string) {
			p := filepath.Join(dir, ".debug", "prog.debug")
			copyFile(t, debug, p)
			os.Remove(debug)
			return []string{}, p
		}},
		{"debugdir", true, func(t *testing.T, dir, debug string) ([]string, string) {
			dd := t.TempDir()
			p := filepath.Join(dd, dir, "prog.debug")
			copyFile(t, debug, p)
			os.Remove(debug)
			return []string{dd}, p
		}},
		{"buildid", false, func(t *testing.T, dir, debug string) ([]string, string) {
			dd := t.TempDir()
			p := filepath.Join(dd, ".build-id", bid[:2], bid[2:]+".debug")
			copyFile(t, debug, p)
			os.Remove(debug)
			return []string{t.TempDir(), dd}, p
		}},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			dir := t.TempDir()
			stripped, debug := split(t, bin, dir, l.link)
			dirs, wantPath := l.place(t, dir, debug)
			m := mustOpen(t, stripped, Options{DebugDirs: dirs})
			if m.DebugPath != wantPath || m.Debug == nil {
				t.Fatalf("debug file %q, want %q (warnings %q)", m.DebugPath, wantPath, m.Warnings())
			}
			if m.BuildID != bid {
				t.Errorf("BuildID %s, want %s", m.BuildID, bid)
			}
			checkFrames(t, m, bin, fs)

			// .eh_frame: NOBITS in the debug file, so it must come
			// from the stripped binary, byte for byte.
			if s := m.Debug.Section(".eh_frame"); s == nil || s.Type != elf.SHT_NOBITS {
				t.Fatalf("debug file's .eh_frame is %v, the test expects NOBITS", s)
			}
			got, addr, ok := m.Section(".eh_frame")
			want, _ := m.File.Section(".eh_frame").Data()
			if !ok || !bytes.Equal(got, want) || addr != m.File.Section(".eh_frame").Addr || len(got) == 0 {
				t.Errorf("Section(.eh_frame) = %d bytes at %#x, %v; want the stripped binary's %d bytes", len(got), addr, ok, len(want))
			}
			// .debug_line only exists in the debug file.
			if d, _, ok := m.Section(".debug_line"); !ok || len(d) == 0 {
				t.Errorf("Section(.debug_line) missing")
			}
			// .symtab was stripped from the binary: the names come
			// from the debug file.
			if syms, _ := m.File.Symbols(); len(syms) > 0 {
				for _, s := range syms {
					if s.Name == "_ZN2ns3Foo3barEi" {
						t.Fatalf("stripped binary still has ns::Foo::bar in .symtab")
					}
				}
			}
		})
	}

	t.Run("badcrc", func(t *testing.T) {
		dir := t.TempDir()
		stripped, debug := split(t, bin, dir, true)
		f, err := os.OpenFile(debug, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0}) // a valid ELF still, but not the file the link names
		f.Close()
		m := mustOpen(t, stripped, Options{DebugDirs: []string{}})
		if m.Debug != nil {
			t.Fatalf("debug file %s with a wrong CRC was accepted", m.DebugPath)
		}
		if w := strings.Join(m.Warnings(), "\n"); !strings.Contains(w, "CRC") || !strings.Contains(w, debug) {
			t.Errorf("warnings %q do not mention the CRC mismatch of %s", w, debug)
		}
		// Still usable: frames degrade to what the stripped binary
		// has (no DWARF, so no inline chain).
		a, _, _ := full.SymbolByName("main")
		if ls := m.Frames(a, false); len(ls) > 1 {
			t.Errorf("Frames without debug info = %s", fmtLocs(ls))
		}
	})

	t.Run("wrongbuildid", func(t *testing.T) {
		// A debug file of a different build, placed under our build ID.
		other := build(t, t.TempDir(), "prog", ".cc", cxxProg+"\nint extra() { return 1; }\n")
		dir := t.TempDir()
		stripped, _ := split(t, bin, dir, false)
		dd := t.TempDir()
		_, odebug := split(t, other, t.TempDir(), false)
		copyFile(t, odebug, filepath.Join(dd, ".build-id", bid[:2], bid[2:]+".debug"))
		m := mustOpen(t, stripped, Options{DebugDirs: []string{dd}})
		if m.Debug != nil {
			t.Fatalf("debug file with another build ID accepted")
		}
		if w := strings.Join(m.Warnings(), "\n"); !strings.Contains(w, "build ID") {
			t.Errorf("warnings %q do not mention the build ID mismatch", w)
		}
	})

	t.Run("root", func(t *testing.T) {
		// A container's file system: the binary at /usr/bin/prog and
		// its debug file under the default /usr/lib/debug, both only
		// reachable through Root.
		root := t.TempDir()
		stripped, debug := split(t, bin, t.TempDir(), false)
		copyFile(t, stripped, filepath.Join(root, "usr/bin/prog"))
		copyFile(t, debug, filepath.Join(root, "usr/lib/debug/.build-id", bid[:2], bid[2:]+".debug"))
		m := mustOpen(t, "/usr/bin/prog", Options{Root: root})
		if m.Debug == nil || m.Path != "/usr/bin/prog" {
			t.Fatalf("Path %q DebugPath %q warnings %q", m.Path, m.DebugPath, m.Warnings())
		}
		checkFrames(t, m, bin, fs)
		if _, err := Open("/usr/bin/prog", Options{Root: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "/usr/bin/prog") {
			t.Errorf("Open of a missing file: error %v does not name it", err)
		}
	})
}

// mapsOf returns the /proc/PID/maps lines naming path.
func mapsOf(t *testing.T, pid int, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 6 && f[5] == path {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s not mapped in process %d:\n%s", path, pid, b)
	}
	return out
}

func TestBias(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{{"pie", []string{"-fPIE", "-pie"}}, {"nopie", []string{"-fno-PIE", "-no-pie"}}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := build(t, t.TempDir(), "prog", ".c", cProg, tc.flags...)
			cmd := exec.Command(bin, "wait")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { stdin.Close(); cmd.Wait() }()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			var mainRT uint64
			if _, err := fmt.Sscanf(line, "main=0x%x", &mainRT); err != nil {
				t.Fatalf("program printed %q: %v", line, err)
			}
			m := mustOpen(t, bin, Options{})
			mainLink, _, ok := m.SymbolByName("main")
			if !ok {
				t.Fatal("no main")
			}
			// Every mapping of the binary gives the same bias.
			for _, f := range mapsOf(t, cmd.Process.Pid, bin) {
				r := strings.SplitN(f[0], "-", 2)
				start, _ := strconv.ParseUint(r[0], 16, 64)
				off, _ := strconv.ParseUint(f[2], 16, 64)
				if off != 0 && !strings.Contains(f[1], "x") {
					// See Bias: the RELRO part of the data
					// segment shares its file page with
					// .rodata, and is r-- too.
					continue
				}
				bias, ok := m.Bias(start, off)
				if !ok || mainLink+bias != mainRT {
					t.Errorf("maps %v: Bias = %#x, %v; main %#x + bias != %#x", f, bias, ok, mainLink, mainRT)
				}
				if tc.name == "nopie" && bias != 0 {
					t.Errorf("non-PIE bias %#x", bias)
				}
				if tc.name == "pie" && bias == 0 {
					t.Errorf("PIE loaded at bias 0? maps %v", f)
				}
			}
		})
	}
}

func libcPath(t testing.TB) string {
	t.Helper()
	need(t, "gcc")
	p := strings.TrimSpace(run(t, "gcc", "-print-file-name=libc.so.6"))
	p, err := filepath.EvalSymlinks(p)
	if err != nil || !filepath.IsAbs(p) {
		t.Skipf("no libc.so.6 found (%q, %v)", p, err)
	}
	return p
}

func TestLibc(t *testing.T) {
	path := libcPath(t)
	m := mustOpen(t, path, Options{})
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	dyn, err := ef.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	aliases := map[uint64][]string{}
	for _, s := range dyn {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			aliases[s.Value] = append(aliases[s.Value], s.Name)
		}
	}
	checked := 0
	var addrs []uint64
	for _, s := range dyn {
		switch s.Name {
		case "read", "write", "malloc", "free", "qsort", "getpid", "nanosleep":
		default:
			continue
		}
		if s.Section == elf.SHN_UNDEF || s.Size == 0 {
			continue
		}
		checked++
		for _, a := range []uint64{s.Value, s.Value + s.Size/2, s.Value + s.Size - 1} {
			name, start, ok := m.Symbol(a)
			if !ok || start != s.Value || !contains(aliases[s.Value], name) {
				t.Errorf("Symbol(%#x) = %q %#x %v, want one of %q at %#x", a, name, start, ok, aliases[s.Value], s.Value)
			}
			addrs = append(addrs, a)
		}
		// The public name wins over __-prefixed aliases.
		if name, _, _ := m.Symbol(s.Value); name != s.Name && strings.HasPrefix(name, "_") {
			t.Errorf("Symbol(%#x) = %q, want %q", s.Value, name, s.Name)
		}
		if a, size, ok := m.SymbolByName(s.Name); !ok || a != s.Value || size != s.Size {
			t.Errorf("SymbolByName(%s) = %#x %d %v, want %#x %d", s.Name, a, size, ok, s.Value, s.Size)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d of the expected functions are in libc's .dynsym", checked)
	}
	// With libc6-dbg installed the frames come from DWARF, else from
	// .dynsym; addr2line knows both.
	t.Logf("libc debug file: %q", m.DebugPath)
	want := addr2line(t, path, addrs)
	for _, a := range addrs {
		if got := m.Frames(a, false); fmtLocs(got) != fmtLocs(want[a]) {
			t.Errorf("Frames(%#x):\ngot:%s\nwant:%s", a, fmtLocs(got), fmtLocs(want[a]))
		}
	}
	if d, _, ok := m.Section(".eh_frame_hdr"); !ok || len(d) == 0 {
		t.Errorf("no .eh_frame_hdr in libc")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestCode(t *testing.T) {
	bin := build(t, t.TempDir(), "prog", ".c", cProg)
	m := mustOpen(t, bin, Options{})
	text := m.File.Section(".text")
	want, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	work, size, _ := m.SymbolByName("work")
	got, err := m.Code(work, int(size))
	if err != nil {
		t.Fatal(err)
	}
	if off := work - text.Addr; !bytes.Equal(got, want[off:off+size]) {
		t.Errorf("Code(work) = % x, .text has % x", got, want[off:off+size])
	}
	if _, err := m.Code(1<<60, 4); err == nil {
		t.Errorf("Code outside every segment succeeded")
	}
	if _, err := m.Code(text.Addr+text.Size-2, 1<<20); err == nil {
		t.Errorf("Code past the end of the segment succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "notelf")
	os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755)
	_, err := Open(notELF, Options{})
	if err == nil || !strings.Contains(err.Error(), notELF) || !strings.Contains(err.Error(), "ELF") {
		t.Errorf("Open(not ELF) error %v", err)
	}
	if _, err := FromBytes("[vdso]", []byte("\x7fELF\x02\x01\x01"), Options{}); err == nil || !strings.Contains(err.Error(), "[vdso]") {
		t.Errorf("FromBytes(truncated) error %v", err)
	}
}

// TestLibcWide compares Frames with addr2line across a sample of libc's
// functions: with libc6-dbg installed this exercises real, deeply inlined,
// DWARF 5 code built by someone else.
func TestLibcWide(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := libcPath(t)
	m := mustOpen(t, path, Options{})
	dyn, err := m.File.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []uint64
	for i, s := range dyn {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF || i%5 != 0 {
			continue
		}
		for a := s.Value; a < s.Value+s.Size; a += 13 {
			addrs = append(addrs, a)
		}
	}
	want := addr2line(t, path, addrs)
	var disputed []uint64
	for _, a := range addrs {
		if got := m.Frames(a, false); fmtLocs(got) != fmtLocs(want[a]) {
			disputed = append(disputed, a)
		}
	}
	// binutils 2.40 misreads some DWARF 5 file numbers (it names
	// gethstbynm_r.c where the row says file 1, getXXbyYY_r.c; gdb agrees
	// with us). Where addr2line disagrees, elfutils must agree.
	bad := 0
	if len(disputed) > 0 {
		want2 := euAddr2line(t, path, disputed)
		for _, a := range disputed {
			if got := m.Frames(a, false); fmtLocs(got) != fmtLocs(want2[a]) {
				if bad++; bad <= 10 {
					t.Errorf("Frames(%#x):\ngot:%s\naddr2line:%s\neu-addr2line:%s", a, fmtLocs(got), fmtLocs(want[a]), fmtLocs(want2[a]))
				}
			}
		}
	}
	t.Logf("%d addresses, %d differ from addr2line, %d from both addr2line and eu-addr2line (debug file %q)", len(addrs), len(disputed), bad, m.DebugPath)
	if bad > 0 {
		t.Errorf("%d of %d differ", bad, len(addrs))
	}
}

// euAddr2line is the second oracle, elfutils' eu-addr2line -a -f -i -C.
func euAddr2line(t *testing.T, bin string, addrs []uint64) map[uint64][]Location {
	t.Helper()
	need(t, "eu-addr2line")
	args := []string{"-a", "-f", "-i", "-C", "-e", bin}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	lines := strings.Split(strings.TrimRight(run(t, "eu-addr2line", args...), "\n"), "\n")
	res := make(map[uint64][]Location)
	var cur uint64
	col := regexp.MustCompile(`:(\d+):\d+$`)
	for i := 0; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "0x") {
			cur, _ = strconv.ParseUint(lines[i][2:], 16, 64)
			res[cur] = nil
			continue
		}
		if i+1 >= len(lines) {
			t.Fatalf("eu-addr2line: odd output at %q", lines[i])
		}
		fn, _, _ := strings.Cut(lines[i], " inlined at ")
		fl := col.ReplaceAllString(lines[i+1], ":$1")
		i++
		loc := Location{Function: fn}
		if fn == "??" {
			loc.Function = ""
		}
		if c := strings.LastIndexByte(fl, ':'); c >= 0 && !strings.HasPrefix(fl, "??:") {
			loc.File = fl[:c]
			loc.Line, _ = strconv.Atoi(fl[c+1:])
		}
		res[cur] = append(res[cur], loc)
	}
	for a, ls := range res {
		for i := range ls {
			ls[i].Inline = i < len(ls)-1
		}
		res[a] = ls
	}
	return res
}

// TestOpenNotELF: a file that is not ELF gives one line naming the file
// and saying so, as a *FormatError whose cause, debug/elf's own error,
// callers can still reach.
func TestOpenNotELF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notelf")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	var fe *FormatError
	var elfErr *elf.FormatError
	if !errors.As(err, &fe) || fe.File != path || !errors.As(err, &elfErr) ||
		!strings.HasPrefix(err.Error(), "module: "+path+": not a valid ELF file: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Open(shell script) = %v, want a one-line module.FormatError wrapping an elf.FormatError", err)
	}
}
