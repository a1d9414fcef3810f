package testprog

import (
	"debug/elf"
	"encoding/binary"
	"testing"
)

// noteSeeds returns the PT_NOTE contents of real binaries.
func noteSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, path := range []string{BuildC(tb, "native"), "/bin/ls", "/proc/self/exe"} {
		f, err := elf.Open(path)
		if err != nil {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_NOTE {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					seeds = append(seeds, b)
				}
			}
		}
		f.Close()
	}
	return seeds
}

func TestFindBuildIDTruncated(t *testing.T) {
	for _, s := range noteSeeds(t) {
		for n := 0; n <= len(s); n++ {
			findBuildID(s[:n], binary.LittleEndian, 4) // must not panic
		}
	}
}

func FuzzFindBuildID(f *testing.F) {
	for _, s := range noteSeeds(f) {
		f.Add(s, uint8(4))
		f.Add(s, uint8(8))
	}
	f.Fuzz(func(t *testing.T, b []byte, align uint8) {
		id, ok := findBuildID(b, binary.LittleEndian, int(align&0x1f))
		if ok && len(id)%2 != 0 {
			t.Fatalf("odd hex %q", id)
		}
	})
}
