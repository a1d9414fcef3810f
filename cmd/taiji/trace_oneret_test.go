package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/taijidbg/taiji/internal/testprog"
)

// buildOneRet builds the Go and C programs of testdata whose traced
// function is a single RET instruction.
func buildOneRet(t *testing.T) (goBin, cBin string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	goBin = testprog.BuildGoDir(t, testprog.Toolchain{Version: "host", Go: gobin}, "testdata/oneret", false)
	cBin = filepath.Join(t.TempDir(), "oneret")
	gcc(t, "-O2", "-g", "-o", cBin, "testdata/oneret.c")
	return goBin, cBin
}

// oneRetCase is a function whose entry is its only RET.
type oneRetCase struct {
	name, bin, fn string
	arg           string // the argument holding the call's number
	result        string // the result equal to it, "" if none
	gap           string // the program's argument for gap
}

func oneRetCases(t *testing.T) []oneRetCase {
	goBin, cBin := buildOneRet(t)
	return []oneRetCase{
		{"go", goBin, "main.report", "id", "~r0", gap.String()},
		{"c", cBin, "empty", "x", "", fmt.Sprint(gap.Microseconds())},
	}
}

// gap is the sleep between two calls of the one-RET function: a return
// paired with the previous call would show at least this latency.
const gap = time.Millisecond

// A function whose entry is its RET has one probe for its call and its
// return: each call is followed by its own return (same arguments and
// results), every call is counted once with a return, and the latency is
// not the time since the previous call.
func TestTraceOneRet(t *testing.T) {
	needRoot(t)
	const n = 50
	for _, c := range oneRetCases(t) {
		t.Run(c.name, func(t *testing.T) {
			probes, _, err := runTaiji(t, "probes", c.bin, c.fn)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("probes:\n%s", probes)
			stdout, stderr, err := runTaiji(t, "trace", "--json", c.fn, "--", c.bin, fmt.Sprint(n), c.gap)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			var calls, rets int
			var last map[string]any
			for _, ev := range jsonLines(t, stdout) {
				switch ev["event"] {
				case "call":
					if last != nil {
						t.Fatalf("call %d follows call %v without its return:\n%s", calls, last, stdout)
					}
					if got := num(argValue(ev["args"], c.arg)); got != int64(calls) {
						t.Fatalf("call %d: %s = %v:\n%s", calls, c.arg, got, stdout)
					}
					last = ev
					calls++
				case "return":
					if last == nil {
						t.Fatalf("return %d before its call:\n%s", rets, stdout)
					}
					if ev["unmatched"] == true {
						t.Fatalf("return %d unmatched:\n%s", rets, stdout)
					}
					if c.result != "" {
						if got := num(argValue(ev["results"], c.result)); got != int64(rets) {
							t.Fatalf("return %d: %s = %v, not its call's %s:\n%s", rets, c.result, got, c.arg, stdout)
						}
					}
					if d := num(ev["duration_ns"]); time.Duration(d) >= gap {
						t.Fatalf("return %d: latency %v is the gap between calls (>= %v):\n%s", rets, time.Duration(d), gap, stdout)
					}
					last = nil
					rets++
				case "summary":
					checkOneRetSummary(t, ev, n)
				}
			}
			if calls != n || rets != n {
				t.Fatalf("%d calls, %d returns, want %d of each:\n%s", calls, rets, n, stdout)
			}
		})
	}
}

// The same under --stats --quiet, counted and timed in the kernel.
func TestTraceOneRetQuiet(t *testing.T) {
	needRoot(t)
	const n = 200
	for _, c := range oneRetCases(t) {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, err := runTaiji(t, "trace", "--json", "--stats", "--quiet", c.fn, "--", c.bin, fmt.Sprint(n), c.gap)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			seen := false
			for _, ev := range jsonLines(t, stdout) {
				if ev["event"] == "summary" {
					checkOneRetSummary(t, ev, n)
					seen = true
				} else {
					t.Errorf("--quiet printed an event: %v", ev)
				}
			}
			if !seen {
				t.Fatalf("no summary:\n%s", stdout)
			}
		})
	}
}

func checkOneRetSummary(t *testing.T, ev map[string]any, n int) {
	t.Helper()
	fs, _ := ev["functions"].([]any)
	if len(fs) != 1 {
		t.Fatalf("summary: %v", ev)
	}
	f := fs[0].(map[string]any)
	if num(f["calls"]) != int64(n) || num(f["returns"]) != int64(n) || num(f["unmatched"]) != 0 {
		t.Fatalf("summary: calls %v returns %v unmatched %v, want %d, %d, 0", f["calls"], f["returns"], f["unmatched"], n, n)
	}
	if mx := num(f["max_ns"]); time.Duration(mx) >= gap {
		t.Fatalf("summary: max latency %v is the gap between calls (>= %v)", time.Duration(mx), gap)
	}
}

// argValue returns the value of the argument or result named name in a
// JSON event's args or results.
func argValue(list any, name string) any {
	l, _ := list.([]any)
	for _, a := range l {
		if m, _ := a.(map[string]any); m["name"] == name {
			return m["value"]
		}
	}
	b, _ := json.Marshal(list)
	return "missing in " + string(b)
}

// num is a JSON number decoded with UseNumber, -1 if v is not one.
func num(v any) int64 {
	n, ok := v.(json.Number)
	if !ok {
		return -1
	}
	i, err := n.Int64()
	if err != nil {
		return -1
	}
	return i
}
