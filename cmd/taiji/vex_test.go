package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// gnuRets returns the addresses of the RET instructions GNU objdump finds
// in [lo, hi) of bin, and whether one follows a vzeroupper. GNU objdump
// decodes VEX and EVEX; `go tool objdump` misreads some of it (it lists
// IRETD and "RET $0x3141" inside sha256.blockAVX2), so it is not the oracle.
func gnuRets(t *testing.T, bin string, lo, hi uint64) (rets []string, afterVZ bool) {
	t.Helper()
	out, err := exec.Command("objdump", "-d", "--no-show-raw-insn",
		fmt.Sprintf("--start-address=%#x", lo), fmt.Sprintf("--stop-address=%#x", hi), bin).Output()
	if err != nil {
		t.Fatalf("objdump %s: %v", bin, err)
	}
	prev := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		addr, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":\t")
		if !ok || rest == "" {
			continue
		}
		if _, err := strconv.ParseUint(addr, 16, 64); err != nil {
			continue
		}
		mnem := strings.Fields(rest)[0]
		if mnem == "ret" {
			rets = append(rets, "0x"+addr)
			afterVZ = afterVZ || prev == "vzeroupper"
		}
		prev = mnem
	}
	return rets, afterVZ
}

func probesJSON(t *testing.T, bin, fn string) probeFunc {
	t.Helper()
	stdout, stderr, err := runTaiji(t, "probes", "--json", bin, fn)
	if err != nil {
		t.Fatalf("taiji probes %s %s: %v\n%s", bin, fn, err, stderr)
	}
	var pf probeFunc
	if err := json.Unmarshal([]byte(stdout), &pf); err != nil {
		t.Fatalf("%s: %v\n%s", fn, err, stdout)
	}
	return pf
}

// checkRets compares taiji probes' RET sites for fn with GNU objdump's and
// reports whether one of them follows a vzeroupper.
func checkRets(t *testing.T, bin, fn string) bool {
	t.Helper()
	pf := probesJSON(t, bin, fn)
	lo, err := strconv.ParseUint(pf.Addr, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	want, afterVZ := gnuRets(t, bin, lo, lo+pf.Size)
	var got []string
	for _, r := range pf.Returns {
		got = append(got, r.Addr)
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("%s: taiji probes RETs %v, objdump %v", fn, got, want)
	}
	return afterVZ
}

// TestProbesVEX: the RET sites of Go's AVX2 assembly (memclr, memmove,
// cmpbody, the SHA-256 block) are exactly objdump's in the go command of
// every release here; before the fix those after a VZEROUPPER were lost,
// or the function was refused ("unknown AVX Opcode"). And probes '*'
// disassembles every function of the binary.
func TestProbesVEX(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("no GNU objdump")
	}
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			sha := "crypto/sha256.block"
			if tc.Minor() >= 24 {
				sha = "crypto/internal/fips140/sha256.blockAVX2"
			}
			vz := false
			for _, fn := range []string{"runtime.memclrNoHeapPointers", "runtime.memmove", "cmpbody", sha} {
				vz = checkRets(t, tc.Go, fn) || vz
			}
			if !vz {
				t.Errorf("no RET after a vzeroupper in these functions: the test checks nothing")
			}
			if _, stderr, err := runTaiji(t, "probes", tc.Go, "*"); err != nil {
				t.Errorf("taiji probes %s '*': %v\n%s", tc.Go, err, stderr)
			}
		})
	}
}

// TestTraceAVX2C: a C function gcc -O3 -mavx2 vectorises returns through
// "vzeroupper; ret": probes lists objdump's RETs, and a trace sees as many
// returns as calls.
func TestTraceAVX2C(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sum")
	gcc(t, "-O3", "-mavx2", "-g", "-o", bin, "testdata/avx2/sum.c")
	if !checkRets(t, bin, "sum") {
		t.Fatalf("gcc did not end sum with vzeroupper; ret: the test checks nothing")
	}
	needRoot(t)
	const calls = 30
	stdout, stderr, err := runTaiji(t, "trace", "--json", "sum", "--", bin, strconv.Itoa(calls))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	n := map[any]int{}
	for _, ev := range jsonLines(t, stdout) {
		n[ev["event"]]++
	}
	if n["call"] != calls || n["return"] != calls {
		t.Fatalf("%d calls, %d returns; want %d of each\n%s", n["call"], n["return"], calls, stdout)
	}
}

// TestProbesUndecodable: a function whose code taiji cannot decode is
// refused with one line when named, and left out of a glob with one line
// on stderr while the others matched are still probed.
func TestProbesUndecodable(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "undecodable")
	gcc(t, "-O2", "-o", bin, "testdata/avx2/undecodable.c")
	_, stderr, err := runTaiji(t, "probes", bin, "f_bad")
	if err == nil || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "f_bad: disasm: cannot decode instruction at") {
		t.Errorf("probes f_bad: %v, stderr %q; want one line saying it cannot be decoded", err, stderr)
	}
	stdout, stderr, err := runTaiji(t, "probes", bin, "f_*")
	if err != nil || !strings.Contains(stdout, "f_good") || strings.Contains(stdout, "f_bad") ||
		strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "left out") || !strings.Contains(stderr, "f_bad") {
		t.Errorf("probes 'f_*': %v\nstdout %s\nstderr %q; want f_good probed and one line about f_bad", err, stdout, stderr)
	}
}

// TestTraceGoAVX2: Go's SHA-512 AVX2 block function, traced: every one of
// its returns is seen, 2 per sha512.Sum512 of 4096 bytes (the whole blocks,
// then the padding block). Before the fix taiji refused the function (no
// RET decoded). Returns are counted as paired or unmatched: this assembly
// uses R14, the g register, as scratch, so at its RET the pairing key
// (g, stack.hi - SP) is not the entry's (a trace/bpf matter, not disasm's).
func TestTraceGoAVX2(t *testing.T) {
	needRoot(t)
	const fn = "crypto/internal/fips140/sha512.blockAVX2"
	bin := filepath.Join(t.TempDir(), "sha")
	if out, err := exec.Command("go", "build", "-o", bin, "testdata/avx2/sha/main.go").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	checkRets(t, bin, fn) // its RET comes after vzeroupper; add; pop
	const sums = 20
	stdout, stderr, err := runTaiji(t, "trace", "--json", "--quiet", "--stats", fn, "--", bin, strconv.Itoa(sums))
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, ev := range jsonLines(t, stdout) {
		if ev["event"] != "summary" {
			continue
		}
		fs, _ := ev["functions"].([]any)
		if len(fs) != 1 {
			t.Fatalf("summary of %d functions, want 1:\n%s", len(fs), stdout)
		}
		st, _ := fs[0].(map[string]any)
		ret, _ := st["returns"].(json.Number).Int64()
		unm, _ := st["unmatched"].(json.Number).Int64()
		if r := ret + unm; r != 2*sums {
			t.Fatalf("%v returns seen, want %d (does this CPU lack AVX2?)\n%s", r, 2*sums, stdout)
		}
		return
	}
	t.Fatalf("no summary:\n%s", stdout)
}
