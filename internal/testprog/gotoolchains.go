package testprog

import (
	"os"
	"path/filepath"
	"testing"
)

// BuildGoDir builds the Go program in srcDir (a main package without a
// go.mod) with toolchain tc in a temporary module and returns the binary's
// path. flags go to `go build` before the package.
func BuildGoDir(t testing.TB, tc Toolchain, srcDir string, cgo bool, flags ...string) string {
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
