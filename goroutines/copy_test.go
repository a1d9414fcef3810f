package goroutines

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/taijidbg/taiji/goruntime"
	"github.com/taijidbg/taiji/target"
)

// put writes a g at addr in mem (based at base) with the layout l.
func put(mem []byte, base, addr uint64, l *goruntime.Layout, goid uint64, status uint32, lo, hi, sp, pc uint64) {
	b := mem[addr-base:]
	binary.LittleEndian.PutUint64(b[l.G.Goid:], goid)
	binary.LittleEndian.PutUint32(b[l.G.Atomicstatus:], status)
	binary.LittleEndian.PutUint64(b[l.G.StackLo:], lo)
	binary.LittleEndian.PutUint64(b[l.G.StackHi:], hi)
	binary.LittleEndian.PutUint64(b[l.SchedSP():], sp)
	binary.LittleEndian.PutUint64(b[l.SchedPC():], pc)
}

func layout(t testing.TB) *goruntime.Layout {
	l, err := goruntime.ForRelease("go1.22", 8)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func word(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func TestReadGsAndValidate(t *testing.T) {
	l := layout(t)
	size := gSpan(l)
	const base = 0x10000
	mem := make([]byte, 64<<10)
	// Three gs side by side (one run), one far away (its own), in an
	// allgs order that is not the address order.
	addrs := []uint64{base + 0x2000, base, base + 512, base + 0x8000}
	for i, a := range addrs {
		put(mem, base, a, l, uint64(i+1), goruntime.StatusWaiting, 0xc000000000+uint64(i)*0x2000, 0xc000000800+uint64(i)*0x2000, 0xc000000700+uint64(i)*0x2000, 0x401000)
	}
	r := target.NewSegmentReader([]target.Segment{{Addr: base, Data: mem}}, nil)
	raw, err := readGs(r, addrs, size, func(a uint64, b []byte) rawG { return decodeG(a, b, l, binary.LittleEndian, word) })
	if err != nil {
		t.Fatal(err)
	}
	for i, rg := range raw {
		if rg.g != addrs[i] || rg.goid != uint64(i+1) || rg.status != goruntime.StatusWaiting || rg.pc != 0x401000 {
			t.Errorf("g %d: %+v", i, rg)
		}
	}
	if err := validate(raw); err != nil {
		t.Errorf("validate: %v", err)
	}
	// The same goid everywhere, impossible stacks: what a wrong layout
	// reads. It must be refused, not printed.
	for i := range raw {
		raw[i].goid, raw[i].lo, raw[i].hi = 7, 5, 1
	}
	raw = append(raw, raw...)
	if err := validate(raw); !errors.Is(err, ErrBadLayout) {
		t.Errorf("validate of nonsense = %v, want ErrBadLayout", err)
	}
	// A g outside the memory read.
	if _, err := readGs(r, []uint64{base + 1<<20}, size, func(a uint64, b []byte) rawG { return rawG{} }); !errors.Is(err, ErrBadLayout) {
		t.Errorf("unreadable g: %v", err)
	}
}

// FuzzReadGs: whatever memory and allgs hold, reading, decoding and
// validating them never panics.
func FuzzReadGs(f *testing.F) {
	f.Add(make([]byte, 4096), []byte{0, 0, 1, 0, 8, 0})
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff"), []byte{0xff, 0xff})
	l := layout(f)
	size := gSpan(l)
	f.Fuzz(func(t *testing.T, mem, offs []byte) {
		const base = 0x1000
		var addrs []uint64
		for i := 0; i+1 < len(offs) && len(addrs) < 64; i += 2 {
			addrs = append(addrs, base+uint64(binary.LittleEndian.Uint16(offs[i:])))
		}
		r := target.NewSegmentReader([]target.Segment{{Addr: base, Data: mem}}, nil)
		raw, err := readGs(r, addrs, size, func(a uint64, b []byte) rawG { return decodeG(a, b, l, binary.LittleEndian, word) })
		if err == nil {
			_ = validate(raw)
			for i := range raw {
				stackLen(&raw[i], DefaultStackBytes)
			}
		}
	})
}
