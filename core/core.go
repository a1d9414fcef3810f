// Package core reads and writes Linux ELF core files.
//
// A core is one more producer of a target.Snapshot, the same data a live
// process gives through proc.Freeze: every thread's registers (decoded from
// NT_PRSTATUS with the architecture's arch.Arch.CoreRegs, in the byte order
// of the core's ELF header, so a core of any architecture is read on any
// host), the mappings (PT_LOAD segments, named by NT_FILE), the memory
// (the segments' bytes; what the core left out of a file-backed mapping is
// read from the mapped file) and where those files are found (their paths,
// below Options.Sysroot, or Options.Exe for the executable), checked by
// build-id. Cores compressed as systemd-coredump stores them (zstd, xz,
// lz4) are read directly.
//
// Write and, on Linux, Dump produce cores that gdb, delve and this package
// read: the notes and layout follow the kernel's fs/binfmt_elf.c.
package core

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/errs"
	"github.com/taijidbg/taiji/target"
)

// Options says where the files a core maps are found.
type Options struct {
	// Exe is the executable the process ran, when it is not at the path
	// the core names (a core from another machine, a binary rebuilt since).
	Exe string
	// Sysroot is a directory holding the files the core names, at the
	// same paths (a copy of the crashed machine's /, a cross toolchain's
	// sysroot). "" means /.
	Sysroot string
}

// A FormatError reports a core that is not a well-formed ELF core. Its
// message follows internal/errs: "core: FILE: NT_FILE note at offset
// 0x1f: msg: cause".
type FormatError struct {
	File    string
	Section string // the note or segment, "" if none
	Offset  int64  // offset in the core file, -1 if unknown
	Msg     string
	Err     error
}

func (e *FormatError) Error() string {
	return errs.Format("core", e.File, e.Section, e.Offset, e.Msg, e.Err)
}

// Unwrap returns the cause, or nil.
func (e *FormatError) Unwrap() error { return e.Err }

// ErrNotCore is wrapped by the error for an ELF file that is not a core
// (an executable or a library given in its place).
var ErrNotCore = errors.New("not a core file")

// Core is a core file opened for reading.
type Core struct {
	// Snapshot is the process as the core recorded it: its Live reads the
	// core's memory, its Files find the mapped files as Options say.
	Snapshot *target.Snapshot
	// Signal is the signal the core was written for (pr_cursig of the
	// first thread: the thread that received it), 0 if none; SignalTID is
	// that thread, Fault the faulting address si_addr when Signal is one
	// that has one (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
	Signal    int
	SignalTID int
	Fault     uint64
	HasFault  bool
	// Args is the command line as NT_PRPSINFO keeps it (at most 80 bytes).
	Args string

	closers []io.Closer
}

// Close releases the core and the mapped files it opened.
func (c *Core) Close() error {
	var first error
	for i := len(c.closers) - 1; i >= 0; i-- {
		if err := c.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	c.closers = nil
	return first
}

// Open opens the core file at path, decompressing it first if it is
// zstd, xz or lz4 (told by its first bytes, not its name). Errors are a
// *FormatError for a malformed core, one wrapping ErrNotCore for another
// kind of ELF file, or the file system's.
func Open(path string, opts Options) (*Core, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	r, size, err := decompress(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	if r != f {
		f.Close()
	}
	c, err := NewCore(r, size, path, opts)
	if err != nil {
		r.Close()
		return nil, err
	}
	c.closers = append([]io.Closer{r}, c.closers...)
	return c, nil
}

// maxNotes bounds the PT_NOTE bytes read: a core of 10,000 threads has a
// few MiB of notes.
const maxNotes = 256 << 20

// NewCore reads a core of size bytes from r; name is used in messages.
// See Open.
func NewCore(r io.ReaderAt, size int64, name string, opts Options) (c *Core, err error) {
	defer func() {
		// debug/elf has panicked on crafted headers before: a bad core
		// is an error, never a crash.
		if p := recover(); p != nil {
			c, err = nil, &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf("malformed core (%v)", p)}
		}
	}()
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, &FormatError{File: name, Offset: -1, Msg: "not an ELF core file", Err: err}
	}
	if ef.Type != elf.ET_CORE {
		return nil, fmt.Errorf("core: %s is an ELF %s, not a core: %w (give the core with --core and the program with --exe)", name, typeName(ef.Type), ErrNotCore)
	}
	a, err := arch.ForELF(ef)
	if err != nil {
		return nil, &FormatError{File: name, Offset: -1, Msg: "core of an unsupported architecture", Err: err}
	}
	b := &builder{name: name, size: size, r: r, a: a, opts: opts,
		snap: &target.Snapshot{Arch: a}, core: &Core{}}
	if err := b.readProgs(ef); err != nil {
		return nil, err
	}
	if len(b.threads) == 0 {
		return nil, &FormatError{File: name, Offset: -1, Msg: "no thread in the core (no NT_PRSTATUS note)"}
	}
	b.finish()
	return b.core, nil
}

func typeName(t elf.Type) string {
	switch t {
	case elf.ET_EXEC:
		return "executable (ET_EXEC)"
	case elf.ET_DYN:
		return "shared object or PIE (ET_DYN)"
	case elf.ET_REL:
		return "object file (ET_REL)"
	}
	return t.String()
}

// builder collects a core's parts into a Snapshot.
type builder struct {
	name string
	size int64
	r    io.ReaderAt
	a    *arch.Arch
	opts Options
	snap *target.Snapshot
	core *Core

	loads    []load
	threads  []*target.Thread
	files    []fileEntry
	pageSize uint64
	auxv     map[uint64]uint64
	ps       *psinfo
}

// load is one PT_LOAD segment.
type load struct {
	vaddr, memsz uint64
	off, filesz  uint64 // in the core file
	flags        elf.ProgFlag
}

// fileEntry is one NT_FILE entry.
type fileEntry struct {
	start, end, off uint64 // off in bytes
	path            string
}

func (b *builder) formatErr(section string, off int64, msg string, err error) error {
	return &FormatError{File: b.name, Section: section, Offset: off, Msg: msg, Err: err}
}

func (b *builder) readProgs(ef *elf.File) error {
	cut, cutFirst, cutEnd := 0, uint64(0), uint64(0)
	defer func() {
		if cut > 0 {
			// One note for all the segments a short file cut.
			b.snap.Warnings = append(b.snap.Warnings, fmt.Sprintf("the core is truncated: %d memory segments (the first at %#x) should reach file offset %#x, the file has %#x bytes; memory past its end reads as unavailable", cut, cutFirst, cutEnd, b.size))
		}
	}()
	for _, p := range ef.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Filesz > 0 && (p.Off > uint64(b.size) || p.Filesz > uint64(b.size)-p.Off) {
				// A core cut short (a full disk, a size limit):
				// keep what is there.
				if cut == 0 {
					cutFirst = p.Vaddr
				}
				cut++
				cutEnd = max(cutEnd, p.Off+p.Filesz)
				if p.Off > uint64(b.size) {
					p.Filesz = 0
				} else {
					p.Filesz = uint64(b.size) - p.Off
				}
			}
			if p.Memsz < p.Filesz || p.Vaddr+p.Memsz < p.Vaddr {
				return b.formatErr("PT_LOAD", int64(p.Off), fmt.Sprintf("segment at %#x: memory size %#x smaller than its file size %#x, or past the address space", p.Vaddr, p.Memsz, p.Filesz), nil)
			}
			b.loads = append(b.loads, load{vaddr: p.Vaddr, memsz: p.Memsz, off: p.Off, filesz: p.Filesz, flags: p.Flags})
		case elf.PT_NOTE:
			if p.Filesz > maxNotes || p.Off > uint64(b.size) || p.Filesz > uint64(b.size)-p.Off {
				return b.formatErr("PT_NOTE", int64(p.Off), fmt.Sprintf("notes of %#x bytes run past the file's end (%#x bytes): the core is truncated", p.Filesz, b.size), nil)
			}
			d := make([]byte, p.Filesz)
			if _, err := b.r.ReadAt(d, int64(p.Off)); err != nil {
				return b.formatErr("PT_NOTE", int64(p.Off), "cannot read notes", err)
			}
			notes, err := parseNotes(d, b.a.ByteOrder)
			if err != nil {
				return b.formatErr("PT_NOTE", int64(p.Off), "", err)
			}
			for _, n := range notes {
				if err := b.note(n, int64(p.Off)+n.off); err != nil {
					return err
				}
			}
		}
	}
	sort.Slice(b.loads, func(i, j int) bool { return b.loads[i].vaddr < b.loads[j].vaddr })
	return nil
}

// Layout of the 64-bit struct elf_prstatus (include/linux/elfcore.h), the
// same on every 64-bit Linux arch up to pr_reg, whose size is the arch's.
const (
	prInfoSigno = 0   // pr_info.si_signo
	prCursig    = 12  // int16
	prPid       = 32  // then ppid, pgrp, sid
	prReg       = 112 // elf_gregset_t
)

func (b *builder) note(n note, off int64) error {
	if n.name != "CORE" && n.name != "LINUX" {
		return nil
	}
	bo := b.a.ByteOrder
	switch n.typ {
	case elf.NT_PRSTATUS:
		nregs := len(b.a.CoreRegs)
		if len(n.desc) < prReg+nregs*8 {
			return b.formatErr("NT_PRSTATUS note", off, fmt.Sprintf("%d bytes, a %s elf_prstatus holds %d", len(n.desc), b.a.Name, prReg+nregs*8+8), nil)
		}
		t := &target.Thread{TID: int(int32(bo.Uint32(n.desc[prPid:])))}
		t.Info.PPid = int(int32(bo.Uint32(n.desc[prPid+4:])))
		t.Regs, t.TLS = decodeRegs(b.a, n.desc[prReg:prReg+nregs*8])
		if len(b.threads) == 0 {
			b.core.Signal = int(int16(bo.Uint16(n.desc[prCursig:])))
			if b.core.Signal == 0 {
				b.core.Signal = int(int32(bo.Uint32(n.desc[prInfoSigno:])))
			}
			b.core.SignalTID = t.TID
		}
		b.threads = append(b.threads, t)
	case elf.NT_PRPSINFO:
		ps, err := parsePsinfo(n.desc, bo)
		if err != nil {
			return b.formatErr("NT_PRPSINFO note", off, "", err)
		}
		b.ps = ps
	case ntAuxv:
		b.auxv = map[uint64]uint64{}
		for i := 0; i+16 <= len(n.desc); i += 16 {
			b.auxv[bo.Uint64(n.desc[i:])] = bo.Uint64(n.desc[i+8:])
		}
	case ntFile:
		files, page, err := parseFileNote(n.desc, bo)
		if err != nil {
			return b.formatErr("NT_FILE note", off, "", err)
		}
		b.files, b.pageSize = files, page
	case ntSiginfo:
		// Only the first (the signalled thread's) says where it faulted.
		if len(b.threads) == 1 && len(n.desc) >= 24 && !b.core.HasFault && faultSignal(b.core.Signal) {
			b.core.Fault, b.core.HasFault = bo.Uint64(n.desc[16:]), true
		}
	case ntARMTLS:
		if len(b.threads) > 0 && len(n.desc) >= 8 {
			b.threads[len(b.threads)-1].TLS = bo.Uint64(n.desc)
		}
	}
	return nil
}

// decodeRegs decodes elf_gregset_t as a's CoreRegs lay it out.
func decodeRegs(a *arch.Arch, d []byte) (r arch.Regs, tls uint64) {
	for i, slot := range a.CoreRegs {
		v := a.ByteOrder.Uint64(d[i*8:])
		switch slot {
		case arch.SlotPC:
			r.PC = v
		case arch.SlotTLS:
			tls = v
		case arch.SlotSkip:
		default:
			r.Set(slot, v)
		}
	}
	return r, tls
}

// psinfo is what a core's NT_PRPSINFO says of the process.
type psinfo struct {
	state      string // pr_sname
	pid, ppid  int
	name, args string
}

// parsePsinfo decodes the 64-bit struct elf_prpsinfo: pr_state, pr_sname,
// pr_zomb, pr_nice, pad, pr_flag (8), pr_uid, pr_gid (4 each), pr_pid,
// pr_ppid, pr_pgrp, pr_sid, pr_fname[16], pr_psargs[80].
func parsePsinfo(d []byte, bo binary.ByteOrder) (*psinfo, error) {
	if len(d) < 136 {
		return nil, fmt.Errorf("%d bytes, elf_prpsinfo holds 136", len(d))
	}
	ps := &psinfo{pid: int(int32(bo.Uint32(d[24:]))), ppid: int(int32(bo.Uint32(d[28:])))}
	if d[1] != 0 {
		ps.state = string(d[1:2])
	}
	ps.name = cstring(d[40:56])
	ps.args = strings.TrimRight(cstring(d[56:136]), " ")
	return ps, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseFileNote decodes NT_FILE: count and page size, then count (start,
// end, offset in pages) triples, then count NUL-terminated paths.
func parseFileNote(d []byte, bo binary.ByteOrder) ([]fileEntry, uint64, error) {
	if len(d) < 16 {
		return nil, 0, fmt.Errorf("%d bytes, too short for its header", len(d))
	}
	count, page := bo.Uint64(d), bo.Uint64(d[8:])
	if count > uint64(len(d))/24 {
		return nil, 0, fmt.Errorf("%d entries do not fit in %d bytes", count, len(d))
	}
	if page == 0 || page&(page-1) != 0 || page > 1<<30 {
		return nil, 0, fmt.Errorf("page size %#x is not a power of two", page)
	}
	names := d[16+count*24:]
	out := make([]fileEntry, count)
	for i := range out {
		e := d[16+i*24:]
		out[i] = fileEntry{start: bo.Uint64(e), end: bo.Uint64(e[8:]), off: bo.Uint64(e[16:]) * page}
		j := bytes.IndexByte(names, 0)
		if j < 0 {
			return nil, 0, fmt.Errorf("entry %d of %d has no file name", i, count)
		}
		out[i].path, names = string(names[:j]), names[j+1:]
	}
	return out, page, nil
}

// faultSignal reports whether sig's siginfo carries a fault address: SIGILL
// (4), SIGTRAP (5), SIGFPE (8), SIGSEGV (11) everywhere, SIGBUS (7, or 10
// on mips).
func faultSignal(sig int) bool {
	switch sig {
	case 4, 5, 7, 8, 10, 11:
		return true
	}
	return false
}

// Auxiliary vector keys (include/uapi/linux/auxvec.h).
const (
	atEntry       = 9
	atSysinfoEhdr = 33
)

// finish builds the snapshot from the parts read.
func (b *builder) finish() {
	s := b.snap
	c := b.core
	c.Snapshot = s
	// Mappings: one per PT_LOAD, named by the NT_FILE entry that starts
	// there (the kernel writes one segment per VMA, and NT_FILE lists the
	// file-backed ones).
	byStart := map[uint64]*fileEntry{}
	for i := range b.files {
		byStart[b.files[i].start] = &b.files[i]
	}
	vdso := b.auxv[atSysinfoEhdr]
	for _, l := range b.loads {
		m := target.Mapping{Start: l.vaddr, End: l.vaddr + l.memsz, Perm: perm(l.flags)}
		if fe := byStart[l.vaddr]; fe != nil {
			m.Path, m.Offset = fe.path, fe.off
			delete(byStart, l.vaddr)
		} else if vdso != 0 && l.vaddr == vdso {
			m.Path = "[vdso]"
		}
		s.Maps = append(s.Maps, m)
	}
	// A file mapping with no segment (a core writer that lists only some
	// VMAs as segments) is a mapping all the same: its bytes are the file's.
	// Its permissions are the file's own for that part.
	s.Exe = b.exe()
	files := newFiles(b, s)
	for _, fe := range b.files {
		if byStart[fe.start] != nil && fe.end > fe.start {
			s.Maps = append(s.Maps, target.Mapping{Start: fe.start, End: fe.end, Offset: fe.off, Perm: files.perm(fe.path, fe.off), Path: fe.path})
		}
	}
	sort.Slice(s.Maps, func(i, j int) bool { return s.Maps[i].Start < s.Maps[j].Start })

	if b.ps != nil {
		s.Pid, c.Args = b.ps.pid, b.ps.args
	}
	if s.Pid == 0 {
		s.Pid = b.threads[0].TID
	}
	// Threads: the leader first, then by TID, as a live snapshot orders
	// them. The core keeps the process's name and state only.
	for _, t := range b.threads {
		if b.ps != nil {
			t.Info.Name, t.Info.State = b.ps.name, b.ps.state
			if t.Info.PPid == 0 {
				t.Info.PPid = b.ps.ppid
			}
		}
	}
	sort.SliceStable(b.threads, func(i, j int) bool {
		ti, tj := b.threads[i], b.threads[j]
		if (ti.TID == s.Pid) != (tj.TID == s.Pid) {
			return ti.TID == s.Pid
		}
		return ti.TID < tj.TID
	})
	s.Threads = b.threads

	s.Files = files
	mem := &memory{loads: b.loads, r: b.r, maps: s.Maps, files: files}
	s.Live = mem
	s.Warnings = append(s.Warnings, files.check(mem)...)
	c.closers = append(c.closers, files)
	if vdso != 0 {
		if m := target.Find(s.Maps, vdso); m != nil && m.End-m.Start <= 1<<20 {
			buf := make([]byte, m.End-m.Start)
			if n, _ := mem.ReadAt(buf, int64(m.Start)); n == len(buf) {
				s.VDSO, s.VDSOAddr = buf, m.Start
			}
		}
	}
}

// exe returns the path of the executable: the file mapped where the
// program's entry point is, else the first file mapped (the kernel lists
// mappings by address, and the executable's come first).
func (b *builder) exe() string {
	if e, ok := b.auxv[atEntry]; ok {
		for _, fe := range b.files {
			if fe.start <= e && e < fe.end {
				return fe.path
			}
		}
	}
	if len(b.files) > 0 {
		return b.files[0].path
	}
	return ""
}

// perm renders segment flags as /proc/PID/maps does ("r-xp"); a core does
// not say whether a mapping was shared.
func perm(f elf.ProgFlag) string {
	p := []byte("---p")
	if f&elf.PF_R != 0 {
		p[0] = 'r'
	}
	if f&elf.PF_W != 0 {
		p[1] = 'w'
	}
	if f&elf.PF_X != 0 {
		p[2] = 'x'
	}
	return string(p)
}
