package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// containerSrc passes maps and chans whose element counts it knows.
const containerSrc = `package main

import "fmt"

//go:noinline
func f(m map[string]int, c chan int, none map[int]int) int { return len(m) + len(c) }

func main() {
	c := make(chan int, 5)
	c <- 1
	c <- 2
	fmt.Println(f(map[string]int{"a": 1, "b": 2, "c": 3}, c, nil))
}
`

// TestTraceMapChan: a map or chan argument shows as its pointer and element
// count on every Go release, swiss-table maps (go1.24+) included, not as
// the runtime's map header (which go1.26's DWARF describes).
func TestTraceMapChan(t *testing.T) {
	needRoot(t)
	want := regexp.MustCompile(`main\.f\(m=0x[0-9a-f]+\{len=3\}, c=0x[0-9a-f]+\{len=2\}, none=nil\)`)
	for _, tc := range testprog.Toolchains(t) {
		t.Run(tc.Version, func(t *testing.T) {
			bin := testprog.BuildGoSource(t, tc, "containers", []byte(containerSrc), testprog.GoModes[0])[testprog.GoModes[0].Name]
			stdout, stderr, err := runTaiji(t, "trace", "main.f", "--", bin)
			if err != nil || !want.MatchString(stdout) {
				t.Errorf("trace main.f: %v\nstdout:\n%s\nstderr:\n%s\nwant a line matching %s", err, stdout, strings.TrimSpace(stderr), want)
			}
		})
	}
}

// dynsymSrc is a C program whose function is named only in .dynsym once
// stripped (-rdynamic), as in Debian's nginx and redis-server.
const dynsymSrc = `#include <unistd.h>
__attribute__((noinline)) int exported_work(int x) { usleep(100); return x + 1; }
int main(void) { int s = 0; for (int i = 0; i < 200; i++) s += exported_work(i); return s == 0; }
`

// TestTraceDynsym: a stripped binary's exported functions are traced by the
// names .dynsym gives them, as stack names them.
func TestTraceDynsym(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "dyn.c"), filepath.Join(dir, "dyn")
	if err := os.WriteFile(src, []byte(dynsymSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"gcc", "-O2", "-rdynamic", "-o", bin, src}, {"strip", bin}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	stdout, stderr, err := runTaiji(t, "trace", "--stats", "--quiet", "exported_work", "--", bin)
	if err != nil || !regexp.MustCompile(`(?m)^exported_work\s+200\s+200\s+0\s`).MatchString(stdout) {
		t.Errorf("trace exported_work of a stripped -rdynamic binary: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
}
