// Package gdboracle reports how gdb (and eu-stack) see every thread of a live
// process, so tests can compare taiji's backtraces against a debugger that
// has been right for decades.
//
// Backtrace attaches `gdb -nx -batch -p PID` with past-main and past-entry
// backtraces on, walks every thread with gdb's Python API and detaches,
// leaving the process running. It records exactly what gdb reports, junk
// frames past the outermost real frame included: deciding which frames to
// compare is the caller's business.
package gdboracle

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

//go:embed backtrace.py
var script []byte

// Frame is one frame as the debugger reports it.
type Frame struct {
	// PC is the frame's pc: the interrupted instruction for the innermost
	// and signal-interrupted frames, else the return address (not minus
	// one). An inline frame has the pc of the physical frame it lives in.
	PC uint64
	// SP is the frame's stack pointer as gdb computed it, 0 if unknown.
	// eu-stack does not report it.
	SP uint64
	// Function is the function name, "??" if the debugger has none.
	Function string
	// Type is gdb's frame type: "normal", "inline", "sigtramp",
	// "tailcall", "dummy", "arch" or "sentinel". For eu-stack it is
	// "inline" or "normal" (see EuStack).
	Type string
	// File and Line locate the frame in the source (for a caller frame,
	// the line of the call), "" and 0 if unknown.
	File string
	Line int
	// Module is the ELF file holding the PC as the debugger names it.
	// gdb names the executable for every address outside shared libraries.
	Module string
}

// Thread is one thread's backtrace.
type Thread struct {
	TID    int
	Name   string  // thread name; gdb's view (usually /proc comm)
	Frames []Frame // innermost first
	// StopReason says why the walk ended, in gdb's words (e.g. "outermost",
	// "previous frame identical to this frame (corrupt stack?)"), or "frame
	// limit" when MaxFrames was reached.
	StopReason string
}

// ErrNotInstalled is returned (wrapped) when gdb or eu-stack is missing.
var ErrNotInstalled = errors.New("not installed")

// Options adjusts Backtrace.
type Options struct {
	// DebugFileDirectory is prepended to gdb's debug-file-directory (which
	// keeps /usr/lib/debug), so gdb finds <dir>/.build-id/xx/rest.debug.
	DebugFileDirectory string
	// MaxFrames caps each thread's walk (default 2000).
	MaxFrames int
	// Timeout kills gdb if it has not finished (default 2 minutes).
	Timeout time.Duration
}

// Backtrace returns gdb's backtrace of every thread of pid, sorted by TID.
func Backtrace(pid int) ([]Thread, error) {
	ts, _, err := BacktraceOutput(pid, Options{})
	return ts, err
}

// BacktraceOutput is Backtrace with options; it also returns gdb's complete
// output (stdout and stderr), for failure messages, even when it fails.
func BacktraceOutput(pid int, opts Options) ([]Thread, []byte, error) {
	return backtrace(fmt.Sprintf("gdb -p %d", pid), []string{"-p", strconv.Itoa(pid)}, []string{"-ex", "detach"}, opts)
}

// CoreBacktrace is BacktraceOutput for a core file of the program exe
// (`gdb EXE CORE`); sysroot, if not "", is gdb's sysroot for the shared
// libraries the core names.
func CoreBacktrace(exe, core, sysroot string, opts Options) ([]Thread, []byte, error) {
	var pre []string
	if sysroot != "" {
		pre = []string{"-iex", "set sysroot " + sysroot}
	}
	return backtrace("gdb "+core, append(pre, exe, core), nil, opts)
}

// backtrace runs gdb on target (-p PID, or EXE CORE) with the script, then
// the commands after; what names the run in errors.
func backtrace(what string, target, after []string, opts Options) ([]Thread, []byte, error) {
	gdb, err := exec.LookPath("gdb")
	if err != nil {
		return nil, nil, fmt.Errorf("gdb: %w (apt-get install -y gdb)", ErrNotInstalled)
	}
	if opts.MaxFrames <= 0 {
		opts.MaxFrames = 2000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	f, err := os.CreateTemp("", "gdboracle-*.py")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(script); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}

	args := []string{"-nx", "-batch",
		// Deterministic: no .gdbinit, no auto-loaded scripts (Go's
		// runtime-gdb.py), no network lookups of debug info.
		"-iex", "set auto-load off",
		"-iex", "set debuginfod enabled off",
	}
	if opts.DebugFileDirectory != "" {
		args = append(args, "-iex", "set debug-file-directory "+opts.DebugFileDirectory+":/usr/lib/debug")
	}
	args = append(args,
		"-ex", "set pagination off",
		"-ex", "set width 0",
		"-ex", "set backtrace past-main on",
		"-ex", "set backtrace past-entry on",
		"-ex", "set backtrace limit unlimited",
		"-ex", "python taiji_max_frames = "+strconv.Itoa(opts.MaxFrames),
	)
	args = append(append(append(args, target...), "-x", f.Name()), after...)
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gdb, args...)
	cmd.Env = append(os.Environ(), "DEBUGINFOD_URLS=")
	out, runErr := cmd.CombinedOutput()
	threads, done, perr := parseGDB(out)
	switch {
	case ctx.Err() != nil:
		return threads, out, fmt.Errorf("%s: timed out after %v", what, opts.Timeout)
	case perr != nil:
		return threads, out, fmt.Errorf("%s: %v", what, perr)
	case !done || len(threads) == 0:
		return threads, out, fmt.Errorf("%s: no backtrace (exit: %v): %s", what, runErr, lastLines(out, 5))
	}
	return threads, out, nil
}

// record is one line of backtrace.py's output.
type record struct {
	TID    int    `json:"tid"`
	Name   string `json:"name"`
	Stop   string `json:"stop"`
	Done   *int   `json:"done"`
	Frames []struct {
		PC     uint64  `json:"pc"`
		SP     *uint64 `json:"sp"`
		Type   string  `json:"type"`
		Func   string  `json:"func"`
		File   string  `json:"file"`
		Line   int     `json:"line"`
		Module string  `json:"module"`
	} `json:"frames"`
}

const prefix = "TAIJI-GDB "

// parseGDB extracts the threads from gdb's output; done reports whether the
// script ran to its end.
func parseGDB(out []byte) (threads []Thread, done bool, err error) {
	defer func() { sortThreads(threads) }()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20) // a 2000-frame thread is one long line
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, prefix)
		if i < 0 {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(line[i+len(prefix):]), &r); err != nil {
			return threads, false, fmt.Errorf("bad script output %.100q: %v", line, err)
		}
		if r.Done != nil {
			done = true
			continue
		}
		th := Thread{TID: r.TID, Name: r.Name, StopReason: r.Stop}
		for _, f := range r.Frames {
			fr := Frame{PC: f.PC, Function: f.Func, Type: f.Type, File: f.File, Line: f.Line, Module: f.Module}
			if f.SP != nil {
				fr.SP = *f.SP
			}
			th.Frames = append(th.Frames, fr)
		}
		threads = append(threads, th)
	}
	if err := sc.Err(); err != nil {
		return threads, false, err
	}
	return threads, done, nil
}

func sortThreads(ts []Thread) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].TID < ts[j].TID })
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// Find returns the thread with the given TID, or nil.
func Find(threads []Thread, tid int) *Thread {
	for i := range threads {
		if threads[i].TID == tid {
			return &threads[i]
		}
	}
	return nil
}

// Functions returns the function names of t's frames, innermost first.
func (t *Thread) Functions() []string {
	names := make([]string, len(t.Frames))
	for i, f := range t.Frames {
		names[i] = f.Function
	}
	return names
}

// Format renders threads like a debugger's backtrace, for test failure
// messages.
func Format(threads []Thread) string {
	var b strings.Builder
	for _, t := range threads {
		fmt.Fprintf(&b, "Thread %d %q (%d frames, stop: %s)\n", t.TID, t.Name, len(t.Frames), t.StopReason)
		for i, f := range t.Frames {
			fmt.Fprintf(&b, "  #%-3d %#016x sp=%#x %-8s %s", i, f.PC, f.SP, f.Type, f.Function)
			if f.File != "" {
				fmt.Fprintf(&b, " at %s:%d", f.File, f.Line)
			}
			if f.Module != "" {
				fmt.Fprintf(&b, " [%s]", f.Module)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Require skips t when gdb is missing, or fails it when the environment
// variable CI is set (CI must run the oracle tests).
func Require(t testing.TB) {
	t.Helper()
	require(t, "gdb")
}

// RequireEuStack is Require for eu-stack (elfutils).
func RequireEuStack(t testing.TB) {
	t.Helper()
	require(t, "eu-stack")
}

func require(t testing.TB, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	pkg := map[string]string{"gdb": "gdb", "eu-stack": "elfutils"}[tool]
	msg := fmt.Sprintf("%s not installed (apt-get install -y %s)", tool, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
