package disasm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestVEXTablesGNU checks vexLen's tables (which opcodes take ModRM, which
// an immediate) against GNU objdump for every opcode of every VEX, EVEX
// and XOP map taiji decodes, with each pp and L (and W for EVEX), a
// register and a memory ModRM: each candidate sits alone in a 16-byte slot
// padded with NOPs, and wherever objdump decodes it, the lengths agree.
func TestVEXTablesGNU(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("no GNU objdump")
	}
	const slot = 16
	var blob []byte
	add := func(inst ...byte) {
		s := bytes.Repeat([]byte{0x90}, slot)
		copy(s, inst)
		blob = append(blob, s...)
	}
	modrms := [][]byte{{0xc1}, {0x44, 0x24, 0x08}} // %ecx/%xmm1; 8(%rsp)
	for op := 0; op < 256; op++ {
		for _, m := range modrms {
			for pp := byte(0); pp < 4; pp++ {
				for l := byte(0); l < 2; l++ {
					for vmap := byte(1); vmap <= 3; vmap++ {
						add(append([]byte{0xc4, 0xe0 | vmap, 0x78 | l<<2 | pp, byte(op)}, m...)...)
					}
					add(append([]byte{0xc5, 0xf8 | l<<2 | pp, byte(op)}, m...)...)
				}
				for w := byte(0); w < 2; w++ {
					for _, emap := range []byte{1, 2, 3, 5, 6} {
						add(append([]byte{0x62, 0xf0 | emap, 0x7c | w<<7 | pp, 0x48, byte(op)}, m...)...)
					}
				}
			}
			for xmap := byte(8); xmap <= 10; xmap++ {
				add(append([]byte{0x8f, 0xe0 | xmap, 0x78, byte(op)}, m...)...)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "vex.bin")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	l := gnuListing(t, "-D", "-b", "binary", "-mi386:x86-64", path)
	checked := 0
	for i, a := range l.starts {
		if a%slot != 0 || l.bad[a] || i+1 >= len(l.starts) {
			continue
		}
		want := int(l.starts[i+1] - a)
		code := blob[a : a+slot]
		n, _, ok, err := vexLen(code)
		if !ok {
			t.Fatalf("% x: not taken for VEX/EVEX/XOP", code[:6])
		}
		if err != nil {
			// Refusing is safe; only a wrong length is not. Maps taiji
			// refuses are not in the blob.
			t.Errorf("% x: %v; objdump decodes %d bytes", code[:want], err, want)
			continue
		}
		checked++
		if n != want {
			t.Errorf("% x: length %d, objdump %d", code[:max(n, want)], n, want)
		}
	}
	if checked < 3000 { // 3959 with binutils 2.40
		t.Fatalf("only %d encodings checked", checked)
	}
	t.Logf("%d VEX/EVEX/XOP encodings agree with GNU objdump", checked)
}
