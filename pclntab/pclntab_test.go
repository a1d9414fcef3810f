package pclntab

import (
	"bufio"
	"bytes"
	"cmp"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// testProg calls runtime.Callers from inside a chain of small helpers the
// compiler inlines (leaf <- inner <- middle <- (*T).method <- outer), and
// prints, for each physical frame, its pc and the logical frames
// runtime.CallersFrames expands it to. It also prints the runtime address
// of main.main so a PIE's load bias can be computed.
const testProg = `package main

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
)

type T struct{ x int }

func leaf(k int) []uintptr {
	pcs := make([]uintptr, 64)
	if k > 1000 {
		return nil
	}
	n := runtime.Callers(1, pcs)
	return pcs[:n]
}

func inner(k int) []uintptr  { return leaf(k * 2) }
func middle(k int) []uintptr { return inner(k + 1) }

func (t *T) method() []uintptr { return middle(t.x) }

//go:noinline
func outer(t *T) []uintptr { return t.method() }

//go:noinline
func use(b *[64]byte, n int) byte { return b[n%64] }

// frame64 has a known frame: a 64-byte local array that stays on the stack.
//
//go:noinline
func frame64(n int) byte {
	var a [64]byte
	for i := range a {
		a[i] = byte(i * n)
	}
	return use(&a, n)
}

func main() {
	fmt.Printf("ADDR main.main %#x\n", reflect.ValueOf(main).Pointer())
	fmt.Fprintln(os.Stderr, frame64(3))
	report(outer(&T{3}))
	done := make(chan []uintptr)
	go func() { done <- outer(&T{5}) }()
	report(<-done)
}

// report prints one "PC" line per physical frame followed by its logical
// frames. An inlined frame has Func == nil; the physical one ends a group.
func report(pcs []uintptr) {
	frames := runtime.CallersFrames(pcs)
	start := true
	for {
		fr, more := frames.Next()
		if start {
			fmt.Printf("PC %#x\n", fr.PC)
			start = false
		}
		fmt.Printf("F %s\t%s\t%d\n", fr.Function, fr.File, fr.Line)
		if fr.Func != nil {
			start = true
		}
		if !more {
			break
		}
	}
	fmt.Println("END")
}

// A go statement with arguments: the compiler wraps the call in a function
// the runtime hides from tracebacks (funcID wrapper).
func init() { go frame64(1) }
`

// cgoProg is testProg plus a C function, so the binary is linked by gcc.
const cgoExtra = `
// int twice(int x) { return 2 * x; }
import "C"
`

type variant struct {
	name   string
	args   []string
	cgo    bool
	strip  bool
	goarch string // cross-compile (not run): tests other pointer sizes, byte orders, pc quanta
}

var variants = map[string]variant{
	"default":  {name: "default"},
	"stripped": {name: "stripped", args: []string{"-ldflags=-s -w"}, strip: true},
	"pie":      {name: "pie", args: []string{"-buildmode=pie"}},
	"piestrip": {name: "piestrip", args: []string{"-buildmode=pie", "-ldflags=-s -w"}, strip: true},
	"noopt":    {name: "noopt", args: []string{"-gcflags=all=-N -l"}},
	"cgo":      {name: "cgo", cgo: true},
	"cgostrip": {name: "cgostrip", cgo: true, args: []string{"-ldflags=-s -w"}, strip: true},
}

// crossArches are built but not run; they cover 32-bit pointers (386),
// big-endian data (s390x) and pc quanta of 4 (arm64) and 2 (s390x).
var crossArches = []string{"arm64", "386", "s390x", "riscv64"}

func init() {
	for _, a := range crossArches {
		variants[a] = variant{name: a, goarch: a}
		variants[a+"strip"] = variant{name: a + "strip", goarch: a, args: []string{"-ldflags=-s -w"}, strip: true}
	}
}

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// build compiles the test program in the given variant once per test run.
func build(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	v := variants[name]
	if buildDir == "" {
		d, err := os.MkdirTemp("", "pclntab-test")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	// Variants that are compared with each other share a source directory,
	// so their file names agree.
	src := filepath.Join(buildDir, "src")
	if v.cgo {
		src += "-cgo"
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := testProg
	if v.cgo {
		prog = strings.Replace(prog, "import (", cgoExtra+"\nimport (", 1)
		prog += "\nfunc init() { _ = C.twice(2) }\n"
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module testprog\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(buildDir, name)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, v.args...), ".")...)
	cmd.Dir = src
	cgo := "CGO_ENABLED=0"
	if v.cgo {
		cgo = "CGO_ENABLED=1"
	}
	cmd.Env = append(os.Environ(), cgo, "GOWORK=off", "GOFLAGS=")
	if v.goarch != "" {
		cmd.Env = append(cmd.Env, "GOARCH="+v.goarch)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out
}

func open(t testing.TB, path string) (*elf.File, *Table) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tab, err := Open(f)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return f, tab
}

// samplePCs returns a few pcs in [entry, end): the entry, some interior
// points, and the last byte.
func samplePCs(entry, end uint64) []uint64 {
	pcs := []uint64{entry}
	n := end - entry
	for _, d := range []uint64{n / 4, n / 2, 3 * n / 4, n - 1} {
		if d > 0 && d < n {
			pcs = append(pcs, entry+d)
		}
	}
	return pcs
}

func TestGosymOracle(t *testing.T) {
	for _, name := range []string{"default", "noopt", "cgo"} {
		t.Run(name, func(t *testing.T) {
			f, tab := open(t, build(t, name))
			if got := tab.GoVersion(); got != "1.20" {
				t.Errorf("GoVersion = %q, want 1.20", got)
			}
			gosymMatches(t, f, tab, 1)
		})
	}
}

// gosymMatches checks an unstripped binary's table against debug/gosym: the
// text start (runtime.text), every function's range and name, and the
// file:line of a few pcs in every step-th function.
func gosymMatches(t *testing.T, f *elf.File, tab *Table, step int) {
	t.Helper()
	text := f.Section(".text").Addr
	if rt := (&fileSource{f: f}).SymbolValue("runtime.text"); rt != 0 {
		text = rt
	}
	if tab.TextStart() != text {
		t.Errorf("TextStart = %#x, want runtime.text %#x", tab.TextStart(), text)
	}
	gt, err := gosym.NewTable(nil, gosym.NewLineTable(tab.data, text))
	if err != nil {
		t.Fatal(err)
	}
	if len(gt.Funcs) != len(tab.Funcs()) || len(gt.Funcs) < 1000 {
		t.Fatalf("%d funcs, gosym has %d", len(tab.Funcs()), len(gt.Funcs))
	}
	lines := 0
	for i, gf := range gt.Funcs {
		fn, ok := tab.Lookup(gf.Entry)
		if !ok || fn.Name != gf.Name || fn.Entry != gf.Entry || fn.End != gf.End {
			t.Fatalf("Lookup(%#x) = %+v, %v; gosym: %s [%#x,%#x)", gf.Entry, fn, ok, gf.Name, gf.Entry, gf.End)
		}
		if bn, ok := tab.ByName(gf.Name); !ok || bn.Name != gf.Name {
			t.Errorf("ByName(%q) = %v, %v", gf.Name, bn, ok)
		}
		if i%step != 0 {
			continue
		}
		for _, pc := range samplePCs(gf.Entry, gf.End) {
			if fn2, ok := tab.Lookup(pc); !ok || fn2 != fn {
				t.Fatalf("Lookup(%#x) inside %s = %v", pc, gf.Name, fn2)
			}
			wfile, wline, _ := gt.PCToLine(pc)
			file, line, ok := tab.Line(fn, pc)
			if wfile == "" {
				if ok {
					t.Errorf("%s+%#x: Line = %s:%d, gosym has none", gf.Name, pc-gf.Entry, file, line)
				}
				continue
			}
			if file != wfile || line != wline {
				t.Errorf("%s+%#x: Line = %s:%d, gosym %s:%d", gf.Name, pc-gf.Entry, file, line, wfile, wline)
			}
			lines++
		}
	}
	if lines < 5000/step {
		t.Errorf("only %d lines compared", lines)
	}
	if _, ok := tab.Lookup(gt.Funcs[len(gt.Funcs)-1].End); ok {
		t.Errorf("Lookup past the last function succeeded")
	}
	if _, ok := tab.Lookup(gt.Funcs[0].Entry - 1); ok {
		t.Errorf("Lookup before the first function succeeded")
	}
}

// TestStrippedSame checks a -s -w build answers exactly like the unstripped
// one (the addresses are identical for non-PIE builds).
func TestStrippedSame(t *testing.T) {
	for _, pair := range [][2]string{{"default", "stripped"}, {"cgo", "cgostrip"}, {"pie", "piestrip"}} {
		t.Run(pair[1], func(t *testing.T) {
			_, full := open(t, build(t, pair[0]))
			sf, strip := open(t, build(t, pair[1]))
			strippedSame(t, full, sf, strip)
		})
	}
}

// strippedSame checks that strip, the table of sf, a -s -w build, answers
// exactly like full, the same program's unstripped build at the same
// addresses: functions, inline frames and SP deltas.
func strippedSame(t *testing.T, full *Table, sf *elf.File, strip *Table) {
	t.Helper()
	if syms, _ := sf.Symbols(); len(syms) != 0 {
		t.Fatalf("stripped build has %d symbols", len(syms))
	}
	if strip.TextStart() != full.TextStart() {
		t.Errorf("TextStart = %#x, unstripped %#x", strip.TextStart(), full.TextStart())
	}
	if !full.HasInlineTree() || !strip.HasInlineTree() {
		t.Fatalf("HasInlineTree: unstripped %v stripped %v", full.HasInlineTree(), strip.HasInlineTree())
	}
	if len(strip.Funcs()) != len(full.Funcs()) {
		t.Fatalf("%d funcs, unstripped %d", len(strip.Funcs()), len(full.Funcs()))
	}
	inl := 0
	for _, fn := range full.Funcs() {
		sfn, ok := strip.Lookup(fn.Entry)
		if !ok || sfn.Name != fn.Name || sfn.End != fn.End {
			t.Fatalf("Lookup(%#x) = %v, %v, want %s", fn.Entry, sfn, ok, fn.Name)
		}
		for _, pc := range samplePCs(fn.Entry, fn.End) {
			a, b := fmt.Sprint(full.Frames(pc)), fmt.Sprint(strip.Frames(pc))
			if a != b {
				t.Fatalf("Frames(%#x): stripped %s, unstripped %s", pc, b, a)
			}
			if len(full.Frames(pc)) > 1 {
				inl++
			}
			d1, ok1 := full.SPDelta(fn, pc)
			d2, ok2 := strip.SPDelta(sfn, pc)
			if d1 != d2 || ok1 != ok2 {
				t.Fatalf("SPDelta(%#x) = %d,%v, unstripped %d,%v", pc, d2, ok2, d1, ok1)
			}
		}
	}
	if inl < 100 {
		t.Errorf("only %d sampled pcs are in inlined code", inl)
	}
}

type group struct {
	pc     uint64
	frames []string
}

// runProg runs a built test program and parses its report.
func runProg(t *testing.T, path string) (mainAddr uint64, groups []group) {
	t.Helper()
	out, err := exec.Command(path).Output()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ADDR main.main "):
			mainAddr, err = strconv.ParseUint(strings.TrimPrefix(line, "ADDR main.main 0x"), 16, 64)
		case strings.HasPrefix(line, "PC "):
			var pc uint64
			pc, err = strconv.ParseUint(strings.TrimPrefix(line, "PC 0x"), 16, 64)
			groups = append(groups, group{pc: pc})
		case strings.HasPrefix(line, "F "):
			if len(groups) == 0 {
				t.Fatalf("frame before PC: %q", line)
			}
			g := &groups[len(groups)-1]
			g.frames = append(g.frames, strings.TrimPrefix(line, "F "))
		}
		if err != nil {
			t.Fatalf("parsing %q: %v", line, err)
		}
	}
	if mainAddr == 0 || len(groups) < 4 {
		t.Fatalf("bad output:\n%s", out)
	}
	return mainAddr, groups
}

// TestFramesMatchRuntime compares Frames with runtime.CallersFrames inside
// the running program, for each build flavour.
func TestFramesMatchRuntime(t *testing.T) {
	for _, name := range []string{"default", "stripped", "pie", "piestrip", "noopt", "cgo", "cgostrip"} {
		t.Run(name, func(t *testing.T) {
			path := build(t, name)
			_, tab := open(t, path)
			pie := name == "pie" || name == "piestrip"
			inlined := framesMatchRuntime(t, path, tab, pie)
			if name == "noopt" {
				if inlined != 0 {
					t.Errorf("%d inlined frames with -N -l", inlined)
				}
			} else if inlined < 2 {
				t.Errorf("only %d groups with inlined frames; the test program should have 2", inlined)
			}
		})
	}
}

// framesMatchRuntime runs the test program at path and checks that Frames
// and Inline expand each pc it reports exactly as its own
// runtime.CallersFrames did. It returns how many pcs were in inlined code.
func framesMatchRuntime(t *testing.T, path string, tab *Table, pie bool) (inlined int) {
	t.Helper()
	mainAddr, groups := runProg(t, path)
	mm, ok := tab.ByName("main.main")
	if !ok {
		t.Fatal("no main.main")
	}
	bias := mainAddr - mm.Entry
	if !pie && bias != 0 {
		t.Errorf("load bias %#x in a non-PIE build", bias)
	}
	for _, g := range groups {
		// g.pc is already the return address minus one (Frame.PC).
		locs := tab.Frames(g.pc - bias)
		var got []string
		for _, l := range locs {
			got = append(got, fmt.Sprintf("%s\t%s\t%d", l.Function, l.File, l.Line))
		}
		if strings.Join(got, "\n") != strings.Join(g.frames, "\n") {
			t.Errorf("Frames(%#x):\n%s\nruntime:\n%s", g.pc-bias, strings.Join(got, "\n"), strings.Join(g.frames, "\n"))
		}
		fn, _ := tab.Lookup(g.pc - bias)
		calls := tab.Inline(fn, g.pc-bias)
		if len(calls) != len(locs)-1 {
			t.Errorf("Inline(%#x) = %v, Frames %v", g.pc-bias, calls, locs)
		}
		for i, c := range calls {
			if c.Name != locs[i].Function || c.File != locs[i].File || c.Line != locs[i].Line {
				t.Errorf("Inline(%#x)[%d] = %+v, Frames %+v", g.pc-bias, i, c, locs[i])
			}
		}
		if len(locs) > 1 {
			inlined++
			for i, l := range locs {
				if l.Inline != (i < len(locs)-1) {
					t.Errorf("Frames(%#x)[%d].Inline = %v", g.pc-bias, i, l.Inline)
				}
			}
		}
	}
	return inlined
}

// TestPIERelocatedModuledata covers linkers that leave the pointer slots of
// a PIE's moduledata zero and rely on R_*_RELATIVE relocations: the go1.26
// linker stores the values in place too, so zero them in a copy of a
// stripped PIE and check Open still finds the text start and go:func data.
func TestPIERelocatedModuledata(t *testing.T) {
	path := build(t, "piestrip")
	_, want := open(t, path)
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	relocs := relativeRelocs(f, &fileSource{f: f}, f.ByteOrder, 8)
	zeroed := 0
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_WRITE == 0 {
			continue
		}
		for addr := range relocs {
			if addr >= s.Addr && addr+8 <= s.Addr+s.Size {
				copy(buf[s.Offset+addr-s.Addr:][:8], make([]byte, 8))
				zeroed++
			}
		}
	}
	if zeroed < 100 {
		t.Fatalf("only %d relocated slots", zeroed)
	}
	f, err = elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Open(f)
	if err != nil {
		t.Fatal(err)
	}
	if tab.TextStart() != want.TextStart() || !tab.HasInlineTree() {
		t.Errorf("TextStart %#x (want %#x), HasInlineTree %v", tab.TextStart(), want.TextStart(), tab.HasInlineTree())
	}
	fn, _ := want.ByName("main.outer")
	for pc := fn.Entry; pc < fn.End; pc++ {
		if a, b := fmt.Sprint(tab.Frames(pc)), fmt.Sprint(want.Frames(pc)); a != b {
			t.Fatalf("Frames(%#x) = %s, want %s", pc, a, b)
		}
	}
}

// TestToolchainBinaries reads Go binaries this test did not build: the Go
// distribution's own (every toolchain's gofmt), and, where installed, stripped binaries built by
// older Go releases (go1.22-go1.25), whose moduledata must be found by
// scanning. gosym is the oracle for names and lines; inline trees must
// decode to plausible names and positions.
func TestToolchainBinaries(t *testing.T) {
	paths := []string{
		filepath.Join(runtime.GOROOT(), "bin/go"),
		filepath.Join(runtime.GOROOT(), "bin/gofmt"),
		"/usr/local/bin/terraform",                    // go1.23, stripped
		"/usr/lib/google-cloud-sdk/bin/kubectl.1.27",  // go1.22, stripped
		"/usr/lib/google-cloud-sdk/bin/gcloud-crc32c", // go1.24, stripped
		"/usr/lib/google-cloud-sdk/bin/local-extract", // go1.25, stripped
	}
	format := map[string]string{} // pclntab generation, where it is not 1.20
	// Each toolchain's own gofmt, as its distribution built it (Debian's
	// go1.19 is itself a go1.19 program).
	for _, tc := range testprog.Toolchains(t) {
		p := filepath.Join(filepath.Dir(tc.Go), "gofmt")
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
		if tc.Minor() < 20 {
			format[p] = "1.18"
		}
	}
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		t.Run(strings.TrimPrefix(strings.ReplaceAll(path, "/", "_"), "_"), func(t *testing.T) {
			_, tab := open(t, path)
			want := cmp.Or(format[path], "1.20")
			if !tab.HasInlineTree() || tab.GoVersion() != want {
				t.Errorf("HasInlineTree %v, GoVersion %s (want %s)", tab.HasInlineTree(), tab.GoVersion(), want)
			}
			gt, err := gosym.NewTable(nil, gosym.NewLineTable(tab.data, tab.TextStart()))
			if err != nil {
				t.Fatal(err)
			}
			if len(gt.Funcs) != tab.NumFuncs() {
				t.Fatalf("%d funcs, gosym %d", tab.NumFuncs(), len(gt.Funcs))
			}
			compared, inlined := 0, 0
			for i := 0; i < len(gt.Funcs); i += 7 {
				gf := gt.Funcs[i]
				compared++
				for _, pc := range samplePCs(gf.Entry, gf.End) {
					fn, ok := tab.Lookup(pc)
					if !ok || fn.Name != gf.Name {
						t.Fatalf("Lookup(%#x) = %v, want %s", pc, fn, gf.Name)
					}
					wfile, wline, _ := gt.PCToLine(pc)
					file, line, ok := tab.Line(fn, pc)
					if wfile == "" {
						wline = 0 // gosym: -1 for padding after the code
					}
					if ok != (wfile != "") || file != wfile || line != wline {
						t.Errorf("%s+%#x: %s:%d, gosym %s:%d", gf.Name, pc-gf.Entry, file, line, wfile, wline)
					}
					for _, c := range tab.Inline(fn, pc) {
						inlined++
						if !strings.Contains(c.Name, ".") || c.File == "" || c.Line <= 0 {
							t.Fatalf("%s+%#x: implausible inlined call %+v", gf.Name, pc-gf.Entry, c)
						}
					}
				}
			}
			if compared < 200 || inlined < 100 {
				t.Errorf("only %d functions compared, %d inlined calls seen", compared, inlined)
			}
		})
	}
}

// TestCrossArch reads binaries for other architectures: gosym is the
// oracle for names and lines, and the stripped build must answer like the
// unstripped one, inline frames included.
func TestCrossArch(t *testing.T) {
	for _, goarch := range crossArches {
		t.Run(goarch, func(t *testing.T) {
			f, full := open(t, build(t, goarch))
			_, strip := open(t, build(t, goarch+"strip"))
			if rt := (&fileSource{f: f}).SymbolValue("runtime.text"); full.TextStart() != rt || strip.TextStart() != rt {
				t.Errorf("TextStart %#x, stripped %#x, want runtime.text %#x", full.TextStart(), strip.TextStart(), rt)
			}
			if !full.HasInlineTree() || !strip.HasInlineTree() {
				t.Fatalf("HasInlineTree: %v, stripped %v", full.HasInlineTree(), strip.HasInlineTree())
			}
			data, _ := f.Section(".gopclntab").Data()
			gt, err := gosym.NewTable(nil, gosym.NewLineTable(data, full.TextStart()))
			if err != nil {
				t.Fatal(err)
			}
			if len(gt.Funcs) != full.NumFuncs() || len(gt.Funcs) != strip.NumFuncs() {
				t.Fatalf("%d/%d funcs, gosym %d", full.NumFuncs(), strip.NumFuncs(), len(gt.Funcs))
			}
			for _, gf := range gt.Funcs {
				for _, pc := range samplePCs(gf.Entry, gf.End) {
					fn, ok := full.Lookup(pc)
					if !ok || fn.Name != gf.Name {
						t.Fatalf("Lookup(%#x) = %v, want %s", pc, fn, gf.Name)
					}
					wfile, wline, _ := gt.PCToLine(pc)
					file, line, ok := full.Line(fn, pc)
					if fn.pcfile == 0 || fn.pcln == 0 {
						// No table (go:textfipsstart on arm64, s390x): the
						// runtime reports no position; gosym decodes
						// whatever starts the pctab.
						if ok {
							t.Errorf("%s+%#x: %s:%d without a table", gf.Name, pc-gf.Entry, file, line)
						}
						continue
					}
					if wfile == "" {
						wline = 0
					}
					if ok != (wfile != "") || file != wfile || line != wline {
						t.Errorf("%s+%#x: %s:%d, gosym %s:%d", gf.Name, pc-gf.Entry, file, line, wfile, wline)
					}
					if a, b := fmt.Sprint(full.Frames(pc)), fmt.Sprint(strip.Frames(pc)); a != b {
						t.Fatalf("Frames(%#x): %s, stripped %s", pc, a, b)
					}
				}
			}
			fn, _ := strip.ByName("main.outer")
			deepest := 0
			for pc := fn.Entry; pc < fn.End; pc++ {
				deepest = max(deepest, len(strip.Inline(fn, pc)))
			}
			if deepest != 3 { // inner <- middle <- (*T).method
				t.Errorf("main.outer: deepest inlining %d, want 3", deepest)
			}
		})
	}
}

func TestSPDeltaAndFlags(t *testing.T) {
	_, tab := open(t, build(t, "stripped"))
	fn, ok := tab.ByName("main.frame64")
	if !ok {
		t.Fatal("no main.frame64")
	}
	if d, ok := tab.SPDelta(fn, fn.Entry); !ok || d != 0 {
		t.Errorf("SPDelta at entry = %d, %v; want 0", d, ok)
	}
	// Somewhere in the body the frame holds the 64-byte array. The table
	// covers the code but not the alignment padding after it.
	max := int64(0)
	covered := true
	for pc := fn.Entry; pc < fn.End; pc++ {
		d, ok := tab.SPDelta(fn, pc)
		if !ok && covered && fn.End-pc < 32 {
			covered = false
		}
		if ok != covered || ok && (d < 0 || d%int64(tab.PtrSize()) != 0) {
			t.Fatalf("SPDelta(entry+%#x) = %d, %v", pc-fn.Entry, d, ok)
		}
		if d > max {
			max = d
		}
	}
	if max < 64 {
		t.Errorf("largest SPDelta in frame64 = %d, want >= 64", max)
	}
	if _, ok := tab.SPDelta(fn, fn.End); ok {
		t.Errorf("SPDelta past End succeeded")
	}
	if fn.TopFrame() || fn.SPWrite() {
		t.Errorf("main.frame64: TopFrame %v SPWrite %v", fn.TopFrame(), fn.SPWrite())
	}
	// The compiler's TEXT lines say main.frame64 $88-8, main.use $8-16:
	// under ABIInternal the args size counts the register arguments' spill
	// slots, not the results.
	if fn.Args() != 8 {
		t.Errorf("main.frame64 Args = %d, want 8", fn.Args())
	}
	if u, ok := tab.ByName("main.use"); !ok || u.Args() != 16 {
		t.Errorf("main.use Args = %v, want 16", u)
	}
	for _, name := range []string{"runtime.goexit", "runtime.mstart", "runtime.rt0_go"} {
		if f, ok := tab.ByName(name); !ok || !f.TopFrame() {
			t.Errorf("%s: TopFrame false (%v)", name, ok)
		}
	}
	for _, name := range []string{"runtime.systemstack", "runtime.mcall"} {
		if f, ok := tab.ByName(name); !ok || !f.SPWrite() {
			t.Errorf("%s: SPWrite false (%v)", name, ok)
		}
	}
	if f, ok := tab.ByName("runtime.main"); !ok || f.TopFrame() || f.SPWrite() {
		t.Errorf("runtime.main: %v TopFrame/SPWrite set", ok)
	}
}

// TestConcurrent uses one Table from several goroutines (run with -race):
// the lazily filled caches must be safe.
func TestConcurrent(t *testing.T) {
	_, tab := open(t, build(t, "default"))
	f, _ := elf.Open(build(t, "default"))
	defer f.Close()
	text := f.Section(".text")
	var wg sync.WaitGroup
	results := make([]string, 4)
	for g := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sb strings.Builder
			for pc := text.Addr; pc < text.Addr+text.Size; pc += 97 {
				fmt.Fprint(&sb, tab.Frames(pc))
				if fn, ok := tab.Lookup(pc); ok {
					d, _ := tab.SPDelta(fn, pc)
					fmt.Fprint(&sb, d)
				}
			}
			if _, ok := tab.ByName("main.main"); !ok {
				sb.WriteString("no main.main")
			}
			results[g] = sb.String()
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatal("goroutines disagree")
		}
	}
	if len(results[0]) < 10000 {
		t.Fatalf("only %d bytes of results", len(results[0]))
	}
}

func TestNotGo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.c")
	os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644)
	bin := filepath.Join(dir, "hello")
	if b, err := exec.Command("gcc", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Open(f); !errors.Is(err, ErrNotGo) {
		t.Errorf("Open(C program) = %v, want ErrNotGo", err)
	}
}

func TestParseErrors(t *testing.T) {
	f, _ := open(t, build(t, "default"))
	data, _ := f.Section(".gopclntab").Data()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short", data[:10]},
		{"magic", append([]byte{1, 2, 3, 4}, data[4:]...)},
		{"truncated", data[:200]},
	} {
		_, err := Parse(tc.data, 0x401000, 8, f.ByteOrder)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: Parse error %v, want a FormatError", tc.name, err)
		}
	}
	if _, err := Parse(data, 0x401000, 4, f.ByteOrder); err == nil {
		t.Errorf("Parse with the wrong pointer size succeeded")
	}
}

func FuzzParse(f *testing.F) {
	// The seeds come from Go binaries already on this system rather than
	// ones built here, so that fuzz workers start quickly: the running Go's
	// gofmt, and that of each toolchain with an older table format (go1.19's
	// 1.18 format).
	seedFuzz(f, filepath.Join(runtime.GOROOT(), "bin", "gofmt"))
	for _, tc := range testprog.Toolchains(f) {
		if tc.Minor() < 20 {
			seedFuzz(f, filepath.Join(filepath.Dir(tc.Go), "gofmt"))
		}
	}
	f.Fuzz(func(t *testing.T, data, gofunc []byte) {
		tab, err := Parse(data, 0x401000, 8, binary.LittleEndian)
		if err != nil {
			return
		}
		tab.SetGoFunc(gofunc)
		n := 0
		for _, fn := range tab.Funcs() {
			for _, pc := range samplePCs(fn.Entry, fn.End) {
				if g, ok := tab.Lookup(pc); !ok || g.Entry > pc {
					continue
				}
				tab.SPDelta(fn, pc)
				tab.Line(fn, pc)
				tab.Inline(fn, pc)
				tab.Frames(pc)
			}
			tab.InlinedCopies(fn)
			if n++; n > 200 {
				break
			}
		}
		tab.ByName("main.main")
		tab.Lookup(0x1000)
	})
}

// seedFuzz adds seeds from the Go binary at path: a few real functions
// around the first one with nested inlining, re-serialized into a small
// table so mutations stay fast (the mini table must answer exactly like the
// real one), and the table's first bytes.
func seedFuzz(f *testing.F, path string) {
	ef, err := elf.Open(path)
	if err != nil {
		f.Skip(err)
	}
	tab, err := Open(ef)
	if err != nil {
		f.Fatal(err)
	}
	ef.Close()
	if !tab.HasInlineTree() {
		f.Fatalf("%s: no inline tree", path)
	}
	var deep *Func
	idx := 0
	for i, fn := range tab.Funcs() {
		for pc := fn.Entry; pc < fn.End && deep == nil; pc++ {
			if len(tab.Inline(fn, pc)) >= 3 {
				deep, idx = fn, i
			}
		}
		if deep != nil {
			break
		}
	}
	if deep == nil {
		f.Fatalf("%s: no function with nested inlining", path)
	}
	lo, hi := max(idx-3, 0), min(idx+4, tab.nfunc)
	mini, gofunc := miniTable(f, tab, lo, hi)
	mt, err := Parse(mini, tab.textStart, 8, binary.LittleEndian)
	if err != nil {
		f.Fatalf("%s: mini table: %v", path, err)
	}
	mt.SetGoFunc(gofunc)
	if len(mt.Funcs()) != hi-lo || mt.GoVersion() != tab.GoVersion() {
		f.Fatalf("%s: mini table has %d funcs, format %s; want %d, %s", path, len(mt.Funcs()), mt.GoVersion(), hi-lo, tab.GoVersion())
	}
	inl := 0
	for _, fn := range mt.Funcs() {
		for pc := fn.Entry; pc < fn.End; pc++ {
			a, b := fmt.Sprint(mt.Frames(pc)), fmt.Sprint(tab.Frames(pc))
			d1, _ := mt.SPDelta(fn, pc)
			rf, _ := tab.Lookup(pc)
			d2, _ := tab.SPDelta(rf, pc)
			if a != b || d1 != d2 {
				f.Fatalf("%s: mini table at %#x: %s sp %d; real %s sp %d", path, pc, a, d1, b, d2)
			}
			if len(mt.Inline(fn, pc)) >= 3 {
				inl++
			}
		}
	}
	if inl == 0 {
		f.Fatalf("%s: mini table: lost the inlined calls", path)
	}
	f.Add(mini, gofunc)
	f.Add(tab.data[:512], gofunc)
}

func BenchmarkLookup(b *testing.B) {
	path := filepath.Join(runtime.GOROOT(), "bin", "go")
	f, err := elf.Open(path)
	if err != nil {
		b.Skip(err)
	}
	defer f.Close()
	tab, err := Open(f)
	if err != nil {
		b.Fatal(err)
	}
	funcs := tab.Funcs()
	pcs := make([]uint64, 0, 4096)
	for i := 0; len(pcs) < cap(pcs) && i < 10*len(funcs); i++ {
		fn := funcs[(i*7919)%len(funcs)]
		pc := fn.Entry + (fn.End-fn.Entry)/2
		if _, _, ok := tab.Line(fn, pc); ok { // some wrappers have no lines
			pcs = append(pcs, pc)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc := pcs[i%len(pcs)]
		fn, ok := tab.Lookup(pc)
		if !ok {
			b.Fatalf("Lookup(%#x) failed", pc)
		}
		if _, _, ok := tab.Line(fn, pc); !ok {
			b.Fatalf("Line(%#x) failed", pc)
		}
	}
}

// TestByNameDecodesOne: ByName compares names in place instead of decoding
// every function of the table (hundreds of thousands in a large binary)
// to find one; after Funcs it uses the map Funcs built.
func TestByNameDecodesOne(t *testing.T) {
	_, tab := open(t, build(t, "default"))
	var f *Func
	var ok bool
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f, ok = tab.ByName("runtime.main")
	runtime.ReadMemStats(&b)
	if !ok || f.Name != "runtime.main" {
		t.Fatalf("ByName(runtime.main) = %v, %v", f, ok)
	}
	if n := b.TotalAlloc - a.TotalAlloc; n > 4096 {
		t.Errorf("ByName allocated %d bytes for a table of %d functions: it decoded more than one", n, tab.NumFuncs())
	}
	if _, ok := tab.ByName("runtime.no_such_function"); ok {
		t.Error("ByName found a function that does not exist")
	}
	all := tab.Funcs()
	for _, want := range []*Func{all[0], all[len(all)/2], all[len(all)-1], f} {
		if got, ok := tab.ByName(want.Name); !ok || got.Entry > want.Entry {
			t.Errorf("after Funcs, ByName(%s) = %v %v, want entry at most %#x", want.Name, got, ok, want.Entry)
		}
	}
}
