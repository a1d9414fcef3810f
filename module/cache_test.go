package module

import (
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCacheInflatedSections: with a cache, a compressed debug file is
// inflated once; the next run reads the cached copy; a damaged copy is
// recognised and replaced, and answers never change.
func TestCacheInflatedSections(t *testing.T) {
	libc := libcPath(t)
	plain, err := Open(libc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.Debug == nil {
		t.Skip("libc has no separate debug file here (libc6-dbg)")
	}
	info := plain.Debug.Section(".debug_info")
	if info == nil || info.Flags&elf.SHF_COMPRESSED == 0 {
		t.Skip("libc's debug file is not compressed")
	}
	addr, _, ok := plain.SymbolByName("read")
	if !ok {
		t.Fatal("no read in libc")
	}
	want := plain.Frames(addr+4, false)

	dir := t.TempDir()
	cached := filepath.Join(dir, plain.BuildID, "debug_info")
	for i, damage := range []func(){
		func() {},                           // first run: fills the cache
		func() {},                           // second: reads it
		func() { os.Truncate(cached, 100) }, // damaged: refilled
	} {
		damage()
		m, err := Open(libc, Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Frames(addr+4, false); !slices.Equal(got, want) {
			t.Errorf("run %d: frames %v, want %v", i, got, want)
		}
		m.Close()
		fi, err := os.Stat(cached)
		if err != nil || uint64(fi.Size()) != info.Size {
			t.Fatalf("run %d: cached .debug_info: %v, size %v, want %d", i, err, fi, info.Size)
		}
	}
}
