package trace

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/module"
)

// traceGoroutines traces main.Mix in tracetarget's "goroutines 6" mode
// (each call on its own goroutine) and returns the tracer's notes and the
// goroutine id of every call.
func traceGoroutines(t *testing.T, bin string) (notes []string, goids []uint64) {
	t.Helper()
	b, err := Open(bin, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	funcs, err := b.Funcs([]string{"main.Mix"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-wait", "goroutines", "6")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	bufio.NewReader(stdout).ReadString('\n') // "ready"
	tr, err := Start(b, funcs, Options{Pid: cmd.Process.Pid})
	if err != nil {
		t.Fatalf("trace refused a Go binary: %v", err)
	}
	defer tr.Close()
	stdin.Write([]byte("go\n"))
	go func() { bufio.NewReader(stdout).WriteTo(new(bytes.Buffer)) }()
	cmd.Wait()
	for _, ev := range readEvents(t, tr) { // the events are already in the buffer
		if ev.Kind == Call {
			goids = append(goids, ev.Goroutine)
		}
	}
	if len(goids) != 6 {
		t.Fatalf("%d calls of main.Mix traced, want 6", len(goids))
	}
	return tr.Notes, goids
}

func go119(t *testing.T) testprog.Toolchain {
	for _, tc := range testprog.Toolchains(t) {
		if tc.Version == "go1.19" {
			return tc
		}
	}
	t.Skip("go1.19 is not installed (scripts/go-toolchains --install)")
	return testprog.Toolchain{}
}

// TestGoidStrippedGo119: a go1.19 binary without DWARF gets goroutine ids
// from goruntime's generated table (before, trace refused it: "no DWARF,
// and the goroutine id offset of go1.19 is not known").
func TestGoidStrippedGo119(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := testprog.BuildGoDir(t, go119(t), filepath.Join("..", "internal", "testprog", "tracetarget"), false, "-ldflags=-s -w")
	notes, goids := traceGoroutines(t, bin)
	if len(notes) != 0 {
		t.Errorf("notes %q for a release the tables cover", notes)
	}
	distinct := map[uint64]bool{}
	for _, g := range goids {
		if g == 0 {
			t.Fatalf("a call without a goroutine id: %v", goids)
		}
		distinct[g] = true
	}
	if len(distinct) != len(goids) {
		t.Errorf("goroutine ids %v: each call ran on its own goroutine", goids)
	}
}

// TestGoidUnknownRelease: a binary whose release taiji knows nothing of
// (here a go1.19 build whose buildinfo says go1.18, with no DWARF) is still
// traced; its goroutine ids are 0 and one note says why.
func TestGoidUnknownRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	bin := testprog.BuildGoDir(t, go119(t), filepath.Join("..", "internal", "testprog", "tracetarget"), false, "-ldflags=-s -w")
	relabel(t, bin, "go1.19", "go1.18")
	notes, goids := traceGoroutines(t, bin)
	if len(notes) != 1 || !strings.Contains(notes[0], "goroutine ids are not shown") {
		t.Errorf("notes %q, want one about goroutine ids", notes)
	}
	for _, g := range goids {
		if g != 0 {
			t.Errorf("goroutine id %d from an unknown layout", g)
		}
	}
}

// relabel rewrites the Go version in bin's .go.buildinfo section.
func relabel(t *testing.T, bin, from, to string) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(".go.buildinfo")
	if s == nil {
		t.Fatal("no .go.buildinfo")
	}
	off := s.Offset
	f.Close()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sec := data[off : off+64]
	i := bytes.Index(sec, []byte(from))
	if i < 0 {
		t.Fatalf("no %s in .go.buildinfo", from)
	}
	copy(sec[i:], to)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
