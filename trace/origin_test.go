package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/taijidbg/taiji/module"
)

// inlinedSrc has a function the compiler inlines at one call and calls out
// of line through a func value: its out-of-line copy's DWARF is a concrete
// instance whose names and types are in the abstract DIE.
const inlinedSrc = `package main

import "os"

func Small(a int, s string) int { return a + len(s) }

var call = Small

func main() {
	n := Small(len(os.Args), "inlined")
	n += call(5, "outofline")
	os.Exit(n & 0)
}
`

// TestAbstractOriginTypes: the out-of-line copy of a function inlined
// elsewhere is traced with its DWARF types (from the abstract origin), not
// raw registers.
func TestAbstractOriginTypes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(inlinedSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "inl")
	cmd := exec.Command("go", "build", "-o", bin, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := Open(bin, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fs, err := b.Funcs([]string{"main.Small"}, nil)
	if err != nil || len(fs) != 1 {
		t.Fatalf("Funcs(main.Small) = %v, %v", fs, err)
	}
	f := fs[0]
	if f.TypesFrom != "dwarf" || len(f.Args) != 2 || f.Args[0].Name != "a" || f.Args[1].Name != "s" ||
		len(f.Results) != 1 || f.Note != "" {
		t.Errorf("main.Small: types from %q, args %+v, results %+v, note %q; want dwarf, (a int, s string) int",
			f.TypesFrom, f.Args, f.Results, f.Note)
	}
}
