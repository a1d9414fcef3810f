package leb128

import "testing"

func TestDecode(t *testing.T) {
	// Examples from the DWARF 5 specification, figures 22 and 23.
	for _, tc := range []struct {
		b []byte
		u uint64
	}{{[]byte{2}, 2}, {[]byte{127}, 127}, {[]byte{0x80, 1}, 128}, {[]byte{0x81, 1}, 129}, {[]byte{0x82, 1}, 130}, {[]byte{0xb9, 0x64}, 12857}} {
		if v, n := Uint(tc.b); v != tc.u || n != len(tc.b) {
			t.Errorf("Uint(% x) = %d, %d; want %d", tc.b, v, n, tc.u)
		}
	}
	for _, tc := range []struct {
		b []byte
		s int64
	}{{[]byte{2}, 2}, {[]byte{0x7e}, -2}, {[]byte{0xff, 0}, 127}, {[]byte{0x81, 0x7f}, -127}, {[]byte{0x80, 1}, 128}, {[]byte{0x80, 0x7f}, -128}, {[]byte{0x81, 1}, 129}, {[]byte{0xff, 0x7e}, -129}} {
		if v, n := Int(tc.b); v != tc.s || n != len(tc.b) {
			t.Errorf("Int(% x) = %d, %d; want %d", tc.b, v, n, tc.s)
		}
	}
	if _, n := Uint([]byte{0x80, 0x80}); n != 0 {
		t.Error("truncated number decoded")
	}
	if _, n := Int(nil); n != 0 {
		t.Error("empty input decoded")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xb9, 0x64})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, n := Uint(b); n < 0 || n > len(b) {
			t.Fatal(n)
		}
		if _, n := Int(b); n < 0 || n > len(b) {
			t.Fatal(n)
		}
	})
}
