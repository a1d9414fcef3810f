package module

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// debug/dwarf.New parses the abbreviation table of every unit and reads
// every unit's first DIE before it returns. GCC gives each unit of a DWARF 5
// file its own table, so for a distribution's libc (thousands of units) that
// is most of the cost of a backtrace that touches five functions. Instead,
// the unit holding a PC is found from .debug_aranges, and a dwarf.Data is
// built for that one unit from a sub-slice of .debug_info. Unit-relative
// references (DW_FORM_ref1..8, ref_udata) keep working in such a Data;
// references across units do not, and units that use them (found by
// scanning their abbreviation table) are read through the full Data.

// unitHeader is what the start of a .debug_info unit says about it.
type unitHeader struct {
	off       uint64 // of the unit's first byte (its unit_length)
	dieOff    uint64 // of its first DIE, past the header
	end       uint64 // one past its last byte
	version   int
	unitType  uint8 // DW_UT_*; DW_UT_compile for DWARF 2-4
	abbrevOff uint64
	dwoID     uint64 // DWARF 5 skeleton and split units: the DWO id
	dwarf64   bool
}

// DWARF 5 unit types (section 7.5.1).
const (
	utCompile      = 0x01
	utType         = 0x02
	utPartial      = 0x03
	utSkeleton     = 0x04
	utSplitCompile = 0x05
	utSplitType    = 0x06
)

// unitHeaders walks the unit headers of .debug_info without decoding any
// DIE: it follows the unit_length fields from unit to unit.
func unitHeaders(info []byte, bo binary.ByteOrder) ([]unitHeader, error) {
	var hs []unitHeader
	for off := uint64(0); off < uint64(len(info)); {
		b := lineBuf{b: info, off: int(off), bo: bo}
		n := b.u32()
		dwarf64 := false
		if n == 0xffffffff {
			dwarf64 = true
			n = b.u64()
		} else if n >= 0xfffffff0 {
			return nil, fmt.Errorf("unit at %#x: reserved unit length %#x", off, n)
		}
		start := uint64(b.off)
		if b.err != nil || n > uint64(len(info))-start || n < 2 {
			return nil, fmt.Errorf("unit at %#x: length %#x runs past the section", off, n)
		}
		h := unitHeader{off: off, end: start + n, unitType: utCompile, dwarf64: dwarf64}
		b.b = info[:h.end]
		h.version = int(b.u16())
		if h.version < 2 || h.version > 5 {
			return nil, fmt.Errorf("unit at %#x: unsupported DWARF version %d", off, h.version)
		}
		if h.version >= 5 {
			h.unitType = uint8(b.u8())
			b.u8() // address size
		}
		if dwarf64 {
			h.abbrevOff = b.u64()
		} else {
			h.abbrevOff = b.u32()
		}
		if h.version < 5 {
			b.u8() // address size
		}
		if b.err != nil {
			return nil, fmt.Errorf("unit at %#x: header truncated", off)
		}
		// Skeleton and split units carry their DWO id, type units
		// their signature and type offset.
		switch h.unitType {
		case utSkeleton, utSplitCompile:
			h.dwoID = b.u64()
		case utType, utSplitType:
			b.u64()
			if dwarf64 {
				b.u64()
			} else {
				b.u32()
			}
		}
		if b.err != nil {
			return nil, fmt.Errorf("unit at %#x: header truncated", off)
		}
		h.dieOff = uint64(b.off)
		hs = append(hs, h)
		off = h.end
	}
	return hs, nil
}

// arangeSet is one set of .debug_aranges: the address ranges of the unit at
// infoOff.
type arangeSet struct {
	infoOff uint64
	ranges  [][2]uint64
}

var errNoAranges = errors.New("no .debug_aranges")

// parseAranges reads .debug_aranges (DWARF 2-5, section 6.1.2). Empty
// ranges (GCC writes a 0,0 pair for units without code) are dropped.
func parseAranges(sec []byte, bo binary.ByteOrder) ([]arangeSet, error) {
	if len(sec) == 0 {
		return nil, errNoAranges
	}
	var sets []arangeSet
	for off := 0; off < len(sec); {
		b := lineBuf{b: sec, off: off, bo: bo}
		n := b.u32()
		dwarf64 := false
		if n == 0xffffffff {
			dwarf64 = true
			n = b.u64()
		}
		start := b.off
		if b.err != nil || n > uint64(len(sec)-start) {
			return nil, fmt.Errorf("set at %#x: length %#x runs past the section", off, n)
		}
		end := start + int(n)
		b.b = sec[:end]
		if v := b.u16(); v != 2 && v != 3 {
			return nil, fmt.Errorf("set at %#x: unsupported version %d", off, v)
		}
		var s arangeSet
		if dwarf64 {
			s.infoOff = b.u64()
		} else {
			s.infoOff = b.u32()
		}
		asize, ssize := int(b.u8()), int(b.u8())
		if b.err != nil {
			return nil, fmt.Errorf("set at %#x: header truncated", off)
		}
		if (asize != 4 && asize != 8) || ssize != 0 {
			return nil, fmt.Errorf("set at %#x: address size %d, segment size %d", off, asize, ssize)
		}
		// Tuples are aligned to twice the address size from the
		// start of the set.
		tuple := 2 * asize
		if pad := (b.off - off) % tuple; pad != 0 {
			b.skip(uint64(tuple - pad))
		}
		for b.err == nil && end-b.off >= tuple {
			var lo, ln uint64
			if asize == 8 {
				lo, ln = b.u64(), b.u64()
			} else {
				lo, ln = b.u32(), b.u32()
			}
			if lo == 0 && ln == 0 {
				break // the terminating pair
			}
			if ln != 0 && lo+ln > lo {
				s.ranges = append(s.ranges, [2]uint64{lo, lo + ln})
			}
		}
		if b.err != nil {
			return nil, fmt.Errorf("set at %#x: truncated", off)
		}
		sets = append(sets, s)
		off = end
	}
	return sets, nil
}

// Attribute forms whose values name DIEs outside their own unit, or in
// another section or file: a dwarf.Data holding one unit cannot follow them.
var crossUnitForms = map[uint64]bool{
	0x10:   true, // DW_FORM_ref_addr
	0x16:   true, // DW_FORM_indirect (could be anything)
	0x1c:   true, // DW_FORM_ref_sup4
	0x20:   true, // DW_FORM_ref_sig8
	0x24:   true, // DW_FORM_ref_sup8
	0x1f20: true, // DW_FORM_GNU_ref_alt
	0x1f21: true, // DW_FORM_GNU_strp_alt
}

// selfContained reports whether the abbreviation table at off uses only
// forms a single-unit dwarf.Data can resolve. A malformed table is not
// self-contained: the full Data will report it.
func selfContained(abbrev []byte, off uint64) bool {
	if off >= uint64(len(abbrev)) {
		return false
	}
	b := lineBuf{b: abbrev, off: int(off), bo: binary.LittleEndian}
	for b.err == nil {
		if code := b.uleb(); code == 0 {
			return b.err == nil
		}
		b.uleb() // tag
		b.u8()   // has children
		for b.err == nil {
			attr, form := b.uleb(), b.uleb()
			if attr == 0 && form == 0 {
				break
			}
			if crossUnitForms[form] {
				return false
			}
			if form == 0x21 { // DW_FORM_implicit_const
				b.sleb()
			}
		}
	}
	return false
}
