package unwind

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/module"
)

func TestFrameJSON(t *testing.T) {
	for _, tc := range []struct {
		f    Frame
		want string
	}{
		{Frame{Kind: Kernel, Function: "pipe_read", Offset: 96}, `{"kind":"kernel","function":"pipe_read","offset":96}`},
		{Frame{Kind: User, PC: 0x7f1c965e52ec, Function: "__libc_read", Module: "/lib/libc.so.6", File: "read.c", Line: 26},
			`{"kind":"user","pc":"0x7f1c965e52ec","function":"__libc_read","module":"/lib/libc.so.6","file":"read.c","line":26}`},
		{Frame{Kind: Signal, PC: 0x10}, `{"kind":"signal","pc":"0x10"}`},
	} {
		b, err := json.Marshal(tc.f)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s (%v), want %s", b, err, tc.want)
		}
	}
}

// TestMaxFramesKeepsBothEnds: a cut stack keeps its innermost frames and
// its outermost ones, counts what it left out, and names only what it keeps.
func TestMaxFramesKeepsBothEnds(t *testing.T) {
	u := New(arch.AMD64, moduleOptions())
	kernel := []Frame{{Kind: Kernel, Function: "k0"}, {Kind: Kernel, Function: "k1"}}
	var frames []phys
	for i := 0; i < 100; i++ {
		frames = append(frames, phys{pc: uint64(0x1000 + i)})
	}
	out, omitted, gap := u.assemble(kernel, frames, Options{MaxFrames: 20})
	if len(out) != 20 || omitted != 82 {
		t.Fatalf("%d frames, %d omitted; want 20 and 82", len(out), omitted)
	}
	if out[0].Function != "k0" || out[1].Function != "k1" || out[2].PC != 0x1000 {
		t.Errorf("innermost frames lost: %v", out[:3])
	}
	if last := out[len(out)-1]; last.PC != 0x1000+99 {
		t.Errorf("outermost frame %#x, want %#x", last.PC, 0x1000+99)
	}
	if out[gap-1].PC+1+uint64(omitted) != out[gap].PC {
		t.Errorf("gap at %d does not match the omitted count: %#x .. %#x", gap, out[gap-1].PC, out[gap].PC)
	}
	th := &Thread{TID: 1, Frames: out, Omitted: omitted, gap: gap}
	if s := th.String(); !strings.Contains(s, "82 frames omitted") || !strings.Contains(s, "#101 ") {
		t.Errorf("text output:\n%s", s)
	}
	all, omitted, _ := u.assemble(kernel, frames, Options{MaxFrames: 0})
	if len(all) != 102 || omitted != 0 {
		t.Errorf("unlimited: %d frames, %d omitted", len(all), omitted)
	}
}

func moduleOptions() (o module.Options) { return o }

// memAt serves reads from a byte image at a base address.
type memAt struct {
	base uint64
	b    []byte
}

func (m memAt) ReadAt(p []byte, off int64) (int, error) {
	a := uint64(off)
	if a < m.base || a+uint64(len(p)) > m.base+uint64(len(m.b)) {
		return 0, fmt.Errorf("no memory at %#x", a)
	}
	return copy(p, m.b[a-m.base:]), nil
}

// TestLoopEndsWithNote: a frame chain that points back at itself ends the
// walk with a note instead of hanging or printing frames forever (here the
// frame pointer falls below SP on the second step).
func TestLoopEndsWithNote(t *testing.T) {
	a := arch.AMD64
	u := New(a, module.Options{})
	// Code the unwinder knows nothing about, so it follows frame pointers.
	sp := &space{regions: []region{{start: 0x1000, end: 0x2000, path: "[anon]"}}}
	mem := memAt{base: 0x7000, b: make([]byte, 16)}
	binary.LittleEndian.PutUint64(mem.b[0:], 0x7000) // saved FP: itself
	binary.LittleEndian.PutUint64(mem.b[8:], 0x1500) // return address
	var regs arch.Regs
	regs.PC = 0x1100
	regs.Set(a.SP, 0x6ff0)
	regs.Set(a.FP, 0x7000)
	frames, note := u.walk(sp, regs, mem, walkLimit)
	if note == "" || len(frames) > 3 {
		t.Errorf("%d frames, note %q", len(frames), note)
		for _, f := range frames {
			sp, _ := f.regs.Get(a.SP)
			t.Logf("pc %#x sp %#x", f.pc, sp)
		}
	}
}
