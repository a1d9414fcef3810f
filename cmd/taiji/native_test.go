package main

// Native unwinding and naming on the kinds of binary real programs are:
// rejected debug files, split DWARF, PLT stubs, code without CFI.

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// notesContaining returns the report's notes (process and thread) holding
// every one of words.
func notesContaining(r jsonReport, words ...string) []string {
	var out []string
	all := append([]string(nil), r.Notes...)
	for _, th := range r.Threads {
		all = append(all, th.Notes...)
	}
	for _, n := range all {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(n, w)
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}

// A separate debug file that does not belong to the binary is rejected,
// and the output says which file and why, once.
func TestStackRejectedDebugFile(t *testing.T) {
	requireRoot(t)
	bin := testprog.BuildC(t, "native")
	t.Run("crc", func(t *testing.T) {
		stripped, debug := testprog.SplitDebug(t, bin, testprog.DebuglinkSameDir)
		// A debug file changed after the link: same name, another CRC.
		f, err := os.OpenFile(debug, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("changed"))
		f.Close()
		p := testprog.Start(t, stripped, "10")
		r := stackJSON(t, p.Cmd.Process.Pid)
		if ns := notesContaining(r, debug, "rejected", "CRC"); len(ns) != 1 {
			t.Errorf("want one note naming %s and its CRC; notes: %q", debug, r.Notes)
		}
	})
	t.Run("build-id", func(t *testing.T) {
		s := testprog.SplitDebugFiles(t, bin, testprog.BuildID)
		// The debug file of another build, where this build's belongs.
		other := testprog.BuildC(t, "native", "-O1")
		o := testprog.SplitDebugFiles(t, other, testprog.BuildID)
		b, err := os.ReadFile(o.Debug)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.Debug, b, 0o644); err != nil {
			t.Fatal(err)
		}
		p := testprog.Start(t, s.Stripped, "10")
		out, _, err := runTaiji(t, "stack", "--debug-dir", s.DebugDir, strconv.Itoa(p.Cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out, "note: debug file "+s.Debug+" rejected: build ID "+o.BuildID); n != 1 {
			t.Errorf("want one note rejecting %s for its build ID %s, got %d:\n%s", s.Debug, o.BuildID, n, out)
		}
	})
}
