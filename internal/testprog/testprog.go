// Package testprog builds and starts the target processes taiji's tests
// inspect: a C program whose threads block in known places (native/native.c), a Go
// program (gotarget) and a cgo program (cgotarget).
//
// The sources are embedded, so a test in any package can build them into its
// own t.TempDir(). Every target prints "ready" on stdout once all its threads
// are asleep in their blocking system calls and then never changes state, so
// two observers attaching one after the other see the same stacks.
//
// # Threads of the native target
//
// Thread names (from /proc/PID/task/TID/comm, see [Proc.Threads]) and the
// innermost functions of their stacks:
//
//	reader   read <- reader_level1 <- reader_level2 <- reader_level3 <- reader_thread
//	sleeper  nanosleep <- sleeper_level1 <- sleeper_thread
//	signal   read <- handler_block <- usr1_handler <- (signal frame) <- pthread_kill
//	         internals <- interrupted_level1 <- interrupted_level2 <- signal_thread
//	inline   read <- leaf_inline (inlined) <- mid_inline (inlined) <- inline_host <- inline_thread
//	recurse  read <- recurse x (depth+1) <- recurse_thread
//	(main)   pause <- main_wait <- main
//
// Every thread ends in start_thread <- clone3 (main: __libc_start_main <- _start).
// The recursion depth is the first argument, else $TESTPROG_DEPTH, else 1000.
package testprog

import (
	"bufio"
	"bytes"
	"debug/elf"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed native/native.c
var nativeC []byte

//go:embed gotarget/main.go
var goTarget []byte

//go:embed cgotarget/main.go
var cgoTarget []byte

// injectC is the target of taiji inject's tests: a spinner, a sleeper that
// reports its sleeps, and a leader in pause() (see inject/inject.c).
//
//go:embed inject/inject.c
var injectC []byte

//go:embed injectgo/main.go
var injectGo []byte

// debugC and debugGo are taiji debug's targets (see their sources).
//
//go:embed debugtarget/debug.c
var debugC []byte

//go:embed debuggo/main.go
var debugGo []byte

// DebugSources returns the sources of the C and Go targets of taiji
// debug, where the tests look up the lines marked "// LINE name".
func DebugSources() (c, goSrc []byte) { return bytes.Clone(debugC), bytes.Clone(debugGo) }

// NativeSource returns the C source of the native target, e.g. to look up
// line numbers.
func NativeSource() []byte { return bytes.Clone(nativeC) }

// DefaultCFlags are the flags BuildC always passes to gcc before the caller's
// extra flags; later flags win, so an extra "-O0" overrides "-O2".
var DefaultCFlags = []string{"-O2", "-g", "-pthread", "-Wl,--build-id=sha1"}

// ReadyTimeout bounds how long Start waits for a target's "ready" line. It is
// generous because a loaded two-core VM can be slow to start 1000-frame
// recursions and Go runtimes.
var ReadyTimeout = 20 * time.Second

// BuildC compiles the C target name (only "native" exists) with gcc
// -O2 -g -pthread plus extraFlags into a fresh temporary directory and
// returns the binary's path. It fails the test if gcc is missing or fails.
func BuildC(t testing.TB, name string, extraFlags ...string) string {
	t.Helper()
	skipInVM(t, "gcc")
	var src []byte
	switch name {
	case "native":
		src = nativeC
	case "inject":
		src = injectC
	case "debug":
		src = debugC
	default:
		t.Fatalf("testprog.BuildC: unknown C target %q (have: native, inject, debug)", name)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("testprog.BuildC: gcc not found: %v (apt-get install -y gcc)", err)
	}
	dir := t.TempDir()
	srcPath := filepath.Join(dir, name+".c")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	args := append(append([]string{}, DefaultCFlags...), extraFlags...)
	args = append(args, "-o", bin, srcPath)
	run(t, dir, nil, gcc, args...)
	return bin
}

// BuildGo builds the Go target name ("gotarget" or "cgotarget") in a
// temporary module and returns the binary's path. flags go to `go build`
// before the package, e.g. "-ldflags=-s -w", "-buildmode=pie",
// "-gcflags=all=-N -l".
func BuildGo(t testing.TB, name string, flags ...string) string {
	t.Helper()
	skipInVM(t, "a Go toolchain")
	var src []byte
	cgo := "0"
	switch name {
	case "gotarget":
		src = goTarget
	case "cgotarget":
		src, cgo = cgoTarget, "1"
	case "injectgo":
		src = injectGo
	case "debuggo":
		src = debugGo
	default:
		t.Fatalf("testprog.BuildGo: unknown Go target %q (have: gotarget, cgotarget, injectgo, debuggo)", name)
	}
	goBin := goTool(t)
	dir := t.TempDir()
	mod := "module " + name + "\n\ngo 1.24\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	args := append([]string{"build", "-o", bin}, flags...)
	args = append(args, ".")
	// The temporary module stands alone: no workspace, no vendoring, no
	// GOFLAGS from the caller's environment.
	env := []string{"GOWORK=off", "GOFLAGS=", "CGO_ENABLED=" + cgo, "GO111MODULE=on"}
	run(t, dir, env, goBin, args...)
	return bin
}

// goTool finds the go command of the toolchain running the test.
// skipInVM skips a test that builds its target with tool inside
// scripts/xarch-test's VM, which has none: its in-VM tests take prebuilt
// targets from xarch.Target instead.
func skipInVM(t testing.TB, tool string) {
	t.Helper()
	if a := os.Getenv("TAIJI_XARCH"); a != "" {
		t.Skipf("builds its target with %s, which the %s VM lacks: runs on the host", tool, a)
	}
}

func goTool(t testing.TB) string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("testprog.BuildGo: go command not found: %v", err)
	}
	return p
}

// run runs a build command in dir and fails the test with its output if it
// fails.
func run(t testing.TB, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// Debug-file layouts for SplitDebug.
const (
	// DebuglinkSameDir puts the debug file next to the stripped binary and
	// names it in .gnu_debuglink.
	DebuglinkSameDir = "debuglink-samedir"
	// DebuglinkDotDebug puts the debug file in a .debug subdirectory of the
	// stripped binary's directory and names it in .gnu_debuglink.
	DebuglinkDotDebug = "debuglink-dotdebug"
	// BuildID puts the debug file at <DebugDir>/.build-id/xx/rest.debug and
	// adds no .gnu_debuglink: only a build-id lookup under DebugDir finds it.
	BuildID = "buildid"
)

// Split is the result of splitting a binary's debug information off.
type Split struct {
	Stripped string // the binary without symbols or DWARF (.eh_frame kept)
	Debug    string // the separate debug file (DWARF and .symtab)
	// DebugDir is the root to pass as taiji's --debug-dir (gdb's
	// debug-file-directory) for the BuildID layout; empty otherwise.
	DebugDir string
	BuildID  string // hex build ID of the binary; empty if it has none
}

// SplitDebug splits bin like a distribution package does: the returned
// stripped binary has no .symtab and no DWARF (strip --strip-all keeps the
// allocated .eh_frame), the debug file has both (objcopy --only-keep-debug).
// how is DebuglinkSameDir, DebuglinkDotDebug or BuildID. For BuildID, use
// SplitDebugFiles to learn the debug root directory.
func SplitDebug(t testing.TB, bin, how string) (stripped, debug string) {
	t.Helper()
	s := SplitDebugFiles(t, bin, how)
	return s.Stripped, s.Debug
}

// SplitDebugFiles is SplitDebug returning every path of the layout.
// The files live in a fresh temporary directory; bin is left untouched.
func SplitDebugFiles(t testing.TB, bin, how string) Split {
	t.Helper()
	objcopy, err := exec.LookPath("objcopy")
	if err != nil {
		t.Fatalf("testprog.SplitDebug: objcopy not found: %v (apt-get install -y binutils)", err)
	}
	id, err := ReadBuildID(bin)
	if err != nil {
		t.Fatalf("testprog.SplitDebug: %v", err)
	}
	dir := t.TempDir()
	base := filepath.Base(bin)
	s := Split{BuildID: id}
	switch how {
	case DebuglinkSameDir:
		s.Stripped = filepath.Join(dir, base)
		s.Debug = filepath.Join(dir, base+".debug")
	case DebuglinkDotDebug:
		s.Stripped = filepath.Join(dir, base)
		s.Debug = filepath.Join(dir, ".debug", base+".debug")
	case BuildID:
		if len(id) < 4 {
			t.Fatalf("testprog.SplitDebug: %s has no usable build ID (%q)", bin, id)
		}
		s.Stripped = filepath.Join(dir, "bin", base)
		s.DebugDir = filepath.Join(dir, "debug")
		s.Debug = filepath.Join(s.DebugDir, ".build-id", id[:2], id[2:]+".debug")
	default:
		t.Fatalf("testprog.SplitDebug: unknown layout %q (want %s, %s or %s)",
			how, DebuglinkSameDir, DebuglinkDotDebug, BuildID)
	}
	for _, d := range []string{filepath.Dir(s.Stripped), filepath.Dir(s.Debug)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run(t, dir, nil, objcopy, "--only-keep-debug", bin, s.Debug)
	args := []string{"--strip-all"}
	if how != BuildID {
		// objcopy records only the base name and the CRC of the file it
		// reads, so the path here just has to exist now.
		args = append(args, "--add-gnu-debuglink="+s.Debug)
	}
	run(t, dir, nil, objcopy, append(args, bin, s.Stripped)...)
	return s
}

// ReadBuildID returns the hex GNU build ID of an ELF file, or "" if it has
// none.
func ReadBuildID(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			return "", fmt.Errorf("%s: reading PT_NOTE at %#x: %v", path, p.Off, err)
		}
		if id, ok := findBuildID(data, f.ByteOrder, int(p.Align)); ok {
			return id, nil
		}
	}
	return "", nil
}

// findBuildID scans ELF notes for NT_GNU_BUILD_ID (type 3, name "GNU").
// Bad note data ends the scan instead of panicking.
func findBuildID(data []byte, bo binary.ByteOrder, align int) (string, bool) {
	if align < 4 {
		align = 4 // 64-bit files sometimes claim 8 but lay notes out on 4
	}
	pad := func(n uint64) uint64 { return (n + uint64(align) - 1) &^ uint64(align-1) }
	for len(data) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(data)), uint64(bo.Uint32(data[4:])), bo.Uint32(data[8:])
		data = data[12:]
		if pad(namesz) > uint64(len(data)) {
			return "", false
		}
		name := data[:namesz]
		data = data[pad(namesz):]
		if descsz > uint64(len(data)) {
			return "", false
		}
		desc := data[:descsz]
		if typ == 3 && string(bytes.TrimRight(name, "\x00")) == "GNU" {
			return hex.EncodeToString(desc), true
		}
		if pad(descsz) >= uint64(len(data)) {
			return "", false
		}
		data = data[pad(descsz):]
	}
	return "", false
}

// Proc is a started target process.
type Proc struct {
	Pid int
	Cmd *exec.Cmd

	mu     sync.Mutex
	stdout bytes.Buffer // everything the target printed, "ready" included
	stderr bytes.Buffer
}

// Start runs bin with args and waits until it prints "ready". It fails the
// test if the target exits or stays silent for ReadyTimeout, and registers a
// cleanup that kills and reaps it.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, exec.Command(bin, args...))
}

// StartCmd is Start for a prepared command, e.g. one with extra environment
// variables. cmd.Stdout and cmd.Stderr must be nil.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	if cmd.Stdout != nil || cmd.Stderr != nil {
		t.Fatal("testprog.StartCmd: cmd.Stdout and cmd.Stderr must be nil")
	}
	p := &Proc{Cmd: cmd}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("testprog.Start %s: %v", cmd.Path, err)
	}
	pw.Close() // the child holds the only write end now: EOF when it exits
	p.Pid = cmd.Process.Pid

	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	ready := make(chan struct{})
	go func() {
		defer pr.Close()
		r := bufio.NewReader(pr)
		signalled := false
		for {
			line, err := r.ReadString('\n')
			p.mu.Lock()
			p.stdout.WriteString(line)
			p.mu.Unlock()
			if !signalled && line == "ready\n" {
				signalled = true
				close(ready)
			}
			if err != nil {
				break
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()

	timer := time.NewTimer(ReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return p
	case <-exited:
		t.Fatalf("testprog.Start %s: exited before printing ready: %v\nstdout:\n%s\nstderr:\n%s",
			cmd.Path, cmd.ProcessState, p.Stdout(), p.Stderr())
	case <-timer.C:
		t.Fatalf("testprog.Start %s: no \"ready\" within %v\nstdout:\n%s\nstderr:\n%s",
			cmd.Path, ReadyTimeout, p.Stdout(), p.Stderr())
	}
	return nil
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// Stdout returns what the target has printed on stdout so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Stderr returns what the target has printed on stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Threads maps each thread name (/proc/PID/task/TID/comm) to the thread IDs
// carrying it, in /proc order. The main thread carries the binary's name.
func (p *Proc) Threads() (map[string][]int, error) {
	return Threads(p.Pid)
}

// TID returns the ID of the only thread named name, failing the test if there
// is not exactly one.
func (p *Proc) TID(t testing.TB, name string) int {
	t.Helper()
	m, err := p.Threads()
	if err != nil {
		t.Fatal(err)
	}
	if len(m[name]) != 1 {
		t.Fatalf("testprog: process %d has %d threads named %q (threads: %v)", p.Pid, len(m[name]), name, m)
	}
	return m[name][0]
}

// Threads maps each thread name of process pid to the thread IDs carrying it.
func Threads(pid int) (map[string][]int, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := map[string][]int{}
	for _, e := range ents {
		var tid int
		if _, err := fmt.Sscan(e.Name(), &tid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "comm"))
		if err != nil {
			continue // the thread exited meanwhile
		}
		name := strings.TrimSuffix(string(b), "\n")
		m[name] = append(m[name], tid)
	}
	return m, nil
}

// Alive reports whether the process still exists and is not a zombie.
func (p *Proc) Alive() bool {
	if err := syscall.Kill(p.Pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i:], ") Z")
}

// CodeIntact checks that the first 16 bytes of function fn in the running
// process pid are the executable's (bin, not PIE), byte for byte: no
// breakpoint was left; and that pid still runs, traced by no one.
func CodeIntact(t testing.TB, pid int, bin, fn string) {
	t.Helper()
	addr := Symbol(t, bin, fn)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 16)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr+16 <= p.Vaddr+p.Filesz {
			p.ReadAt(want, int64(addr-p.Vaddr))
		}
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	got := make([]byte, 16)
	if _, err := mem.ReadAt(got, int64(addr)); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s's code in the process is % x, the executable's % x: a breakpoint was left", fn, got, want)
	}
	time.Sleep(200 * time.Millisecond)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("the target died after taiji left: %v", err)
	}
	st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if m := regexp.MustCompile(`(?m)^TracerPid:\s*(\d+)`).FindSubmatch(st); m == nil || string(m[1]) != "0" {
		t.Errorf("the target is still traced: %s", m)
	}
}

// Symbol returns the value of the ELF symbol name in the file at path (for
// a non-PIE executable, its address in the process). It fails the test if
// there is none.
func Symbol(t testing.TB, path, name string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("%s: no symbol %s", path, name)
	return 0
}
