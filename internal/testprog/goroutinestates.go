package testprog

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// GoroutineStatesDir is the source directory of goroutinestates, the target
// that holds goroutines in known states and dumps its own runtime.Stack
// (see goroutinestates/main.go). Its cgo.go adds a goroutine blocked in C
// when cgo is on.
func GoroutineStatesDir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "goroutinestates")
}

// BuildGoroutineStates builds goroutinestates with toolchain tc in mode m
// (with the goroutine blocked in C when m.Cgo) and returns the binary's path.
func BuildGoroutineStates(t testing.TB, tc Toolchain, m GoMode) string {
	t.Helper()
	return BuildGoDir(t, tc, GoroutineStatesDir(), m.Cgo, m.Flags...)
}

// A GoroutineStates is a started goroutinestates target.
type GoroutineStates struct {
	*Proc
	dumpPath string
	dumps    int
}

// StartGoroutineStates starts the goroutinestates binary bin and waits for
// its "ready".
func StartGoroutineStates(t testing.TB, bin string) *GoroutineStates {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump")
	return &GoroutineStates{Proc: Start(t, bin, "-dump", path), dumpPath: path}
}

// Dump asks the target for its own traceback of every goroutine
// (runtime.Stack(buf, true), by SIGUSR1) and returns it. It fails the test
// if the target does not answer within ReadyTimeout.
func (g *GoroutineStates) Dump(t testing.TB) string {
	t.Helper()
	if err := syscall.Kill(g.Pid, syscall.SIGUSR1); err != nil {
		t.Fatalf("goroutinestates: SIGUSR1: %v", err)
	}
	g.dumps++
	deadline := time.Now().Add(ReadyTimeout)
	for strings.Count(g.Stdout(), "dumped\n") < g.dumps {
		if time.Now().After(deadline) || !g.Alive() {
			t.Fatalf("goroutinestates: no \"dumped\" within %v (alive: %v)\nstdout:\n%s\nstderr:\n%s",
				ReadyTimeout, g.Alive(), g.Stdout(), g.Stderr())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, err := os.ReadFile(g.dumpPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// RunGoroutineStates runs f as the subtest "goX.Y/mode" on a started
// goroutinestates built by every toolchain the tests cover in every binary
// kind of GoModes (the cgo one with its goroutine in C), the toolchains in
// parallel.
func RunGoroutineStates(t *testing.T, f func(t *testing.T, tc Toolchain, m GoMode, p *GoroutineStates)) {
	t.Helper()
	for _, tc := range Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			for _, m := range GoModes {
				t.Run(m.Name, func(t *testing.T) {
					f(t, tc, m, StartGoroutineStates(t, BuildGoroutineStates(t, tc, m)))
				})
			}
		})
	}
}
