package goruntime

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// typeImage lays out a type descriptor at 0x100 whose name "*main.T" sits
// at types+0x40 (types = 0x20), with tflag as given.
func typeImage(tflag byte) []byte {
	b := make([]byte, 0x200)
	const types, desc = 0x20, 0x100
	b[desc+20] = tflag
	binary.LittleEndian.PutUint32(b[desc+40:], 0x40)
	name := append([]byte{0, 7}, "*main.T"...)
	copy(b[types+0x40:], name)
	return b
}

// TestTypeName: the name through nameOff, tflagExtraStar dropping the
// shared '*', and one line of error for what is not a descriptor.
func TestTypeName(t *testing.T) {
	for _, c := range []struct {
		tflag byte
		want  string
	}{{0, "*main.T"}, {tflagExtraStar, "main.T"}} {
		got, err := TypeName(bytes.NewReader(typeImage(c.tflag)), 0x100, 0x20, 8, binary.LittleEndian)
		if err != nil || got != c.want {
			t.Errorf("tflag %#x: %q, %v; want %q", c.tflag, got, err, c.want)
		}
	}
	if _, err := TypeName(bytes.NewReader(make([]byte, 0x200)), 0x100, 0x20, 8, binary.LittleEndian); err == nil {
		t.Error("a zero descriptor gave a name")
	}
}

// FuzzTypeName: no input makes TypeName panic.
func FuzzTypeName(f *testing.F) {
	f.Add(typeImage(0), uint64(0x100), uint64(0x20))
	f.Add(typeImage(tflagExtraStar), uint64(0x100), uint64(0x20))
	f.Fuzz(func(t *testing.T, b []byte, addr, types uint64) {
		for _, ps := range []int{4, 8} {
			TypeName(bytes.NewReader(b), addr, types, ps, binary.LittleEndian)
			TypeName(bytes.NewReader(b), addr, types, ps, binary.BigEndian)
		}
	})
}
