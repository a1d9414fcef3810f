package disasm

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/hex"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/pclntab"
)

// TestVEXLengths: VEX, EVEX and XOP instructions decode to their exact
// length (as GNU objdump decodes them), so the instruction after them, a
// RET in particular, is found. Before the fix x86asm misread VZEROUPPER
// and the walk went out of step.
func TestVEXLengths(t *testing.T) {
	a, _ := arch.ByName("amd64")
	for _, tc := range []struct {
		hex  string
		lens []int
		ret  bool // the last instruction is a RET
	}{
		{"c5f877c3", []int{3, 1}, true},                  // vzeroupper; ret
		{"c5fc77c3", []int{3, 1}, true},                  // vzeroall; ret
		{"c5fd6f06c3", []int{4, 1}, true},                // vmovdqa (%rsi),%ymm0
		{"c5fe7f442420c3", []int{6, 1}, true},            // vmovdqu %ymm0,0x20(%rsp)
		{"c4e37d38c101c3", []int{6, 1}, true},            // vinserti128 $1 (map 0F3A: imm8)
		{"c5fd70c01bc3", []int{5, 1}, true},              // vpshufd $0x1b (map 0F, 70: imm8)
		{"c5f9c5c003c3", []int{5, 1}, true},              // vpextrw $3 (map 0F, C5: imm8)
		{"c5fd6f0500000000c3", []int{8, 1}, true},        // vmovdqa 0(%rip),%ymm0
		{"c4e27d58042500000000c3", []int{10, 1}, true},   // vpbroadcastd 0x0 (SIB, no base)
		{"c4c17a10843f00010000c3", []int{10, 1}, true},   // vmovss 0x100(%r15,%rdi,1)
		{"c4e2fbf6c1c3", []int{5, 1}, true},              // mulx (BMI2, map 0F38)
		{"67c5fd6f00c3", []int{5, 1}, true},              // vmovdqa (%eax),%ymm0
		{"62f17c4810442401c3", []int{8, 1}, true},        // vmovups 0x40(%rsp),%zmm0 (disp8*N)
		{"62f27d48188c2400010000c3", []int{11, 1}, true}, // vbroadcastss 0x100(%rsp),%zmm1
		{"62f1fd48c2c900c3", []int{7, 1}, true},          // vcmpeqpd (EVEX map 0F, C2: imm8)
		{"8fe878c0c105c3", []int{6, 1}, true},            // vprotb $5 (XOP map 8: imm8)
		{"8fc0c3", []int{2, 1}, true},                    // pop %rax: 8F with map < 8 is not XOP
	} {
		code, _ := hex.DecodeString(tc.hex)
		insts, err := Decode(a, code, 0x1000)
		if err != nil {
			t.Errorf("%s: %v", tc.hex, err)
			continue
		}
		var lens []int
		for _, in := range insts {
			lens = append(lens, in.Len)
		}
		if !slices.Equal(lens, tc.lens) {
			t.Errorf("%s: lengths %v, want %v", tc.hex, lens, tc.lens)
			continue
		}
		if got := insts[len(insts)-1].Kind == Ret; got != tc.ret {
			t.Errorf("%s: last instruction RET %v, want %v", tc.hex, got, tc.ret)
		}
	}
	// Encodings not known are refused, not guessed.
	for _, h := range []string{"c4e7780000", "62f47c0800c0", "c5", "c4e1", "62f1fc", "c5fd6f"} {
		code, _ := hex.DecodeString(h)
		if _, err := Decode(a, code, 0x1000); err == nil {
			t.Errorf("%s: decoded, want an error", h)
		}
	}
}

// TestObjdumpAgrees is the property test: in the go command of every Go
// release here (a large Go binary with AVX2 and AVX-512 assembly: memmove,
// memclr, cmpbody, the SHA-2, SHA-1, ChaCha20-Poly1305 blocks, math/big's
// ADCX/ADOX loops), the instruction starts and RETs taiji computes for each
// function equal GNU objdump's. GNU objdump is the oracle: `go tool
// objdump` decodes with the same x/arch as taiji did and misreads EVEX and
// some VEX code itself (it lists IRETD and "RET $0x3141" inside
// crypto/internal/fips140/sha256.blockAVX2). Functions holding data GNU
// objdump cannot decode either (a "(bad)" line) are left out, and counted.
func TestObjdumpAgrees(t *testing.T) {
	if arch.Host().Name != "amd64" {
		t.Skip("amd64 only")
	}
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("no GNU objdump")
	}
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) { checkObjdump(t, tc.Go) })
	}
}

func checkObjdump(t *testing.T, bin string) {
	a, _ := arch.ByName("amd64")
	f, err := elf.Open(bin)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	tab, err := pclntab.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	data, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	gnu := gnuListing(t, "-d", "-j", ".text", bin)
	checked, skipped := 0, 0
	vex := map[string]int{} // functions with VEX/EVEX code: their RET count
	for _, fn := range tab.Funcs() {
		if fn.Entry < text.Addr || fn.End > text.Addr+uint64(len(data)) || fn.End <= fn.Entry {
			continue
		}
		want := gnu.in(fn.Entry, fn.End)
		if want.bad {
			skipped++
			continue
		}
		code := data[fn.Entry-text.Addr : fn.End-text.Addr]
		insts, err := Decode(a, code, fn.Entry)
		if err != nil {
			t.Errorf("%s: %v", fn.Name, err)
			continue
		}
		checked++
		var starts, rets []uint64
		hasVEX := false
		for _, in := range insts {
			starts = append(starts, in.Addr)
			if in.Kind == Ret {
				rets = append(rets, in.Addr)
			}
			if _, _, ok, _ := vexLen(in.Raw); ok {
				hasVEX = true
			}
		}
		if !slices.Equal(starts, want.starts) {
			t.Errorf("%s: instruction starts differ from GNU objdump's at %#x", fn.Name, firstDiff(starts, want.starts))
		}
		if !slices.Equal(rets, want.rets) {
			t.Errorf("%s: RETs %#x, GNU objdump %#x", fn.Name, rets, want.rets)
		}
		if hasVEX {
			vex[fn.Name] = len(rets)
		}
	}
	t.Logf("%s: %d functions agree with GNU objdump, %d of them with VEX/EVEX code; %d left out (data in code)", bin, checked, len(vex), skipped)
	for _, name := range []string{"runtime.memclrNoHeapPointers", "runtime.memmove", "cmpbody"} {
		if vex[name] == 0 {
			t.Errorf("%s: not checked, or no VEX code or RET in it", name)
		}
	}
}

func firstDiff(a, b []uint64) uint64 {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return a[i]
		}
	}
	if len(b) > len(a) {
		return b[len(a)]
	}
	return 0
}

// listing is GNU objdump's view of .text, in address order.
type listing struct {
	starts []uint64
	ret    map[uint64]bool
	bad    map[uint64]bool
}

type listed struct {
	starts, rets []uint64
	bad          bool
}

// in returns what the listing holds in [lo, hi).
func (l *listing) in(lo, hi uint64) listed {
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] >= lo })
	var out listed
	for ; i < len(l.starts) && l.starts[i] < hi; i++ {
		a := l.starts[i]
		out.starts = append(out.starts, a)
		if l.ret[a] {
			out.rets = append(out.rets, a)
		}
		out.bad = out.bad || l.bad[a]
	}
	return out
}

// gnuListing runs GNU objdump with args (--no-show-raw-insn added) and
// reads its listing.
func gnuListing(t *testing.T, args ...string) *listing {
	out, err := exec.Command("objdump", append([]string{"--no-show-raw-insn"}, args...)...).Output()
	if err != nil {
		t.Fatalf("objdump %s: %v", strings.Join(args, " "), err)
	}
	l := &listing{ret: map[uint64]bool{}, bad: map[uint64]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		// "  401000:\tmov    ..."
		addr, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":\t")
		if !ok || rest == "" {
			continue
		}
		v, err := strconv.ParseUint(addr, 16, 64)
		if err != nil {
			continue
		}
		l.starts = append(l.starts, v)
		mnem := strings.Fields(rest)[0]
		switch {
		case mnem == "ret":
			l.ret[v] = true
		case strings.Contains(rest, "(bad)") || mnem == ".byte":
			l.bad[v] = true
		}
	}
	if !sort.SliceIsSorted(l.starts, func(i, j int) bool { return l.starts[i] < l.starts[j] }) {
		t.Fatal("objdump's listing is not in address order")
	}
	return l
}
