package cfi

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/taijidbg/taiji/arch"
)

// Hand-assembled sections for formats no local toolchain emits: 64-bit
// DWARF, CIE versions 1 and 4, the old "eh" augmentation, LEB128 and
// absolute FDE encodings, DW_CFA_set_loc, and malformed input.

type asmBuf struct{ b []byte }

func (a *asmBuf) u8(v ...byte)   { a.b = append(a.b, v...) }
func (a *asmBuf) u32(v uint32)   { a.b = binary.LittleEndian.AppendUint32(a.b, v) }
func (a *asmBuf) u64(v uint64)   { a.b = binary.LittleEndian.AppendUint64(a.b, v) }
func (a *asmBuf) str(s string)   { a.b = append(append(a.b, s...), 0) }
func (a *asmBuf) uleb(v uint64)  { a.b = appendULEB(a.b, v) }
func (a *asmBuf) sleb(v int64)   { a.b = appendSLEB(a.b, v) }
func (a *asmBuf) off() int       { return len(a.b) }
func (a *asmBuf) patch32(at int) { binary.LittleEndian.PutUint32(a.b[at:], uint32(len(a.b)-at-4)) }

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Standard amd64 CIE initial instructions: def_cfa rsp+8; offset rip, cfa-8.
var amd64Init = []byte{0x0c, 0x07, 0x08, 0x90, 0x01}

func TestSynthEHFrameVersions(t *testing.T) {
	const ehAddr = 0x4000
	var a asmBuf
	// CIE version 1, "eh" augmentation (an extra pointer), RA as a byte.
	cie1 := a.off()
	a.u32(0)
	a.u32(0)
	a.u8(1)
	a.str("eh")
	a.u64(0xdeadbeef)
	a.uleb(1)
	a.sleb(-8)
	a.u8(16)
	a.u8(amd64Init...)
	a.patch32(cie1)
	// FDE with absolute 8-byte addresses (no 'R'): [0x1000, 0x1010).
	f1 := a.off()
	a.u32(0)
	a.u32(uint32(a.off() - cie1))
	a.u64(0x1000)
	a.u64(0x10)
	a.u8(0x41, 0x0e, 0x10) // advance 1; def_cfa_offset 16
	a.u8(0x01)             // set_loc (absptr)
	a.u64(0x1008)          //   to 0x1008
	a.u8(0x0e, 0x20)       // def_cfa_offset 32
	a.u8(0x2d)             // negate_ra_state
	a.patch32(f1)
	// CIE version 3 in 64-bit DWARF, "zR" with uleb128 FDE addresses.
	cie3 := a.off()
	a.u32(0xffffffff)
	lenAt := a.off()
	a.u64(0)
	a.u64(0)
	a.u8(3)
	a.str("zRS")
	a.uleb(4)
	a.sleb(-8)
	a.uleb(16)
	a.uleb(1)
	a.u8(peUleb128)
	a.u8(amd64Init...)
	binary.LittleEndian.PutUint64(a.b[lenAt:], uint64(len(a.b)-lenAt-8))
	_ = a.off() // FDE in 64-bit DWARF
	a.u32(0xffffffff)
	lenAt = a.off()
	a.u64(0)
	a.u64(uint64(a.off() - cie3))
	a.uleb(0x2000)
	a.uleb(0x100)
	a.uleb(0)              // augmentation data
	a.u8(0x44, 0x0e, 0x18) // advance 4*4 (code alignment 4); def_cfa_offset 24
	a.u8(0x1d)             // DW_CFA_MIPS_advance_loc8
	a.u64(8)               //   8*4
	a.u8(0x0e, 0x28)
	binary.LittleEndian.PutUint64(a.b[lenAt:], uint64(len(a.b)-lenAt-8))
	a.u32(0)         // terminator
	a.u8(0xff, 0xff) // garbage after the terminator is never read

	tab, err := ParseEHFrame(a.b, ehAddr, nil, 0, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pc     uint64
		cfaOff int64
		signal bool
		signed bool
	}{
		{0x1000, 8, false, false}, {0x1001, 16, false, false}, {0x1007, 16, false, false},
		{0x1008, 32, false, true}, {0x100f, 32, false, true},
		{0x2000, 8, true, false}, {0x200f, 8, true, false}, {0x2010, 24, true, false},
		{0x202f, 24, true, false}, {0x2030, 40, true, false}, {0x20ff, 40, true, false},
	} {
		row, err := tab.Lookup(tt.pc)
		if err != nil {
			t.Fatalf("Lookup(%#x): %v", tt.pc, err)
		}
		if row.CFA.Kind != CFARegOffset || row.CFA.Reg != 7 || row.CFA.Offset != tt.cfaOff ||
			row.SignalFrame != tt.signal || row.RASigned != tt.signed || row.RA != 16 {
			t.Errorf("Lookup(%#x) = CFA %v signal %v signed %v RA %d, want rsp%+d %v %v",
				tt.pc, row.CFA, row.SignalFrame, row.RASigned, row.RA, tt.cfaOff, tt.signal, tt.signed)
		}
		if r := row.Rule(16); r.Kind != Offset || r.Offset != -8 {
			t.Errorf("Lookup(%#x): ra rule %v", tt.pc, r)
		}
	}
	for _, pc := range []uint64{0xfff, 0x1010, 0x1fff, 0x2100} {
		if _, err := tab.Lookup(pc); !errors.Is(err, ErrNoFDE) {
			t.Errorf("Lookup(%#x) = %v, want ErrNoFDE", pc, err)
		}
	}
}

func TestSynthDebugFrameV4(t *testing.T) {
	var a asmBuf
	// A version 4 CIE with 4-byte addresses, in 64-bit DWARF.
	a.u32(0xffffffff)
	a.u64(0) // patched
	a.u64(^uint64(0))
	a.u8(4)
	a.str("")
	a.u8(4, 0) // address_size, segment_selector_size
	a.uleb(1)
	a.sleb(-8)
	a.uleb(16)
	a.u8(amd64Init...)
	binary.LittleEndian.PutUint64(a.b[4:], uint64(len(a.b)-12))
	f := a.off()
	a.u32(0xffffffff)
	a.u64(0)
	a.u64(0) // CIE at offset 0
	a.u32(0x500)
	a.u32(0x20)
	a.u8(0x42, 0x0e, 0x10, 0x0a, 0x0e, 0x30, 0x41, 0x0b, 0x41) // adv 2; cfa 16; remember; cfa 48; adv 1; restore_state; adv 1
	a.u8(0x01)
	a.u32(0x510)     // set_loc with a 4-byte address
	a.u8(0x07, 0x10) // undefined rip
	binary.LittleEndian.PutUint64(a.b[f+4:], uint64(len(a.b)-f-12))
	tab, err := ParseDebugFrame(a.b, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pc   uint64
		off  int64
		kind RuleKind
	}{{0x500, 8, Offset}, {0x501, 8, Offset}, {0x502, 48, Offset}, {0x503, 16, Offset}, {0x504, 16, Offset}, {0x50f, 16, Offset}, {0x510, 16, Undefined}} {
		row, err := tab.Lookup(tt.pc)
		if err != nil {
			t.Fatal(err)
		}
		if row.CFA.Offset != tt.off || row.Rule(16).Kind != tt.kind {
			t.Errorf("Lookup(%#x): CFA %v ra %v, want +%d %v", tt.pc, row.CFA, row.Rule(16), tt.off, tt.kind)
		}
	}
	row, _ := tab.Lookup(0x510)
	var regs arch.Regs
	regs.Set(7, 0x100)
	if _, _, err := row.Step(&regs, nil, arch.AMD64); !errors.Is(err, ErrEndOfStack) {
		t.Errorf("Step at an undefined RA = %v, want ErrEndOfStack", err)
	}
}

func TestSynthMalformed(t *testing.T) {
	cie := func(insns ...byte) []byte {
		var a asmBuf
		a.u32(0)
		a.u32(0)
		a.u8(1)
		a.str("zR")
		a.uleb(1)
		a.sleb(-8)
		a.u8(16)
		a.uleb(1)
		a.u8(peUdata4)
		a.u8(amd64Init...)
		a.patch32(0)
		f := a.off()
		a.u32(0)
		a.u32(uint32(a.off()))
		a.u32(0x1000)
		a.u32(0x100)
		a.uleb(0)
		a.u8(insns...)
		a.patch32(f)
		return a.b
	}
	deep := make([]byte, 0, 100)
	for i := 0; i < 100; i++ {
		deep = append(deep, 0x0a)
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"restore_state underflow", cie(0x0b)},
		{"remember_state too deep", cie(deep...)},
		{"unknown opcode", cie(0x3f)},
		{"truncated operand", cie(0x0c, 0x80)},
		{"expression past end", cie(0x0f, 0x40, 0x30)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := ParseEHFrame(tt.data, 0, nil, 0, arch.AMD64)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tab.Lookup(0x10ff)
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Section != ".eh_frame" {
				t.Fatalf("Lookup = %v, want a .eh_frame FormatError", err)
			}
		})
	}
	good := cie(0x41)
	for _, tt := range []struct {
		name string
		mod  func(b []byte) []byte
	}{
		{"length past end", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0x1000); return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }},
		{"bad CIE pointer", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-14:], 0x500); return b }},
		{"CIE version 2", func(b []byte) []byte { b[8] = 2; return b }},
		{"reserved length", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0xfffffff5); return b }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mod(append([]byte(nil), good...))
			_, err := ParseEHFrame(b, 0, nil, 0, arch.AMD64)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseEHFrame = %v, want a FormatError", err)
			}
			t.Log(err)
		})
	}
	// A header whose table points outside .eh_frame.
	hdr := []byte{1, 0x1b, 0x03, 0x3b, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0}
	tab, err := ParseEHFrame(good, 0x100, hdr, 0x2000, arch.AMD64)
	if err != nil {
		t.Fatal(err)
	}
	var fe *FormatError
	if _, err := tab.Lookup(0x3000); !errors.As(err, &fe) || fe.Section != ".eh_frame_hdr" {
		t.Fatalf("Lookup through a bad table = %v, want an .eh_frame_hdr FormatError", err)
	}
	if _, err := ParseEHFrame(good, 0x100, []byte{2, 0, 0, 0}, 0, arch.AMD64); !errors.As(err, &fe) {
		t.Fatalf("hdr version 2: %v, want FormatError", err)
	}
	if _, err := ParseEHFrame(good, 0x100, []byte{1, 0x1b, 0x03, 0x3b, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 0, arch.AMD64); !errors.As(err, &fe) {
		t.Fatalf("hdr count too large: %v, want FormatError", err)
	}
}
