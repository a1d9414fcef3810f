package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// TestTraceMatrix runs taiji trace on the trace target built by every Go
// release the tests cover, in every binary kind, and checks each decoded
// call and return against what the target says it passed and got back.
// Stripped builds have no DWARF: the signature comes from --sig.
func TestTraceMatrix(t *testing.T) {
	needRoot(t)
	testprog.RunMatrix(t, "tracetarget", nil, func(t *testing.T, tc testprog.Toolchain, m testprog.GoMode, bins map[string]string) {
		if m.Stripped {
			sig := []string{"--sig", "main.Mix(a int64, b uint8, ok bool, s string, bs []byte) (int64, string)"}
			skipUnknownGoid(t, bins[m.Name], sig)
			traceAndCompare(t, bins[m.Name], sig, []string{"main.Mix"}, "types", "3")
			return
		}
		traceAndCompare(t, bins[m.Name], nil, []string{"main.Mix", "main.Ints", "main.Move"}, "types", "3")
	})
}

// skipUnknownGoid skips the test while taiji trace refuses a binary
// without DWARF whose release's goroutine id offset it does not know
// (go1.19 today): issue 7 item 1 wants the runtime's offsets from a table
// generated per release, and trace to run without goroutine ids rather than
// refuse. Any other outcome runs the test.
func skipUnknownGoid(t *testing.T, bin string, extra []string) {
	t.Helper()
	args := append(append([]string{"trace", "--json"}, extra...), "main.Mix", "--", bin, "types", "1")
	out, err := exec.Command(taijiBin, args...).CombinedOutput()
	if err != nil && strings.Contains(string(out), "goroutine id offset") {
		t.Skipf("known failing, issue 7 item 1 (goroutine id offset per release): %s", strings.TrimSpace(string(out)))
	}
}
