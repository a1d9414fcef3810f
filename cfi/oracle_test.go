package cfi

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// Oracle tests: every row of every FDE that `readelf --debug-dump=frames-interp`
// prints must match the Row that Lookup returns at that row's address.

const (
	libcPath = "/usr/lib/x86_64-linux-gnu/libc.so.6"
	ldPath   = "/lib64/ld-linux-x86-64.so.2"
)

func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test installs it)", tool)
		}
	}
}

// buildC compiles testdata/prog.c with the given gcc flags.
func buildC(t testing.TB, flags ...string) string {
	t.Helper()
	need(t, "gcc")
	out := filepath.Join(t.TempDir(), "prog")
	args := append(append([]string{}, flags...), "-o", out, "testdata/prog.c")
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

type elfSections struct {
	eh, hdr, debug       []byte
	ehAddr, hdrAddr      uint64
	hasEH, hasHdr, hasDF bool
	arch                 *arch.Arch
}

func loadSections(t testing.TB, path string) elfSections {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s elfSections
	if s.arch, err = arch.ForELF(f); err != nil {
		t.Fatal(err)
	}
	if sec := f.Section(".eh_frame"); sec != nil && sec.Type != elf.SHT_NOBITS {
		s.eh, s.ehAddr, s.hasEH = mustData(t, sec), sec.Addr, true
	}
	if sec := f.Section(".eh_frame_hdr"); sec != nil && sec.Type != elf.SHT_NOBITS {
		s.hdr, s.hdrAddr, s.hasHdr = mustData(t, sec), sec.Addr, true
	}
	if sec := f.Section(".debug_frame"); sec != nil && sec.Type != elf.SHT_NOBITS {
		s.debug, s.hasDF = mustData(t, sec), true
	}
	return s
}

func mustData(t testing.TB, sec *elf.Section) []byte {
	b, err := sec.Data()
	if err != nil {
		t.Fatalf("%s: %v", sec.Name, err)
	}
	return b
}

type oracleRow struct {
	loc  uint64
	cfa  string
	cols []string
}

type oracleFDE struct {
	sec        string
	off        uint64
	start, end uint64
	ra         int
	names      []string
	rows       []oracleRow
}

var (
	reSection = regexp.MustCompile(`^Contents of the (\S+) section`)
	reCIE     = regexp.MustCompile(`^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ CIE .* ra=(\d+)`)
	reFDE     = regexp.MustCompile(`^([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)`)
	reRegRule = regexp.MustCompile(`r(\d+) \(\S+\)`)
	reRow     = regexp.MustCompile(`^[0-9a-f]{8,16} `)
)

// readelfFrames runs readelf and parses the interpreted frame tables.
func readelfFrames(t testing.TB, path string) []oracleFDE {
	t.Helper()
	need(t, "readelf")
	out, err := exec.Command("readelf", "-W", "-wN", "--debug-dump=frames-interp", path).Output()
	if err != nil {
		t.Fatalf("readelf %s: %v", path, err)
	}
	var (
		fdes  []oracleFDE
		cur   *oracleFDE
		sec   string
		cieRA = map[string]int{} // per section+offset
		inCIE bool
	)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := reSection.FindStringSubmatch(line); m != nil {
			sec = m[1]
			cur = nil
			continue
		}
		if m := reCIE.FindStringSubmatch(line); m != nil {
			ra, _ := strconv.Atoi(m[2])
			cieRA[sec+m[1]] = ra
			cur, inCIE = nil, true
			continue
		}
		if m := reFDE.FindStringSubmatch(line); m != nil {
			ra, ok := cieRA[sec+m[2]]
			if !ok {
				t.Fatalf("readelf: FDE %s names unknown CIE %s", m[1], m[2])
			}
			fdes = append(fdes, oracleFDE{sec: sec, off: hex(t, m[1]), start: hex(t, m[3]), end: hex(t, m[4]), ra: ra})
			cur, inCIE = &fdes[len(fdes)-1], false
			continue
		}
		if strings.Contains(line, "ZERO terminator") {
			cur = nil
			continue
		}
		if inCIE || cur == nil {
			continue
		}
		// Register rules print as "r1 (rdx)": keep the number only.
		line = reRegRule.ReplaceAllString(line, "r$1")
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "LOC" && f[1] == "CFA" {
			cur.names = f[2:]
			continue
		}
		if reRow.MatchString(line) && cur.names != nil {
			if len(f) != 2+len(cur.names) {
				t.Fatalf("readelf row %q does not match header %v", line, cur.names)
			}
			r := oracleRow{loc: hex(t, f[0]), cfa: f[1], cols: f[2:]}
			// Only the last row at an address is in effect there.
			if n := len(cur.rows); n > 0 && cur.rows[n-1].loc == r.loc {
				cur.rows[n-1] = r
			} else {
				cur.rows = append(cur.rows, r)
			}
		}
	}
	return fdes
}

func hex(t testing.TB, s string) uint64 {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatalf("readelf: bad hex %q", s)
	}
	return v
}

// readelfRegNames are binutils' x86-64 DWARF register names (dwarf.c).
var readelfRegNames = func() map[string]int {
	m := map[string]int{}
	for i, n := range []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"} {
		m[n] = i
	}
	for i := 0; i < 16; i++ {
		m[fmt.Sprintf("xmm%d", i)] = 17 + i
	}
	for i := 0; i < 8; i++ {
		m[fmt.Sprintf("st%d", i)] = 33 + i
		m[fmt.Sprintf("mm%d", i)] = 41 + i
	}
	m["rflags"] = 49
	for i, n := range []string{"es", "cs", "ss", "ds", "fs", "gs"} {
		m[n] = 50 + i
	}
	return m
}()

func regNumber(name string, ra int) (int, bool) {
	if name == "ra" {
		return ra, true
	}
	if n, ok := readelfRegNames[name]; ok {
		return n, true
	}
	if strings.HasPrefix(name, "r") {
		if n, err := strconv.Atoi(name[1:]); err == nil {
			return n, true
		}
	}
	return 0, false
}

func regName(n int) string {
	for name, m := range readelfRegNames {
		if m == n {
			return name
		}
	}
	return fmt.Sprintf("r%d", n)
}

// formatCFA and formatRule print rules the way readelf does.
func formatCFA(r Rule) string {
	switch r.Kind {
	case CFARegOffset:
		return fmt.Sprintf("%s%+d", regName(r.Reg), r.Offset)
	case CFAExpression:
		return "exp"
	}
	return "?" + r.Kind.String()
}

func formatRule(r Rule) string {
	switch r.Kind {
	case Undefined:
		return "u"
	case SameValue:
		return "s"
	case Offset:
		return fmt.Sprintf("c%+d", r.Offset)
	case ValOffset:
		return fmt.Sprintf("v%+d", r.Offset)
	case Register:
		return fmt.Sprintf("r%d", r.Reg)
	case Expression:
		return "exp"
	case ValExpression:
		return "vexp"
	}
	return "?"
}

// compareWithReadelf checks every readelf row of section sec against t.
// It returns the number of rows compared.
func compareWithReadelf(t *testing.T, tab *Table, fdes []oracleFDE, sec string) int {
	t.Helper()
	rows, failures := 0, 0
	for _, f := range fdes {
		if f.sec != sec || f.end <= f.start {
			continue
		}
		for _, want := range f.rows {
			if want.loc < f.start || want.loc >= f.end {
				continue
			}
			rows++
			got, err := tab.Lookup(want.loc)
			if err != nil {
				t.Errorf("%s FDE %#x: Lookup(%#x): %v", sec, f.off, want.loc, err)
				failures++
				continue
			}
			var diffs []string
			if got.Start != f.start || got.End != f.end {
				diffs = append(diffs, fmt.Sprintf("range [%#x,%#x), want [%#x,%#x)", got.Start, got.End, f.start, f.end))
			}
			if got.RA != f.ra {
				diffs = append(diffs, fmt.Sprintf("RA %d, want %d", got.RA, f.ra))
			}
			if s := formatCFA(got.CFA); s != want.cfa {
				diffs = append(diffs, fmt.Sprintf("CFA %s, want %s", s, want.cfa))
			}
			shown := map[int]bool{}
			for i, name := range f.names {
				col, ok := regNumber(name, f.ra)
				if !ok {
					t.Fatalf("readelf register name %q unknown to the test", name)
				}
				shown[col] = true
				if col >= arch.MaxRegs {
					continue
				}
				s := "u" // readelf shows "u" for a column that has no rule yet
				for _, rr := range got.Rules {
					if rr.Col == col {
						s = formatRule(rr.Rule)
					}
				}
				if s != want.cols[i] {
					diffs = append(diffs, fmt.Sprintf("%s %s, want %s", name, s, want.cols[i]))
				}
			}
			for _, rr := range got.Rules {
				if !shown[rr.Col] {
					diffs = append(diffs, fmt.Sprintf("rule %v for column %d readelf does not show", rr.Rule, rr.Col))
				}
			}
			if diffs != nil {
				failures++
				t.Errorf("%s FDE %#x [%#x,%#x) at %#x: %s", sec, f.off, f.start, f.end, want.loc, strings.Join(diffs, "; "))
			}
			if failures > 20 {
				t.Fatalf("too many failures")
			}
		}
	}
	return rows
}

func testEHFrameOracle(t *testing.T, path string, minRows int) {
	s := loadSections(t, path)
	if !s.hasEH {
		t.Fatalf("%s has no .eh_frame", path)
	}
	fdes := readelfFrames(t, path)
	withHdr, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, s.arch)
	if err != nil {
		t.Fatalf("ParseEHFrame with hdr: %v", err)
	}
	if s.hasHdr && withHdr.hdr == nil {
		t.Errorf("%s: .eh_frame_hdr present but its table was not used", path)
	}
	noHdr, err := ParseEHFrame(s.eh, s.ehAddr, nil, 0, s.arch)
	if err != nil {
		t.Fatalf("ParseEHFrame without hdr: %v", err)
	}
	for name, tab := range map[string]*Table{"hdr": withHdr, "nohdr": noHdr} {
		t.Run(name, func(t *testing.T) {
			n := compareWithReadelf(t, tab, fdes, ".eh_frame")
			t.Logf("%s: %d rows match readelf", filepath.Base(path), n)
			if n < minRows {
				t.Errorf("compared only %d rows, want >= %d", n, minRows)
			}
		})
	}
	// Addresses between FDEs and outside the module have none.
	if _, err := withHdr.Lookup(0); err != ErrNoFDE {
		t.Errorf("Lookup(0) = %v, want ErrNoFDE", err)
	}
	if _, err := noHdr.Lookup(^uint64(0)); err != ErrNoFDE {
		t.Errorf("Lookup(^0) = %v, want ErrNoFDE", err)
	}
}

func TestOracleLibc(t *testing.T) {
	if _, err := os.Stat(libcPath); err != nil {
		t.Skip(err)
	}
	testEHFrameOracle(t, libcPath, 20000)
}

func TestOracleLdSo(t *testing.T) {
	if _, err := os.Stat(ldPath); err != nil {
		t.Skip(err)
	}
	testEHFrameOracle(t, ldPath, 1000)
}

func TestOracleProgO2(t *testing.T) {
	testEHFrameOracle(t, buildC(t, "-O2"), 20)
}

func TestOracleProgO0NoFP(t *testing.T) {
	testEHFrameOracle(t, buildC(t, "-O0", "-fomit-frame-pointer"), 20)
}

func TestOracleDebugFrame(t *testing.T) {
	path := buildC(t, "-O2", "-g", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
	s := loadSections(t, path)
	if !s.hasDF {
		t.Fatal("gcc -fno-asynchronous-unwind-tables produced no .debug_frame")
	}
	tab, err := ParseDebugFrame(s.debug, s.arch)
	if err != nil {
		t.Fatal(err)
	}
	n := compareWithReadelf(t, tab, readelfFrames(t, path), ".debug_frame")
	t.Logf("%d .debug_frame rows match readelf", n)
	if n < 20 {
		t.Errorf("compared only %d rows", n)
	}
}

// TestConcurrentLookup: a Table is shared by the unwinder's goroutines
// (run with -race).
func TestConcurrentLookup(t *testing.T) {
	if _, err := os.Stat(libcPath); err != nil {
		t.Skip(err)
	}
	s := loadSections(t, libcPath)
	tab, err := ParseEHFrame(s.eh, s.ehAddr, s.hdr, s.hdrAddr, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	var pcs []uint64
	tab.Ranges(func(start, end uint64) bool { pcs = append(pcs, start); return len(pcs) < 2000 })
	done := make(chan error)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for i := g; i < len(pcs); i += 2 {
				if _, err := tab.Lookup(pcs[i]); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(g)
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
