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

// buildNativeWith compiles the native target with cc and flags in a fresh
// directory (where -gsplit-dwarf leaves its .dwo files) and returns the
// binary's path.
func buildNativeWith(t *testing.T, cc string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("%s not installed (make deps installs it)", cc)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "native.c"), testprog.NativeSource(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(append(append([]string{}, testprog.DefaultCFlags...), flags...), "-o", "native", "native.c")
	cmd := exec.Command(cc, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return filepath.Join(dir, "native")
}

// compareLinesWithGDB checks the file:line of every user frame where gdb
// has one, after compareWithGDB has matched the frames themselves.
func compareLinesWithGDB(t *testing.T, pid int) {
	t.Helper()
	gdb, raw, err := gdboracle.BacktraceOutput(pid, gdboracle.Options{})
	if err != nil {
		t.Fatalf("gdb: %v\n%s", err, raw)
	}
	r := stackJSON(t, pid, "--no-kernel", "--max-frames", "0")
	lines := 0
	for _, g := range gdb {
		for _, th := range r.Threads {
			if th.TID != g.TID || len(th.Frames) != len(g.Frames) {
				continue
			}
			for i, w := range g.Frames {
				f := th.Frames[i]
				if w.Line == 0 || f.PC != "0x"+strconv.FormatUint(w.PC, 16) {
					continue
				}
				lines++
				if f.Line != w.Line || filepath.Base(f.File) != filepath.Base(w.File) {
					t.Errorf("thread %d %q frame %d (%s): %s:%d, gdb %s:%d", th.TID, th.Name, i, f.Function, f.File, f.Line, w.File, w.Line)
				}
			}
		}
	}
	if lines < 10 {
		t.Errorf("only %d frames with a line to compare", lines)
	}
}

// Split DWARF: the functions, inlined calls and file:line of a binary built
// with -gsplit-dwarf come from its .dwo files or its .dwp package, as gdb
// reads them; gcc and clang, DWARF 4 (GNU extension) and 5.
func TestStackSplitDWARF(t *testing.T) {
	requireRoot(t)
	gdboracle.Require(t)
	for _, tc := range []struct {
		name, cc, dwarf, dwp string
	}{
		{"gcc-dwarf5", "gcc", "-gdwarf-5", ""},
		{"gcc-dwarf4", "gcc", "-gdwarf-4", ""},
		{"clang-dwarf5", "clang", "-gdwarf-5", ""},
		{"clang-dwarf4", "clang", "-gdwarf-4", ""},
		// binutils' dwp packs DWARF 4 only; llvm-dwp 14 loops on gcc's
		// DWARF 5 .dwo files, so that pair is not tried.
		{"gcc-dwarf4-dwp", "gcc", "-gdwarf-4", "dwp"},
		{"clang-dwarf5-llvm-dwp", "clang", "-gdwarf-5", "llvm-dwp"},
		{"clang-dwarf4-llvm-dwp", "clang", "-gdwarf-4", "llvm-dwp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := buildNativeWith(t, tc.cc, tc.dwarf, "-gsplit-dwarf")
			p := testprog.Start(t, bin)
			r := compareWithGDB(t, p.Cmd.Process.Pid, []string{"--max-frames", "0"}, gdboracle.Options{}, compareOpts{})
			checkNativeThreads(t, r)
			compareLinesWithGDB(t, p.Cmd.Process.Pid)
			if len(r.Notes) > 0 {
				t.Errorf("notes: %q", r.Notes)
			}
			if tc.dwp == "" {
				return
			}
			// The same frames from a .dwp package alone (gdb 13 itself
			// crashes on clang's DWARF 5 package, so it is no oracle
			// here: the .dwo files it was compared with are).
			cmd := exec.Command(tc.dwp, "-e", bin, "-o", bin+".dwp")
			cmd.Dir = filepath.Dir(bin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.dwp, err, out)
			}
			dwos, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "*.dwo"))
			for _, d := range dwos {
				os.Remove(d)
			}
			r2 := stackJSON(t, p.Cmd.Process.Pid, "--max-frames", "0")
			if len(r2.Notes) > 0 {
				t.Errorf("with %s: notes: %q", tc.dwp, r2.Notes)
			}
			user := func(th jsonThread) (out []jsonFrame) {
				for _, f := range th.Frames {
					if f.Kind != "kernel" {
						f.Offset = 0
						out = append(out, f)
					}
				}
				return out
			}
			for i, th := range r.Threads {
				if i >= len(r2.Threads) || !slices.Equal(user(th), user(r2.Threads[i])) {
					t.Errorf("thread %d %q from the .dwp:\n%s\nfrom the .dwo files:\n%s", th.TID, th.Name, formatJSONFrames(user(r2.Threads[min(i, len(r2.Threads)-1)])), formatJSONFrames(user(th)))
				}
			}
		})
	}
	t.Run("missing-dwo", func(t *testing.T) {
		bin := buildNativeWith(t, "gcc", "-gsplit-dwarf")
		dwos, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "*.dwo"))
		if len(dwos) == 0 {
			t.Fatal("gcc -gsplit-dwarf wrote no .dwo file")
		}
		for _, d := range dwos {
			os.Remove(d)
		}
		p := testprog.Start(t, bin)
		r := stackJSON(t, p.Cmd.Process.Pid, "--no-kernel")
		if ns := notesContaining(r, dwos[0], "not found"); len(ns) != 1 || len(r.Notes) != 1 {
			t.Errorf("want one note saying %s is missing; notes: %q", dwos[0], r.Notes)
		}
		// Names still come from the symbol table.
		for _, th := range r.Threads {
			if th.Name != "reader" {
				continue
			}
			var names []string
			for _, f := range th.Frames {
				names = append(names, f.Function)
			}
			if !slices.Contains(names, "reader_level2") || !slices.Contains(names, "reader_thread") {
				t.Errorf("reader thread: %q", names)
			}
		}
	})
}
