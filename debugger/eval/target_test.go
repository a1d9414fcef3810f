package eval

import (
	"bufio"
	"bytes"
	"context"
	"debug/dwarf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taijidbg/taiji/cfi"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
)

// The tests build real targets (testdata/gotarget, testdata/ctarget),
// stop them with a real breakpoint on the source line marked BREAK, build
// the Scope of frame 0 as the debugger does and compare what Eval reads
// with what the target printed of itself (its oracle lines) and with gdb.

// stopped is a target stopped at its BREAK line.
type stopped struct {
	t      testing.TB
	s      *proc.Session
	sc     *Scope
	tid    int
	pid    int
	stdin  io.WriteCloser
	oracle map[string]string // "name=value" pairs the target printed
	mu     sync.Mutex
	lines  []string
	cond   *sync.Cond
}

var (
	buildCache sync.Map // key -> path
	buildDir   string   // removed by TestMain
)

func TestMain(m *testing.M) {
	var err error
	if buildDir, err = os.MkdirTemp("", "evaltarget"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	os.Exit(code)
}

// build compiles a target once per test binary run.
func build(t testing.TB, key string, cmd ...string) string {
	t.Helper()
	if goarch, ok := xarch.InVM(); ok {
		t.Skipf("builds its target with %s, which the %s VM lacks: runs on the host", cmd[0], goarch)
	}
	if p, ok := buildCache.Load(key); ok {
		return p.(string)
	}
	out := filepath.Join(buildDir, key)
	args := append([]string{cmd[1], "-o", out}, cmd[2:]...)
	c := exec.Command(cmd[0], args...)
	if cmd[0] == "go" {
		c.Dir = "testdata/gotarget"
		c.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GO111MODULE=off")
	}
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", c.Args, err, b)
	}
	buildCache.Store(key, out)
	return out
}

func goTarget(t testing.TB, flags ...string) string {
	key := "go" + strings.ReplaceAll(strings.Join(flags, ""), " ", "")
	key = strings.NewReplacer("=", "", "/", "", "-", "").Replace(key)
	return build(t, key, append(append([]string{"go", "build"}, flags...), ".")...)
}

func cTarget(t testing.TB, flags ...string) string {
	key := "c" + strings.NewReplacer("-", "", "=", "").Replace(strings.Join(flags, ""))
	return build(t, key, append(append([]string{"gcc", "-g"}, flags...), "testdata/ctarget/ctarget.c")...)
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to ptrace")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("live tests run on amd64 and arm64")
	}
}

// breakLine returns the line number of the BREAK marker in src.
func breakLine(t testing.TB, src string) int {
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "BREAK") && !strings.Contains(l, "marked BREAK") {
			return i + 1
		}
	}
	t.Fatalf("no BREAK in %s", src)
	return 0
}

// lineAddr returns the lowest is_stmt address of file:line in m's DWARF.
func lineAddr(t testing.TB, m *module.Module, file string, line int) uint64 {
	d, err := m.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	best := uint64(0)
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := d.LineReader(e)
		if err != nil || lr == nil {
			continue
		}
		var le dwarf.LineEntry
		for lr.Next(&le) == nil {
			if le.Line == line && le.IsStmt && strings.HasSuffix(le.File.Name, file) && (best == 0 || le.Address < best) {
				best = le.Address
			}
		}
		r.SkipChildren()
	}
	if best == 0 {
		t.Fatalf("no code for %s:%d", file, line)
	}
	return best
}

// start runs path, stops it at the BREAK line of src and returns frame 0.
func start(t testing.TB, path, src string) *stopped {
	t.Helper()
	st := startAt(t, path, func(m *module.Module) uint64 {
		return lineAddr(t, m, filepath.Base(src), breakLine(t, src))
	})
	st.waitLine("addr") // printed before the BREAK line
	return st
}

// startAt runs path and stops it at the file address where(m) returns.
func startAt(t testing.TB, path string, where func(m *module.Module) uint64) *stopped {
	t.Helper()
	requireRoot(t)
	cmd := exec.Command(path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st := &stopped{t: t, stdin: stdin, oracle: map[string]string{}, pid: cmd.Process.Pid}
	st.cond = sync.NewCond(&st.mu)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			st.mu.Lock()
			st.lines = append(st.lines, sc.Text())
			for _, f := range strings.Fields(sc.Text())[1:] {
				if k, v, ok := strings.Cut(f, "="); ok {
					st.oracle[strings.Fields(sc.Text())[0]+" "+k] = v
				}
			}
			st.cond.Broadcast()
			st.mu.Unlock()
		}
	}()
	st.waitLine("ready")

	s, err := proc.Attach(context.Background(), cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	st.s = s
	t.Cleanup(func() { s.Detach() })
	exe, _ := proc.Exe(cmd.Process.Pid)
	m, err := module.Open(exe, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	maps, err := proc.Maps(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var bias uint64
	for _, mp := range maps {
		if mp.Path == exe && mp.Offset == 0 {
			bias, _ = m.Bias(mp.Start, mp.Offset)
			break
		}
	}
	addr := where(m) + bias
	if err := s.SetBreakpoint(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		stop, err := s.Continue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stop.Reason == proc.StopBreakpoint && stop.Breakpoint == addr {
			st.tid = stop.TID
			break
		}
		if stop.Reason == proc.StopExited || stop.Reason == proc.StopInterrupted {
			t.Fatalf("target did not reach the breakpoint: %v", stop.Reason)
		}
	}
	if err := s.ClearBreakpoint(addr); err != nil {
		t.Fatal(err)
	}
	regs, err := s.Regs(st.tid)
	if err != nil {
		t.Fatal(err)
	}
	st.sc = &Scope{Arch: s.Arch, Regs: regs, PC: regs.PC, Mem: s, Module: m, Bias: bias,
		SetReg: func(n int, v uint64) error {
			r, err := s.Regs(st.tid)
			if err != nil {
				return err
			}
			if n == -1 || (n == s.Arch.PC && s.Arch.PC != 0) {
				r.PC = v
			} else {
				r.Set(n, v)
			}
			return s.SetRegs(st.tid, r)
		}}
	return st
}

// callerScope returns the scope of frame 1, unwound from frame 0 by the
// module's CFI as the debugger's unwinder does.
func (st *stopped) callerScope() *Scope {
	st.t.Helper()
	sc := st.sc
	data, addr, ok := sc.Module.Section(".eh_frame")
	if !ok {
		st.t.Fatal("no .eh_frame")
	}
	hdr, hdrAddr, _ := sc.Module.Section(".eh_frame_hdr")
	tab, err := cfi.ParseEHFrame(data, addr, hdr, hdrAddr, sc.Arch)
	if err != nil {
		st.t.Fatal(err)
	}
	row, err := tab.Lookup(sc.PC - sc.Bias)
	if err != nil {
		st.t.Fatal(err)
	}
	regs := sc.Regs
	regs.PC -= sc.Bias
	caller, _, err := row.Step(&regs, memReader{sc.Mem}, sc.Arch)
	if err != nil {
		st.t.Fatal(err)
	}
	c := *sc
	// CFA 0: Eval finds frame 1's own CFA from the CFI at its PC.
	c.Regs, c.CFA, c.SetReg = caller, 0, nil
	c.PC = caller.PC - 1 // inside the call instruction
	c.Regs.PC = caller.PC
	return &c
}

func (st *stopped) waitLine(prefix string) string {
	st.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		for _, l := range st.lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		if time.Now().After(deadline) {
			st.t.Fatalf("target printed no %q line; got %q", prefix, st.lines)
		}
		st.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		st.mu.Lock()
	}
}

// ora returns what the target printed for key ("addr t").
func (st *stopped) ora(key string) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.oracle[key]
	if !ok {
		st.t.Fatalf("target printed no %s", key)
	}
	return v
}

func (st *stopped) eval(expr string) *Value {
	st.t.Helper()
	v, err := Eval(st.sc, expr)
	if err != nil {
		st.t.Fatalf("Eval(%q): %v", expr, err)
	}
	return v
}

// want checks that expr prints as want.
func (st *stopped) want(expr, want string) {
	st.t.Helper()
	v, err := Eval(st.sc, expr)
	if err != nil {
		st.t.Errorf("Eval(%q): %v", expr, err)
		return
	}
	if got := v.String(); got != want {
		st.t.Errorf("Eval(%q) = %s, want %s", expr, got, want)
	}
}

func (st *stopped) wantErr(expr, substr string) {
	st.t.Helper()
	v, err := Eval(st.sc, expr)
	if err == nil {
		st.t.Errorf("Eval(%q) = %s, want an error with %q", expr, v, substr)
		return
	}
	if !strings.Contains(err.Error(), substr) || strings.Contains(err.Error(), "\n") {
		st.t.Errorf("Eval(%q) error %q, want one line with %q", expr, err, substr)
	}
}

// resume lets the target run past the breakpoint and returns the line it
// prints starting with prefix; the session is interrupted afterwards.
func (st *stopped) resume(prefix string) string {
	st.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for {
			stop, err := st.s.Continue(ctx)
			if err != nil || stop.Reason == proc.StopInterrupted || stop.Reason == proc.StopExited {
				done <- err
				return
			}
		}
	}()
	l := st.waitLine(prefix)
	cancel()
	if err := <-done; err != nil {
		st.t.Fatal(err)
	}
	return l
}

func hex(s string) uint64 {
	u, _ := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	return u
}

// gdbExamine returns what one gdb run on pid prints for each x command,
// the rows only ("0x... <sym>:\t...").
func gdbExamine(t testing.TB, pid int, cmds ...string) []string {
	t.Helper()
	args := []string{"-nx", "-batch", "-p", strconv.Itoa(pid)}
	for _, c := range cmds {
		args = append(args, "-ex", c, "-ex", `echo @@\n`)
	}
	out, err := exec.Command("gdb", args...).Output()
	if err != nil {
		t.Fatalf("gdb %v: %v", cmds, err)
	}
	var res []string
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case l == "@@":
			res = append(res, strings.Join(keep, "\n")+"\n")
			keep = nil
		case strings.HasPrefix(l, "0x") && strings.Contains(l, ":\t"):
			keep = append(keep, l)
		}
	}
	if len(res) != len(cmds) {
		t.Fatalf("gdb answered %d of %d commands:\n%s", len(res), len(cmds), out)
	}
	return res
}

func gdbPrint(t testing.TB, pid int, exprs ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("gdb"); err != nil {
		t.Skip("no gdb")
	}
	args := []string{"-nx", "-batch", "-p", strconv.Itoa(pid)}
	for _, e := range exprs {
		args = append(args, "-ex", e)
	}
	out, _ := exec.Command("gdb", args...).CombinedOutput()
	var res []string
	for _, l := range bytes.Split(out, []byte("\n")) {
		if s := string(l); strings.HasPrefix(s, "$") {
			_, v, _ := strings.Cut(s, " = ")
			res = append(res, v)
		}
	}
	if len(res) != len(exprs) {
		t.Fatalf("gdb printed %d values for %d expressions:\n%s", len(res), len(exprs), out)
	}
	return res
}
