package core

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// unwindText unwinds s and renders every thread without its frozen time:
// what TestVMCores compares.
func unwindText(s *target.Snapshot, root string) string {
	u := unwind.New(s.Arch, module.Options{Root: root})
	defer u.Close()
	threads, _ := u.Process(s, unwind.Options{NoKernel: true})
	var b strings.Builder
	for _, th := range threads {
		th.Frozen = 0
		th.State, th.Name = "", "" // a core keeps the process's only
		b.WriteString(th.String())
	}
	return b.String()
}

// TestVMCores reads, on any host, cores that taiji dump wrote inside the
// arm64 and mips64le VMs of scripts/xarch-test (testdata/vmcores/ARCH: the
// core, zstd-compressed; the target binary; the unwind of the core in the
// VM, equal there to the live process's): the unwind here must be the
// same, frame for frame.
func TestVMCores(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("testdata", "vmcores", "*"))
	if len(dirs) == 0 {
		t.Skip("no VM cores in testdata/vmcores (docs/cores.md says how to record them)")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "native")
			if err := os.WriteFile(exe, gunzipFile(t, filepath.Join(dir, "exe.gz")), 0o755); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "want.txt"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Open(filepath.Join(dir, "core.zst"), Options{Exe: exe})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Snapshot.Arch.Name != filepath.Base(dir) {
				t.Errorf("core of %s in %s", c.Snapshot.Arch.Name, dir)
			}
			if len(c.Snapshot.Warnings) > 0 {
				t.Errorf("notes: %q", c.Snapshot.Warnings)
			}
			if got := unwindText(c.Snapshot, ""); got != string(want) {
				t.Errorf("the core unwinds here differently from in the VM\nhere:\n%s\nin the VM:\n%s", got, want)
			}
		})
	}
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return gunzipBytes(t, b)
}

func gunzipBytes(t *testing.T, gz []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
