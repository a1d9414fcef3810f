// Package module is one loaded ELF module as the unwinder and the symbolizer
// see it: the binary, its separate debug file, its symbols, its DWARF line
// tables and inline frames (loaded lazily, per compile unit), demangled
// names, and the load bias of a mapping.
//
// The package does not interpret call-frame information or Go's pclntab: it
// hands out the raw section bytes (Section) to the packages that do.
package module

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/errs"
)

// Options says where to look for files.
type Options struct {
	// Root is prefixed to every path opened, e.g. "/proc/1234/root", so that
	// the modules of a containerised process are found in its own mount
	// namespace. "" means "/".
	Root string
	// DebugDirs are the global debug directories searched for separate
	// debug files. nil means []string{"/usr/lib/debug"}.
	DebugDirs []string
	// CacheDir, if set, keeps inflated copies of compressed debug sections
	// between runs, keyed by build-id (see DefaultCacheDir). "" disables it.
	CacheDir string
}

func (o *Options) debugDirs() []string {
	if o.DebugDirs == nil {
		return []string{"/usr/lib/debug"}
	}
	return o.DebugDirs
}

// rooted returns path as seen through o.Root.
func (o *Options) rooted(path string) string {
	if o.Root == "" || o.Root == "/" {
		return path
	}
	return filepath.Join(o.Root, path)
}

// A FormatError reports that a file is not a well-formed ELF or DWARF file.
// It names the file and, where known, the section and offset, says what is
// wrong and keeps the error that revealed it (see Unwrap). Its message
// follows internal/errs: "module: FILE: .debug_info at offset 0x1f: msg".
type FormatError struct {
	File    string // path of the file (binary or debug file)
	Section string // "" if not specific to a section
	Offset  int64  // offset within the section (or file), -1 if unknown
	Msg     string
	Err     error // the cause (from debug/elf, debug/dwarf, ...), or nil
}

func (e *FormatError) Error() string {
	return errs.Format("module", e.File, e.Section, e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// Module is one ELF file (an executable, a shared library, the vDSO) plus
// whatever separate debug file was found for it.
type Module struct {
	Path      string    // path as given (as named in /proc/PID/maps)
	File      *elf.File // the binary itself
	Debug     *elf.File // separate debug file, or nil
	DebugPath string    // where the debug file was found ("" if none)
	BuildID   string    // hex of NT_GNU_BUILD_ID, "" if none
	Arch      *arch.Arch

	opts    Options
	closers []io.Closer
	// images holds the mapped bytes of File and Debug (see openMapped):
	// sections that are stored uncompressed are sliced from them, so a
	// run pays in page faults for what it reads, not in heap for whole
	// sections. No entry where the file is not mapped (FromBytes, or no
	// mmap on this system): sections are then read.
	images map[*elf.File][]byte

	mu       sync.Mutex
	warnings []string
	sections map[sectionKey]sectionData

	symOnce sync.Once
	syms    *symtab

	dwarfOnce sync.Once
	dw        *dwarfIndex
	dwErr     error

	split splitState // .dwo and .dwp files (split.go)
}

type sectionKey struct {
	name       string
	debugFirst bool
}

type sectionData struct {
	data []byte
	addr uint64
	ok   bool
}

// Open opens the ELF file at path (through opts.Root) and looks for its
// separate debug file, by build ID then by .gnu_debuglink.
func Open(path string, opts Options) (m *Module, err error) {
	full := opts.rooted(path)
	f, err := os.Open(full)
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	ef, img, closer, err := openMapped(full, f)
	if err != nil {
		return nil, err
	}
	m, err = newModule(path, ef, opts)
	if err != nil {
		closer.Close()
		return nil, err
	}
	m.addImage(ef, img, closer)
	m.findDebug(full)
	return m, nil
}

// openMapped reads the ELF file f (named name in messages) from a
// read-only shared mapping of it where the system has mmap, else from f
// itself. A 121 MB Go binary costs a few megabytes of resident pages this
// way: its pclntab and symbol table are read in place and what is not
// read is never loaded. On success the closer owns f and the mapping
// (img, nil when f is read instead); on failure f is closed.
func openMapped(name string, f *os.File) (ef *elf.File, img []byte, closer io.Closer, err error) {
	var r io.ReaderAt = f
	closer = f
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && int64(int(fi.Size())) == fi.Size() {
		if d, unmap, err := mapFile(f, int(fi.Size())); err == nil && mmapped {
			// The mapping outlives the descriptor.
			f.Close()
			img, r, closer = d, bytes.NewReader(d), unmap
		}
	}
	ef, err = newELF(name, r)
	if err != nil {
		closer.Close()
		return nil, nil, nil, err
	}
	return ef, img, closer, nil
}

// addImage records that the module holds f, mapped at img (nil if not
// mapped), and must close closer.
func (m *Module) addImage(f *elf.File, img []byte, closer io.Closer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if img != nil {
		if m.images == nil {
			m.images = make(map[*elf.File][]byte)
		}
		m.images[f] = img
	}
	m.closers = append(m.closers, closer)
}

// stored returns the bytes of section s of f in place, from f's mapping,
// when it has one and s is stored uncompressed; else ok is false and the
// section must be read (and inflated). The slice must not be modified.
func (m *Module) stored(f *elf.File, s *elf.Section) (data []byte, ok bool) {
	if s == nil || s.Type == elf.SHT_NOBITS || s.Flags&elf.SHF_COMPRESSED != 0 {
		return nil, false
	}
	m.mu.Lock()
	img := m.images[f]
	m.mu.Unlock()
	if img == nil || s.Offset > uint64(len(img)) || s.FileSize > uint64(len(img))-s.Offset {
		return nil, false
	}
	return img[s.Offset : s.Offset+s.FileSize : s.Offset+s.FileSize], true
}

// SectionData returns the contents of section s of the binary or of its
// debug file: in place from the file's mapping where possible, else read
// and, if compressed, inflated. It serves readers such as pclntab that
// walk an elf.File's section headers themselves. The slice is shared; do
// not modify it.
func (m *Module) SectionData(s *elf.Section) ([]byte, error) {
	for _, f := range []*elf.File{m.File, m.Debug} {
		if f == nil {
			continue
		}
		for _, fs := range f.Sections {
			if fs == s {
				if d, ok := m.stored(f, s); ok {
					return d, nil
				}
				return s.Data()
			}
		}
	}
	return s.Data()
}

// FromBytes makes a module of an ELF image held in memory, such as the
// [vdso] read from a process. name is used in messages. Only the build-ID
// lookup is tried for a debug file, since the image has no directory.
// Sections are sliced from data, which must not change while the module
// is in use.
func FromBytes(name string, data []byte, opts Options) (*Module, error) {
	ef, err := newELF(name, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	m, err := newModule(name, ef, opts)
	if err != nil {
		return nil, err
	}
	m.addImage(ef, data, io.NopCloser(nil))
	m.findDebug("")
	return m, nil
}

// newELF wraps elf.NewFile, turning its errors (and, as a last line of
// defence, its panics) into FormatErrors naming the file.
func newELF(name string, r io.ReaderAt) (f *elf.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf("malformed ELF file (%v)", p)}
		}
	}()
	f, err = elf.NewFile(r)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return nil, &FormatError{File: name, Offset: -1, Msg: "not a valid ELF file", Err: err}
		}
		return nil, &FormatError{File: name, Offset: -1, Msg: "cannot read ELF file", Err: err}
	}
	return f, nil
}

func newModule(path string, f *elf.File, opts Options) (*Module, error) {
	a, err := arch.ForELF(f)
	if err != nil {
		return nil, &FormatError{File: path, Offset: -1, Err: err}
	}
	m := &Module{
		Path:     path,
		File:     f,
		Arch:     a,
		opts:     opts,
		sections: make(map[sectionKey]sectionData),
	}
	m.BuildID = buildID(f)
	return m, nil
}

// Close releases the files the module holds open and unmaps them: the
// slices Section, SectionData and DWARF handed out must not be used after
// it (strings, such as names, stay valid).
func (m *Module) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	m.images = nil
	return first
}

// Warnings returns problems that did not stop the module from loading, such
// as a debug file rejected for a CRC or build-ID mismatch, or corrupt DWARF.
func (m *Module) Warnings() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.warnings...)
}

func (m *Module) warnf(format string, args ...any) {
	m.mu.Lock()
	m.warnings = append(m.warnings, fmt.Sprintf(format, args...))
	m.mu.Unlock()
}

// Section returns the contents and link address of the named section,
// looking first in the binary, then in the debug file. Copies of type
// SHT_NOBITS are skipped: an `objcopy --only-keep-debug` file keeps
// .eh_frame and .text as NOBITS, so frame information comes from the
// stripped binary while symbols and lines come from the debug file.
// Compressed sections (SHF_COMPRESSED and the older .zdebug_*) are
// decompressed. The returned slice is shared; do not modify it.
func (m *Module) Section(name string) (data []byte, addr uint64, ok bool) {
	return m.SectionFrom(false, name)
}

// SectionFrom is Section, looking first in the debug file if debugFirst.
func (m *Module) SectionFrom(debugFirst bool, name string) (data []byte, addr uint64, ok bool) {
	key := sectionKey{name, debugFirst}
	m.mu.Lock()
	sd, cached := m.sections[key]
	m.mu.Unlock()
	if cached {
		return sd.data, sd.addr, sd.ok
	}
	files := []*elf.File{m.File, m.Debug}
	paths := []string{m.Path, m.DebugPath}
	if debugFirst {
		files[0], files[1] = files[1], files[0]
		paths[0], paths[1] = paths[1], paths[0]
	}
	for i, f := range files {
		if f == nil {
			continue
		}
		d, a, found, err := m.sectionData1(f, name)
		if err != nil {
			m.warnf("%v", &FormatError{File: paths[i], Section: name, Offset: -1, Err: err})
			continue
		}
		if found {
			sd = sectionData{d, a, true}
			break
		}
	}
	m.mu.Lock()
	m.sections[key] = sd
	m.mu.Unlock()
	return sd.data, sd.addr, sd.ok
}

// sectionData1 returns one section of f, skipping NOBITS copies: in place
// from f's mapping if it is stored uncompressed, else through the cache
// of inflated sections; .zdebug_* sections are decompressed when .debug_*
// is asked for.
func (m *Module) sectionData1(f *elf.File, name string) (data []byte, addr uint64, ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, addr, ok, err = nil, 0, false, fmt.Errorf("malformed section (%v)", p)
		}
	}()
	if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
		if d, ok := m.stored(f, s); ok {
			return d, s.Addr, true, nil
		}
		var d []byte
		if f == m.File || f == m.Debug {
			d, err = m.cachedSection(f, s)
		} else {
			d, err = s.Data() // a .dwo file: the cache is keyed by m's build ID
		}
		if err != nil {
			return nil, 0, false, err
		}
		return d, s.Addr, true, nil
	}
	if rest, ok := strings.CutPrefix(name, ".debug_"); ok {
		if s := f.Section(".zdebug_" + rest); s != nil && s.Type != elf.SHT_NOBITS {
			d, ok := m.stored(f, s)
			if !ok {
				if d, err = s.Data(); err != nil {
					return nil, 0, false, err
				}
			}
			d, err = unzdebug(d)
			if err != nil {
				return nil, 0, false, err
			}
			return d, s.Addr, true, nil
		}
	}
	return nil, 0, false, nil
}

// maxDecompressed bounds what a .zdebug header may claim, so a corrupt
// size cannot make us allocate the machine's memory.
const maxDecompressed = 1 << 30

// unzdebug decompresses the GNU .zdebug format: "ZLIB", a big-endian
// 64-bit uncompressed size, then a zlib stream.
func unzdebug(d []byte) ([]byte, error) {
	if len(d) < 12 || string(d[:4]) != "ZLIB" {
		return d, nil // not compressed after all
	}
	n := binary.BigEndian.Uint64(d[4:12])
	if n > maxDecompressed {
		return nil, fmt.Errorf("compressed section claims %d bytes", n)
	}
	zr, err := zlib.NewReader(bytes.NewReader(d[12:]))
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(zr, out); err != nil {
		return nil, fmt.Errorf("decompressing: %v", err)
	}
	return out, nil
}

// Bias returns the load bias of a mapping of this module that starts at
// address mapStart and maps file offset mapOffset: bias = mapStart - vaddr,
// where vaddr is the link-time address of file offset mapOffset, found in
// the PT_LOAD segment holding it. Add the bias to a link-time address to get
// a run-time address. For non-PIE executables (ET_EXEC) the bias is 0.
//
// Pass the executable mapping or the one at file offset 0: the RELRO part
// of the data segment is mapped read-only from the same file page as
// .rodata, so for that mapping the offset alone is ambiguous.
func (m *Module) Bias(mapStart, mapOffset uint64) (uint64, bool) {
	if m.File.Type == elf.ET_EXEC {
		return 0, true
	}
	p := m.loadFor(mapOffset)
	if p == nil {
		return 0, false
	}
	vaddr := p.Vaddr - p.Off + mapOffset
	return mapStart - vaddr, true
}

// loadFor returns the PT_LOAD segment a mapping of file offset off belongs to.
// The kernel maps a segment from its file offset rounded down to a page, so
// off may lie a little before the segment. When segments share a file page
// the mapping's start belongs to the segment that starts in that page: prefer
// it over the segment that merely contains off.
func (m *Module) loadFor(off uint64) *elf.Prog {
	const maxPage = 64 << 10 // the largest page size of any supported arch
	var inside *elf.Prog
	var best *elf.Prog
	for _, p := range m.File.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		align := p.Align
		if align == 0 || align > maxPage {
			align = maxPage
		}
		if off <= p.Off && p.Off-off < align {
			if best == nil || p.Off < best.Off {
				best = p
			}
		}
		if off >= p.Off && off-p.Off < p.Filesz && inside == nil {
			inside = p
		}
	}
	if best != nil {
		return best
	}
	return inside
}

// Code returns n bytes of the file image at link-time address addr, read
// from the PT_LOAD segment holding them. The unwinder uses it to recognise
// signal trampolines.
func (m *Module) Code(addr uint64, n int) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, &FormatError{File: m.Path, Offset: -1, Msg: fmt.Sprintf("reading code (%v)", p)}
		}
	}()
	if n < 0 {
		return nil, fmt.Errorf("module: %s: negative length %d", m.Path, n)
	}
	for _, p := range m.File.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr-p.Vaddr >= p.Filesz {
			continue
		}
		if uint64(n) > p.Filesz-(addr-p.Vaddr) {
			return nil, fmt.Errorf("module: %s: %d bytes at %#x run past the end of the segment", m.Path, n, addr)
		}
		b := make([]byte, n)
		if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil {
			return nil, fmt.Errorf("module: %s: reading %d bytes at %#x: %v", m.Path, n, addr, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("module: %s: address %#x is not in the file image of any loadable segment", m.Path, addr)
}
