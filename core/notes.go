package core

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
)

// Note types of a Linux core that debug/elf does not name (include/uapi/linux/elf.h).
const (
	ntFile       elf.NType = 0x46494c45 // "FILE": the mapped files
	ntSiginfo    elf.NType = 0x53494749 // "SIGI": siginfo_t of the signal that dumped
	ntARMTLS     elf.NType = 0x401      // arm64 TPIDR_EL0
	ntAuxv       elf.NType = 6          // the auxiliary vector
	ntGNUBuildID           = 3          // in notes named "GNU"
)

// note is one ELF note: its name (without the NUL), type and descriptor.
type note struct {
	name string
	typ  elf.NType
	desc []byte
	off  int64 // offset of the note's header in the data scanned
}

// parseNotes splits a PT_NOTE segment into notes. Name and descriptor are
// padded to 4 bytes, as Linux writes them in 64-bit cores too (the gABI's
// 8-byte alignment is used by no one for core notes). A truncated note
// ends the list with an error; the notes before it are returned.
func parseNotes(d []byte, bo binary.ByteOrder) ([]note, error) {
	var out []note
	off := 0
	for len(d)-off >= 12 {
		namesz := uint64(bo.Uint32(d[off:]))
		descsz := uint64(bo.Uint32(d[off+4:]))
		typ := elf.NType(bo.Uint32(d[off+8:]))
		p := uint64(off) + 12
		nameEnd := p + namesz
		descStart := align4(nameEnd)
		descEnd := descStart + descsz
		if namesz > uint64(len(d)) || descsz > uint64(len(d)) || descEnd > uint64(len(d)) {
			return out, fmt.Errorf("note at offset %#x: name of %d and descriptor of %d bytes run past the segment's %d", off, namesz, descsz, len(d))
		}
		name := d[p:nameEnd]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, note{name: string(name), typ: typ, desc: d[descStart:descEnd], off: int64(off)})
		next := align4(descEnd)
		if next > uint64(len(d)) {
			break
		}
		off = int(next)
	}
	return out, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// elfHeaderBuildID returns the hex NT_GNU_BUILD_ID of the ELF image whose
// first bytes are hdr (a loaded file's first page, as a core keeps it), or
// "" if hdr holds none: the build-id note must lie in hdr, where linkers
// put it, right after the program headers.
func elfHeaderBuildID(hdr []byte) string {
	if len(hdr) < 64 || string(hdr[:4]) != elf.ELFMAG || hdr[elf.EI_CLASS] != byte(elf.ELFCLASS64) {
		return ""
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if hdr[elf.EI_DATA] == byte(elf.ELFDATA2MSB) {
		bo = binary.BigEndian
	}
	phoff, phentsize, phnum := bo.Uint64(hdr[32:]), uint64(bo.Uint16(hdr[54:])), uint64(bo.Uint16(hdr[56:]))
	if phentsize < 56 {
		return ""
	}
	for i := uint64(0); i < phnum; i++ {
		ph := phoff + i*phentsize
		if ph+56 > uint64(len(hdr)) {
			return ""
		}
		if elf.ProgType(bo.Uint32(hdr[ph:])) != elf.PT_NOTE {
			continue
		}
		off, size := bo.Uint64(hdr[ph+8:]), bo.Uint64(hdr[ph+32:])
		if off > uint64(len(hdr)) || size > uint64(len(hdr))-off {
			continue
		}
		notes, _ := parseNotes(hdr[off:off+size], bo)
		for _, n := range notes {
			if n.name == "GNU" && n.typ == ntGNUBuildID && len(n.desc) > 0 {
				return fmt.Sprintf("%x", n.desc)
			}
		}
	}
	return ""
}
