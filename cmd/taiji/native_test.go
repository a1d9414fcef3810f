package main

// Native unwinding and naming on the kinds of binary real programs are:
// rejected debug files, split DWARF, PLT stubs, code without CFI.

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/gdboracle"
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

// buildPLT builds testdata/plt: libf.so and main linked against it with
// flags, into a fresh directory.
func buildPLT(t *testing.T, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	lib := filepath.Join(dir, "libf.so")
	gcc(t, "-O2", "-g", "-shared", "-fPIC", "-o", lib, "testdata/plt/f.c")
	bin := filepath.Join(dir, "plt")
	gcc(t, append(append([]string{"-O2", "-g"}, flags...), "-o", bin, "testdata/plt/main.c", lib, "-Wl,-rpath,"+dir)...)
	return bin
}

func gcc(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// A thread inside a PLT stub: named f@plt, and unwound through the stub's
// CFI, whose CFA expression reads rip, down to _start, as gdb does. Lazy
// and -z now layouts, and IBT's .plt.sec.
func TestStackPLT(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"lazy", []string{"-no-pie", "-Wl,-z,lazy"}},
		{"now", []string{"-no-pie", "-Wl,-z,now"}},
		{"ibt-lazy", []string{"-no-pie", "-fcf-protection=full", "-Wl,-z,lazy,-z,ibtplt"}},
		{"ibt-now", []string{"-no-pie", "-fcf-protection=full", "-Wl,-z,now,-z,ibtplt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testprog.Start(t, buildPLT(t, tc.flags...))
			r := compareWithGDB(t, p.Cmd.Process.Pid, []string{"--no-kernel"}, gdboracle.Options{}, compareOpts{})
			th := r.Threads[0]
			var names []string
			for _, f := range th.Frames {
				names = append(names, f.Function)
			}
			want := []string{"f@plt", "call_f", "via", "main"}
			if len(names) < len(want)+1 || !slices.Equal(names[:len(want)], want) || names[len(names)-1] != "_start" || len(th.Notes) > 0 {
				t.Errorf("frames %q, notes %q; want %q ... _start", names, th.Notes, want)
			}
		})
	}
}

// Code without CFI: the caller is found from the function's instructions
// (pushes, stack adjustments, a frame pointer set up), not by trusting
// %rbp, which a function that never saved it leaves pointing at its
// caller's frame. Where the code cannot be followed, the frame that the
// frame-pointer chain gives is marked as a guess.
func TestStackNoCFI(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "nocfi")
	gcc(t, "-O2", "-g", "-fno-omit-frame-pointer", "-pthread", "-o", bin, "testdata/nocfi/main.c", "testdata/nocfi/nocfi.S")
	p := testprog.Start(t, bin)
	r := stackJSON(t, p.Cmd.Process.Pid, "--no-kernel")
	tail := []string{"start_thread", "clone3"}
	want := map[string][]string{
		"keep":    {"nocfi_keep", "outer_keep", "thread_keep"},
		"branchy": {"nocfi_branchy", "outer_branchy", "thread_branchy"},
		"fp":      {"__libc_pause", "block_in_c", "nocfi_fp", "outer_fp", "thread_fp"},
	}
	seen := 0
	for _, th := range r.Threads {
		var names, notes []string
		for _, f := range th.Frames {
			names = append(names, f.Function)
			if f.Note != "" {
				notes = append(notes, f.Function+": "+f.Note)
			}
		}
		if th.Name == "guess" {
			// nocfi_guess realigns SP without a frame pointer: the
			// chain skips outer_guess, and the frame it gives says so.
			seen++
			if len(th.Frames) < 2 || th.Frames[0].Function != "nocfi_guess" || !strings.Contains(th.Frames[1].Note, "guessed") || len(notes) != 1 {
				t.Errorf("thread guess: frames %q, notes %q; want nocfi_guess, then a frame noted as a guess", names, notes)
			}
			continue
		}
		w, ok := want[th.Name]
		if !ok {
			continue
		}
		seen++
		if w = append(w, tail...); !slices.Equal(names, w) || len(notes) > 0 || len(th.Notes) > 0 {
			t.Errorf("thread %s: frames %q, notes %q %q; want %q", th.Name, names, notes, th.Notes, w)
		}
	}
	if seen != 4 {
		t.Errorf("found %d of the 4 threads", seen)
	}
	out, _, err := runTaiji(t, "stack", "--no-kernel", strconv.Itoa(p.Cmd.Process.Pid))
	if err != nil || !strings.Contains(out, "(guessed from the frame-pointer chain") {
		t.Errorf("the text output does not show the guess (%v):\n%s", err, out)
	}
}
