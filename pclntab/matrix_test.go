package pclntab

import (
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestMatrix reads the test program built by every Go release the tests
// cover (testprog.Toolchains) in every binary kind (testprog.GoModes), and
// checks each table against the program's own runtime.CallersFrames, against
// debug/gosym where there are symbols, and the stripped build against the
// unstripped one.
func TestMatrix(t *testing.T) {
	testprog.RunMatrix(t, "prog", []byte(testProg), matrixCell)
}

func matrixCell(t *testing.T, tc testprog.Toolchain, m testprog.GoMode, bins map[string]string) {
	f, tab := open(t, bins[m.Name])
	want := "1.20"
	if tc.Minor() < 20 {
		want = "1.18" // go1.18 and go1.19 share the format (magic 0xfffffff0)
	}
	if got := tab.GoVersion(); got != want {
		t.Errorf("GoVersion = %q, want %q", got, want)
	}
	if !tab.HasInlineTree() {
		t.Fatal("no inline tree")
	}
	switch {
	case !m.Stripped:
		gosymMatches(t, f, tab, 5)
	case !m.PIE && !m.Cgo:
		// The same program as the default build, stripped.
		_, full := open(t, bins["default"])
		strippedSame(t, full, f, tab)
	}
	// (A stripped PIE linked with cgo has no unstripped twin here: the
	// program's own runtime.CallersFrames below is its oracle.)
	if n := framesMatchRuntime(t, bins[m.Name], tab, m.PIE); n < 2 {
		t.Errorf("only %d groups with inlined frames; the test program has 2", n)
	}
	checkStartLine(t, tc, tab)
	checkWrapperID(t, tc, tab)
	checkRuntimeInline(t, tab)
	if tc.Minor() < 20 {
		checkInlineRecords118(t, tab)
	}
}

// checkStartLine: the line of main.main's func keyword, which only go1.20+
// tables record.
func checkStartLine(t *testing.T, tc testprog.Toolchain, tab *Table) {
	t.Helper()
	want := int32(0)
	if tc.Minor() >= 20 {
		for i, l := range strings.Split(testProg, "\n") {
			if strings.HasPrefix(l, "func main() {") {
				want = int32(i + 1)
			}
		}
	}
	if fn, ok := tab.ByName("main.main"); !ok || fn.StartLine != want {
		t.Errorf("main.main StartLine = %v, want %d", fn, want)
	}
}

// checkRuntimeInline: the runtime's own inlining, which every release since
// go1.18 does, expands too: runtime.mPark is inlined into runtime.stopm.
func checkRuntimeInline(t *testing.T, tab *Table) {
	t.Helper()
	fn, ok := tab.ByName("runtime.stopm")
	if !ok {
		t.Fatal("no runtime.stopm")
	}
	for pc := fn.Entry; pc < fn.End; pc++ {
		locs := tab.Frames(pc)
		if len(locs) >= 2 && locs[len(locs)-2].Function == "runtime.mPark" && locs[len(locs)-2].Inline &&
			locs[len(locs)-1].Function == "runtime.stopm" && !locs[len(locs)-1].Inline {
			return
		}
	}
	t.Errorf("no pc of runtime.stopm expands to runtime.mPark [inlined]")
}

// checkInlineRecords118 checks the go1.18-go1.19 inline tree layout against
// itself: its entries repeat what go1.20 dropped, the call site's file and
// line and the parent entry's index, which must agree with the position and
// the inline index at parentPc, the field Frames follows.
func checkInlineRecords118(t *testing.T, tab *Table) {
	t.Helper()
	lay, _ := tab.inlineLayout()
	if lay.size != 20 {
		t.Fatalf("inline entry size %d, want 20", lay.size)
	}
	checked := 0
	for _, fn := range tab.Funcs() {
		treeOff, ok := tab.funcdataOff(fn, funcdataInlTree)
		if !ok {
			continue
		}
		for _, pc := range samplePCs(fn.Entry, fn.End) {
			ix := tab.pcdata(fn, pcdataInlTreeIndex, pc)
			for depth := 0; ix >= 0 && depth < 100; depth++ {
				rec := tab.gofunc[int(treeOff)+int(ix)*lay.size:]
				u32 := func(off int) uint32 { return tab.order.Uint32(rec[off:]) }
				parent := int16(tab.order.Uint16(rec))
				file, _ := tab.fileName(fn, u32(4))
				line := int(int32(u32(8)))
				callPC := fn.Entry + uint64(int32(u32(lay.parentPc)))
				wfile, wline, _ := tab.Line(fn, callPC)
				wparent := tab.pcdata(fn, pcdataInlTreeIndex, callPC)
				if file != wfile || line != wline || int32(parent) != wparent {
					t.Fatalf("%s+%#x: inline entry %d says call at %s:%d, parent %d; parentPc %#x is at %s:%d, index %d",
						fn.Name, pc-fn.Entry, ix, file, line, parent, callPC-fn.Entry, wfile, wline, wparent)
				}
				checked++
				ix = wparent
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d inline entries checked", checked)
	}
}

// wrapperIDs are internal/abi.FuncIDWrapper (funcID_wrapper before go1.21)
// as each release's source numbers it.
var wrapperIDs = map[int]uint8{19: 21, 20: 21, 21: 21, 22: 22, 23: 22, 26: 23, 27: 23}

func checkWrapperID(t *testing.T, tc testprog.Toolchain, tab *Table) {
	t.Helper()
	id, ok := tab.WrapperID()
	if want, known := wrapperIDs[tc.Minor()]; known && (!ok || id != want) {
		t.Errorf("WrapperID = %d, %v; want %d", id, ok, want)
	}
	// The go statement with arguments in the test program gets a wrapper
	// (main.main.func2 before go1.21, then main.main.gowrap1); the method
	// called through an interface value does not.
	wrappers := 0
	for _, fn := range tab.Funcs() {
		if strings.HasPrefix(fn.Name, "main.") && tab.IsWrapper(fn) {
			wrappers++
		}
		if fn.Name == "main.main" && tab.IsWrapper(fn) {
			t.Errorf("main.main is a wrapper")
		}
	}
	if wrappers == 0 {
		t.Errorf("no wrapper among main's functions")
	}
}
