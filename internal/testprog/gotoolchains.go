package testprog

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// GoToolchain is one Go release the tests build targets with.
type GoToolchain struct {
	Release string // "go1.19"
	Go      string // path of its go command
}

// GoToolchains lists the Go toolchains present here: the lines of the file
// $TAIJI_GO_TOOLCHAINS names (make test sets it), else what
// scripts/go-toolchains prints. Each line is "goX.Y /path/to/go".
func GoToolchains(t testing.TB) []GoToolchain {
	t.Helper()
	var data []byte
	var err error
	if f := os.Getenv("TAIJI_GO_TOOLCHAINS"); f != "" {
		data, err = os.ReadFile(f)
	} else {
		_, self, _, _ := runtime.Caller(0)
		data, err = exec.Command(filepath.Join(filepath.Dir(self), "..", "..", "scripts", "go-toolchains")).Output()
	}
	if err != nil {
		t.Fatalf("listing the Go toolchains: %v", err)
	}
	var out []GoToolchain
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.HasPrefix(f[0], "go") {
			out = append(out, GoToolchain{Release: f[0], Go: f[1]})
		}
	}
	return out
}

// BuildGoDir builds the Go program in srcDir (a main package without a
// go.mod) with toolchain tc in a temporary module and returns the binary's
// path. flags go to `go build` before the package.
func BuildGoDir(t testing.TB, tc GoToolchain, srcDir string, cgo bool, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join(srcDir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testprog.BuildGoDir: no Go files in %s", srcDir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := filepath.Base(srcDir)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+name+"\n\ngo 1.19\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	c := "0"
	if cgo {
		c = "1"
	}
	args := append(append([]string{"build", "-o", bin}, flags...), ".")
	run(t, dir, []string{"GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local", "CGO_ENABLED=" + c, "GO111MODULE=on"}, tc.Go, args...)
	return bin
}
