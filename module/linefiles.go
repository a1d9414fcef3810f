package module

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/taijidbg/taiji/internal/leb128"
)

// Go's dwarf.LineReader cleans file paths with path.Join and, for DWARF 5,
// does not prefix relative directories with the compilation directory. The
// names users compare against (addr2line, and through it most tooling)
// are built as binutils builds them, so the file table is read again here,
// and names are joined exactly as binutils' concat_filename does.

var errShort = errors.New("line table header truncated")

// lineBuf is a bounds-checked little reader; the first error sticks.
type lineBuf struct {
	b   []byte
	off int
	bo  binary.ByteOrder
	err error
}

func (r *lineBuf) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = errShort
		return false
	}
	return true
}

func (r *lineBuf) u8() uint64 {
	if !r.need(1) {
		return 0
	}
	r.off++
	return uint64(r.b[r.off-1])
}

func (r *lineBuf) u16() uint64 {
	if !r.need(2) {
		return 0
	}
	r.off += 2
	return uint64(r.bo.Uint16(r.b[r.off-2:]))
}

func (r *lineBuf) u32() uint64 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return uint64(r.bo.Uint32(r.b[r.off-4:]))
}

func (r *lineBuf) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return r.bo.Uint64(r.b[r.off-8:])
}

func (r *lineBuf) skip(n uint64) {
	if n > uint64(len(r.b)) || !r.need(int(n)) {
		r.err = errShort
		return
	}
	r.off += int(n)
}

func (r *lineBuf) uleb() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := leb128.Uint(r.b[r.off:])
	if n == 0 {
		r.err = errShort
		return 0
	}
	r.off += n
	return v
}

func (r *lineBuf) sleb() int64 {
	if r.err != nil {
		return 0
	}
	v, n := leb128.Int(r.b[r.off:])
	if n == 0 {
		r.err = errShort
		return 0
	}
	r.off += n
	return v
}

func (r *lineBuf) cstr() string {
	if r.err != nil {
		return ""
	}
	i := bytes.IndexByte(r.b[r.off:], 0)
	if i < 0 {
		r.err = errShort
		return ""
	}
	s := string(r.b[r.off : r.off+i])
	r.off += i + 1
	return s
}

// strAt returns the NUL-terminated string at off in sec.
func strAt(sec []byte, off uint64) string {
	if off >= uint64(len(sec)) {
		return ""
	}
	s := sec[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

// lineFileNames reads the file table of the line program at off in
// .debug_line and returns the file names, indexed as dwarf.LineReader.Files
// indexes them, joined with the directories and compDir as binutils does.
func lineFileNames(line []byte, off int64, bo binary.ByteOrder, compDir string, lineStr, str []byte) ([]string, error) {
	if off < 0 || off >= int64(len(line)) {
		return nil, errShort
	}
	r := &lineBuf{b: line, off: int(off), bo: bo}
	dwarf64 := false
	if l := r.u32(); l == 0xffffffff {
		dwarf64 = true
		r.u64()
	}
	version := r.u16()
	if version < 2 || version > 5 {
		return nil, errors.New("unsupported line table version")
	}
	if version >= 5 {
		r.u8() // address_size
		r.u8() // segment_selector_size
	}
	if dwarf64 {
		r.u64() // header_length
	} else {
		r.u32()
	}
	r.u8() // minimum_instruction_length
	if version >= 4 {
		r.u8() // maximum_operations_per_instruction
	}
	r.u8() // default_is_stmt
	r.u8() // line_base
	r.u8() // line_range
	opBase := r.u8()
	if opBase > 0 {
		r.skip(opBase - 1)
	}

	type fileEnt struct {
		name string
		dir  uint64
	}
	var dirs []string
	var files []fileEnt
	if version < 5 {
		for {
			d := r.cstr()
			if d == "" || r.err != nil {
				break
			}
			dirs = append(dirs, d)
		}
		for {
			n := r.cstr()
			if n == "" || r.err != nil {
				break
			}
			dir := r.uleb()
			r.uleb() // mtime
			r.uleb() // length
			files = append(files, fileEnt{n, dir})
		}
	} else {
		// readEntries reads a DWARF 5 entry-format description and
		// the entries that follow, keeping the path and directory
		// index of each.
		readEntries := func() []fileEnt {
			nfmt := r.u8()
			type fmtPair struct{ lnct, form uint64 }
			fmts := make([]fmtPair, 0, nfmt)
			for i := uint64(0); i < nfmt && r.err == nil; i++ {
				fmts = append(fmts, fmtPair{r.uleb(), r.uleb()})
			}
			n := r.uleb()
			if n > uint64(len(r.b)) {
				r.err = errShort
				return nil
			}
			var out []fileEnt
			for i := uint64(0); i < n && r.err == nil; i++ {
				var e fileEnt
				for _, f := range fmts {
					var s string
					var v uint64
					switch f.form {
					case 0x08: // string
						s = r.cstr()
					case 0x1f: // line_strp
						if dwarf64 {
							s = strAt(lineStr, r.u64())
						} else {
							s = strAt(lineStr, r.u32())
						}
					case 0x0e: // strp
						if dwarf64 {
							s = strAt(str, r.u64())
						} else {
							s = strAt(str, r.u32())
						}
					case 0x0f: // udata
						v = r.uleb()
					case 0x0b: // data1
						v = r.u8()
					case 0x05: // data2
						v = r.u16()
					case 0x06: // data4
						v = r.u32()
					case 0x07: // data8
						v = r.u64()
					case 0x1e: // data16
						r.skip(16)
					case 0x09: // block
						r.skip(r.uleb())
					default:
						r.err = errors.New("unsupported form in line table header")
					}
					switch f.lnct {
					case 1: // DW_LNCT_path
						e.name = s
					case 2: // DW_LNCT_directory_index
						e.dir = v
					}
				}
				out = append(out, e)
			}
			return out
		}
		for _, d := range readEntries() {
			dirs = append(dirs, d.name)
		}
		files = readEntries()
	}
	if r.err != nil {
		return nil, r.err
	}

	// Index as dwarf.LineReader.Files does: before DWARF 5, file
	// numbers start at 1 and entry 0 is unused.
	var names []string
	if version < 5 {
		names = append(names, "")
	}
	for _, f := range files {
		dir := f.dir
		if version < 5 {
			dir-- // 0 (the compilation directory) wraps to "none"
		}
		names = append(names, binutilsJoin(compDir, dirs, dir, f.name))
	}
	return names, nil
}

// binutilsJoin is binutils' concat_filename: a relative file name is
// prefixed by its directory, and a relative directory (or none) by the
// compilation directory, joined with "/" and not cleaned.
func binutilsJoin(compDir string, dirs []string, dir uint64, name string) string {
	if name == "" || name[0] == '/' {
		return name
	}
	sub := ""
	if dir < uint64(len(dirs)) {
		sub = dirs[dir]
	}
	base := ""
	if sub == "" || sub[0] != '/' {
		base = compDir
	}
	if base == "" {
		base, sub = sub, ""
	}
	switch {
	case base == "":
		return name
	case sub != "":
		return base + "/" + sub + "/" + name
	default:
		return base + "/" + name
	}
}
