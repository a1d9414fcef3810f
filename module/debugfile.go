package module

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// buildID returns the hex NT_GNU_BUILD_ID of f, or "".
func buildID(f *elf.File) (id string) {
	defer func() {
		if recover() != nil {
			id = ""
		}
	}()
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		d, err := s.Data()
		if err != nil {
			continue
		}
		if id := noteBuildID(d, f.ByteOrder); id != "" {
			return id
		}
	}
	// Images without section headers (some vDSOs, core-dumped modules)
	// still have PT_NOTE.
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		d := make([]byte, p.Filesz)
		if _, err := p.ReadAt(d, 0); err != nil {
			continue
		}
		if id := noteBuildID(d, f.ByteOrder); id != "" {
			return id
		}
	}
	return ""
}

// ntGNUBuildID is the note type of a build ID in notes named "GNU"
// (NT_GNU_BUILD_ID in elf.h; debug/elf names only core-file note types).
const ntGNUBuildID = 3

// noteBuildID scans ELF notes for NT_GNU_BUILD_ID.
func noteBuildID(d []byte, bo binary.ByteOrder) string {
	for len(d) >= 12 {
		namesz := uint64(bo.Uint32(d[0:]))
		descsz := uint64(bo.Uint32(d[4:]))
		typ := bo.Uint32(d[8:])
		d = d[12:]
		nameEnd := (namesz + 3) &^ 3
		descEnd := (descsz + 3) &^ 3
		if nameEnd > uint64(len(d)) || descEnd > uint64(len(d))-nameEnd {
			return ""
		}
		name := d[:namesz]
		desc := d[nameEnd : nameEnd+descsz]
		d = d[nameEnd+descEnd:]
		if typ == ntGNUBuildID && string(bytes.TrimRight(name, "\x00")) == "GNU" && len(desc) > 0 {
			return hex.EncodeToString(desc)
		}
	}
	return ""
}

// debugLink returns the file name and CRC of the .gnu_debuglink section.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	defer func() {
		if recover() != nil {
			name, crc, ok = "", 0, false
		}
	}()
	s := f.Section(".gnu_debuglink")
	if s == nil || s.Type == elf.SHT_NOBITS {
		return "", 0, false
	}
	d, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	n := bytes.IndexByte(d, 0)
	if n <= 0 {
		return "", 0, false
	}
	// The CRC follows the NUL-terminated name, padded to 4 bytes.
	off := (n + 4) &^ 3
	if off+4 > len(d) {
		return "", 0, false
	}
	return string(d[:n]), f.ByteOrder.Uint32(d[off:]), true
}

// findDebug looks for the separate debug file: first by build ID in every
// debug directory, then by .gnu_debuglink next to the binary (full is the
// binary's path through Root, "" for an in-memory image), in its .debug/
// subdirectory, and under each debug directory. Candidates that do not
// match are rejected with a warning.
func (m *Module) findDebug(full string) {
	if m.BuildID != "" && len(m.BuildID) > 2 {
		for _, dir := range m.opts.debugDirs() {
			p := filepath.Join(dir, ".build-id", m.BuildID[:2], m.BuildID[2:]+".debug")
			if m.tryDebug(p, nil) {
				return
			}
		}
	}
	name, crc, ok := debugLink(m.File)
	if !ok || full == "" {
		return
	}
	dir := filepath.Dir(m.Path)
	cands := []string{
		filepath.Join(dir, name),
		filepath.Join(dir, ".debug", name),
	}
	for _, d := range m.opts.debugDirs() {
		cands = append(cands, filepath.Join(d, dir, name))
	}
	self, _ := os.Stat(full)
	for _, p := range cands {
		if fi, err := os.Stat(m.opts.rooted(p)); err != nil || (self != nil && os.SameFile(fi, self)) {
			// A debuglink naming the binary itself (the
			// stripped file kept its original name) is not a
			// debug file.
			continue
		}
		if m.tryDebug(p, &crc) {
			return
		}
	}
}

// tryDebug opens path (through Root) as the debug file, checking the CRC
// if crc is non-nil and the build ID if both files have one.
func (m *Module) tryDebug(path string, crc *uint32) bool {
	full := m.opts.rooted(path)
	fh, err := os.Open(full)
	if err != nil {
		if !os.IsNotExist(err) {
			m.warnf("debug file %s: %v", path, err)
		}
		return false
	}
	keep := false
	defer func() {
		if !keep {
			fh.Close()
		}
	}()
	if crc != nil {
		// Stream the CRC: debug files can be hundreds of megabytes and
		// need not stay in memory.
		h := crc32.NewIEEE()
		if _, err := io.Copy(h, fh); err != nil {
			m.warnf("debug file %s: %v", path, err)
			return false
		}
		if got := h.Sum32(); got != *crc {
			m.warnf("debug file %s rejected: CRC %08x, %s's .gnu_debuglink wants %08x", path, got, m.Path, *crc)
			return false
		}
	}
	keep = true // openMapped owns fh from here
	f, img, closer, err := openMapped(path, fh)
	if err != nil {
		m.warnf("debug file %s rejected: %v", path, err)
		return false
	}
	if id := buildID(f); id != "" && m.BuildID != "" && id != m.BuildID {
		m.warnf("debug file %s rejected: build ID %s, %s has %s", path, id, m.Path, m.BuildID)
		closer.Close()
		return false
	}
	if f.Machine != m.File.Machine || f.Class != m.File.Class {
		m.warnf("debug file %s rejected: %v %v, %s is %v %v", path, f.Machine, f.Class, m.Path, m.File.Machine, m.File.Class)
		closer.Close()
		return false
	}
	m.Debug = f
	m.DebugPath = path
	m.addImage(f, img, closer)
	return true
}
