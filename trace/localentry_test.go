package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/taijidbg/taiji/module"
)

// TestLocalEntryPPC64LE: a ppc64le C function that reads a global sets up
// its TOC pointer first (addis r2,r12 / addi r2,r2: the global entry) and
// marks in st_other where direct calls enter, 8 bytes on. The entry probe
// goes there, or direct calls, which skip the TOC setup, are never seen.
func TestLocalEntryPPC64LE(t *testing.T) {
	cc, err := exec.LookPath("powerpc64le-linux-gnu-gcc")
	if err != nil {
		t.Skip("no powerpc64le-linux-gnu-gcc (scripts/xarch-test ppc64le installs it)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "f.c")
	err = os.WriteFile(src, []byte(`long g;
__attribute__((noinline)) long f(long x) { return x + g; }
void _start(void) { g = f(1); for (;;); }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "f")
	if out, err := exec.Command(cc, "-O2", "-g", "-nostdlib", "-static", "-no-pie", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("%s: %v\n%s", cc, err, out)
	}
	b, err := Open(bin, module.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fs, err := b.Funcs([]string{"f"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fs[0]
	if f.Entry != f.Addr+8 {
		t.Errorf("entry probe at %#x, function at %#x: want the local entry, 8 bytes on", f.Entry, f.Addr)
	}
	if len(f.Rets) == 0 {
		t.Errorf("no RET found in f")
	}
}
