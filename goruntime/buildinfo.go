package goruntime

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// buildInfoMagic starts the .go.buildinfo section (debug/buildinfo).
var buildInfoMagic = []byte("\xff Go buildinf:")

// GoVersion returns the Go version a binary was built with ("go1.22.3"),
// read from its .go.buildinfo section as debug/buildinfo does, or "" when
// there is none. It reads the inline format of go1.18 and later (flag bit 2
// of the header): the releases taiji supports. It never panics on a
// malformed section.
func GoVersion(f *elf.File) string {
	s := f.Section(".go.buildinfo")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return ""
	}
	const hdr = 32
	b := make([]byte, min(s.Size, 4096))
	if n, _ := s.ReadAt(b, 0); n < hdr {
		return ""
	}
	return VersionFromBuildInfo(b)
}

// VersionFromBuildInfo returns the Go version in the leading bytes of a
// .go.buildinfo section: a 32-byte header (magic, pointer size, flags), then,
// in the inline format, the version as a uvarint-prefixed string. "" if the
// bytes are not that.
func VersionFromBuildInfo(b []byte) string {
	const hdr = 32
	if len(b) < hdr || !bytes.HasPrefix(b, buildInfoMagic) || b[15]&2 == 0 {
		return ""
	}
	n, w := binary.Uvarint(b[hdr:])
	if w <= 0 || n > uint64(len(b)-hdr-w) {
		return ""
	}
	return string(b[hdr+w : hdr+w+int(n)])
}
