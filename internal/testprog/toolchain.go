package testprog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// A Toolchain is one Go release the tests build targets with.
type Toolchain struct {
	Version string // "go1.19": major.minor, as scripts/go-toolchains prints it
	Go      string // path to its go command
}

// Minor returns the minor release number: 19 for go1.19, 0 if unknown.
func (tc Toolchain) Minor() int {
	_, minor, _ := strings.Cut(strings.TrimPrefix(tc.Version, "go"), ".")
	n, _ := strconv.Atoi(minor)
	return n
}

func (tc Toolchain) String() string { return tc.Version }

var (
	toolchainsOnce sync.Once
	toolchains     []Toolchain
	toolchainsErr  error
)

// Toolchains returns the Go releases the tests cover, oldest first: the
// "goX.Y /path/to/go" lines of the file $TAIJI_GO_TOOLCHAINS names (make test
// writes it with `scripts/go-toolchains --install`), or, when that variable is
// unset, what `scripts/go-toolchains` finds installed here. It fails the test
// if the list cannot be read or is empty; a missing release is not an error
// here (make test installs them all, and says so when it cannot).
func Toolchains(t testing.TB) []Toolchain {
	t.Helper()
	if a := os.Getenv("TAIJI_XARCH"); a != "" {
		// scripts/xarch-test's VM has no Go toolchain (nor gcc): the
		// tests that build targets per release run on the host.
		t.Skipf("no Go toolchains inside the %s VM: the per-release tests run on the host", a)
	}
	toolchainsOnce.Do(func() { toolchains, toolchainsErr = loadToolchains() })
	if toolchainsErr != nil {
		t.Fatalf("testprog.Toolchains: %v", toolchainsErr)
	}
	return toolchains
}

func loadToolchains() ([]Toolchain, error) {
	var list []byte
	if path := os.Getenv("TAIJI_GO_TOOLCHAINS"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("TAIJI_GO_TOOLCHAINS: %v (run make toolchains, or unset it)", err)
		}
		list = b
	} else {
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "go-toolchains")
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", script, err, stderr.Bytes())
		}
		list = b
	}
	tcs, err := parseToolchains(list)
	if err == nil && len(tcs) == 0 {
		err = fmt.Errorf("no Go toolchain listed (run scripts/go-toolchains --install)")
	}
	return tcs, err
}

// parseToolchains reads "goX.Y /path/to/go" lines, sorted by release.
func parseToolchains(b []byte) ([]Toolchain, error) {
	var tcs []Toolchain
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		tc := Toolchain{}
		if len(f) == 2 {
			tc = Toolchain{Version: f[0], Go: f[1]}
		}
		if tc.Minor() == 0 || !strings.HasPrefix(tc.Version, "go1.") {
			return nil, fmt.Errorf("bad toolchain line %q, want \"goX.Y /path/to/go\"", line)
		}
		tcs = append(tcs, tc)
	}
	for i := 1; i < len(tcs); i++ { // a handful of lines: insertion sort
		for j := i; j > 0 && tcs[j].Minor() < tcs[j-1].Minor(); j-- {
			tcs[j], tcs[j-1] = tcs[j-1], tcs[j]
		}
	}
	return tcs, nil
}

// A GoMode is a kind of Go binary users run, as `go build` makes it.
type GoMode struct {
	Name     string   // "default", "stripped", "pie", "cgo-external"
	Flags    []string // go build flags
	Cgo      bool     // CGO_ENABLED=1 (targets with C code always have it)
	Stripped bool     // no symbol table, no DWARF (-ldflags=-s -w)
	PIE      bool     // position independent: loaded at a bias
}

// GoModes are the binary kinds the matrix tests build with every toolchain:
// the default, stripped of symbols and DWARF (as distributions ship Go
// programs), position independent, linked by the system's linker with cgo
// on (the runtime then starts its threads through pthreads), and all of
// those at once, as a distribution's PIE cgo build ships: there the system
// linker merges .gopclntab into .data.rel.ro, and before go1.26 nothing
// names it once stripped.
var GoModes = []GoMode{
	{Name: "default"},
	{Name: "stripped", Flags: []string{"-ldflags=-s -w"}, Stripped: true},
	{Name: "pie", Flags: []string{"-buildmode=pie"}, PIE: true},
	{Name: "cgo-external", Flags: []string{"-ldflags=-linkmode=external"}, Cgo: true},
	{Name: "stripped-pie-cgo", Flags: []string{"-buildmode=pie", "-ldflags=-s -w -linkmode=external"}, Cgo: true, Stripped: true, PIE: true},
}

// goSource returns the source of the embedded
// Go target name, whether it needs cgo, and whether it exists.
func goSource(name string) (src []byte, cgo, ok bool) {
	switch name {
	case "gotarget":
		return goTarget, false, true
	case "cgotarget":
		return cgoTarget, true, true
	case "injectgo":
		return injectGo, false, true
	case "tracetarget":
		return traceTarget, false, true
	}
	return nil, false, false
}

// BuildGoWith builds the embedded Go target name (gotarget, cgotarget,
// tracetarget, injectgo) with toolchain tc in mode m, into a fresh temporary
// directory, and returns the binary's path. The sources compile with every
// release from go1.19 on.
func BuildGoWith(t testing.TB, tc Toolchain, m GoMode, name string) string {
	t.Helper()
	return BuildGoModes(t, tc, name, m)[m.Name]
}

// BuildGoModes builds the embedded Go target name with toolchain tc once in
// each of modes, from one source directory so that file names agree between
// the binaries, and returns the binaries' paths by mode name.
func BuildGoModes(t testing.TB, tc Toolchain, name string, modes ...GoMode) map[string]string {
	t.Helper()
	src, cgo, ok := goSource(name)
	if !ok {
		t.Fatalf("testprog.BuildGoModes: unknown Go target %q (have: gotarget, cgotarget, tracetarget, injectgo)", name)
	}
	if cgo {
		for i := range modes {
			modes[i].Cgo = true
		}
	}
	return BuildGoSource(t, tc, name, src, modes...)
}

// BuildGoSource builds one main package, the Go source src, with toolchain
// tc once in each of modes, and returns the binaries' paths by mode name (each
// named name, in a fresh temporary directory). The package is a module of its
// own whose go line is the toolchain's release, so old toolchains can read it
// and each release builds with its own language semantics; GOTOOLCHAIN=local
// keeps the go command from switching releases, and nothing is fetched.
func BuildGoSource(t testing.TB, tc Toolchain, name string, src []byte, modes ...GoMode) map[string]string {
	t.Helper()
	dir := t.TempDir()
	mod := fmt.Sprintf("module %s\n\ngo 1.%d\n", name, tc.Minor())
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	bins := make(map[string]string, len(modes))
	for _, m := range modes {
		if err := os.MkdirAll(filepath.Join(dir, m.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, m.Name, name)
		args := append(append([]string{"build", "-o", bin}, m.Flags...), ".")
		cgo := "CGO_ENABLED=0"
		if m.Cgo {
			cgo = "CGO_ENABLED=1"
		}
		// GOROOT is cleared so that each go command uses its own, whatever
		// go test exported; the module stands alone (no workspace, no
		// vendoring, no GOFLAGS or experiments from the caller's
		// environment).
		env := []string{"GOROOT=", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod", "GO111MODULE=on",
			"GOEXPERIMENT=", "GOARCH=", "GOOS=", cgo}
		run(t, dir, env, tc.Go, args...)
		bins[m.Name] = bin
	}
	return bins
}

// RunMatrix runs f as the subtest "goX.Y/mode" for every toolchain the tests
// cover and every binary kind in GoModes, the toolchains in parallel. Each
// toolchain builds the program once per mode, before its subtests run, and f
// gets every mode's binary (bins, by mode name) so that it can compare them.
// The program is the Go source src, or the embedded target name when src is
// nil.
func RunMatrix(t *testing.T, name string, src []byte, f func(t *testing.T, tc Toolchain, m GoMode, bins map[string]string)) {
	t.Helper()
	for _, tc := range Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			modes := append([]GoMode(nil), GoModes...)
			var bins map[string]string
			if src == nil {
				bins = BuildGoModes(t, tc, name, modes...)
			} else {
				bins = BuildGoSource(t, tc, name, src, modes...)
			}
			for _, m := range GoModes {
				t.Run(m.Name, func(t *testing.T) { f(t, tc, m, bins) })
			}
		})
	}
}
