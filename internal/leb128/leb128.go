// Package leb128 decodes DWARF's variable-length integers, shared by the
// parsers of CFI and of DWARF's line and unit headers.
package leb128

// Uint decodes an unsigned LEB128 number at the start of b and returns it
// with the number of bytes it took; n is 0 if b ends inside the number.
// Bits beyond 64 are dropped, as readelf and libdwarf do.
func Uint(b []byte) (v uint64, n int) {
	var shift uint
	for i, c := range b {
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// Int decodes a signed LEB128 number, like Uint.
func Int(b []byte) (v int64, n int) {
	var shift uint
	for i, c := range b {
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, i + 1
		}
	}
	return 0, 0
}
