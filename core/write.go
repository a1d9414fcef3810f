package core

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/target"
)

// Process is the state of a process that Write puts in a core, as plain
// data: what a producer (Dump, for a live process) gathered.
type Process struct {
	Arch     *arch.Arch
	PageSize uint64
	// What NT_PRPSINFO says of the process (struct elf_prpsinfo).
	Pid, PPid, Pgrp, Sid int
	Name                 string // comm, at most 15 bytes
	Args                 string // the command line, words joined by spaces
	State                byte   // 'R', 'S', 'D', 'T', 't', 'Z', ...
	Nice                 int8
	Flags                uint64 // PF_* task flags
	UID, GID             uint32
	// Threads: the first is the one NT_PRPSINFO, NT_SIGINFO, NT_AUXV and
	// NT_FILE follow, as in the kernel's cores (the thread that received
	// the signal, or the leader).
	Threads  []ThreadState
	Auxv     []byte    // /proc/PID/auxv
	Segments []Segment // one per mapping, sorted by address
	// Memory reads the process's memory for the segments' bytes. A page
	// it cannot read is left a hole (reads back as zeros).
	Memory io.ReaderAt
}

// ThreadState is one thread's part of a core.
type ThreadState struct {
	TID int
	// Regs is elf_gregset_t (PTRACE_GETREGSET NT_PRSTATUS): it must hold
	// len(Arch.CoreRegs) registers.
	Regs []byte
	// FPRegs is NT_FPREGSET's contents (PTRACE_GETREGSET NT_PRFPREG), nil
	// if the kernel gave none.
	FPRegs []byte
	// Regsets are the other register sets (Arch.CoreRegsets the kernel
	// gave), written as notes named "LINUX" after NT_FPREGSET.
	Regsets []Regset
	// Siginfo is the 128-byte siginfo_t of Signal, nil if none.
	Siginfo []byte
	Signal  int
	// SigPend and SigHold are the pending and blocked signal masks.
	SigPend, SigHold uint64
}

// Regset is one register-set note of a thread.
type Regset struct {
	Type elf.NType
	Data []byte
}

// Segment is a mapping and how much of it the core holds: Dump bytes from
// its start (0, the first page for an ELF header, or all of it).
type Segment struct {
	target.Mapping
	Dump uint64
}

// WriterAt is where Write writes a core: an *os.File.
type WriterAt interface {
	io.WriterAt
	Truncate(size int64) error
}

// WriteStats says what Write wrote.
type WriteStats struct {
	Size       int64 // the core's size (holes included)
	Written    int64 // bytes of memory written (pages of zeros are left holes)
	Unreadable int   // pages the process could not be read at (left holes)
}

// Write writes p as an ELF core to w, in the layout of the kernel's
// fs/binfmt_elf.c: the ELF header, the program headers (PT_NOTE, then one
// PT_LOAD per segment), the notes, then each segment's bytes from a page
// boundary. Pages of zeros are not written: the file is sparse there.
func Write(w WriterAt, p *Process) (WriteStats, error) {
	var st WriteStats
	a := p.Arch
	bo := a.ByteOrder
	if a.PtrSize != 8 {
		return st, fmt.Errorf("core: writing %s cores is not supported (64-bit only)", a.Name)
	}
	nphdr := 1 + len(p.Segments)
	if nphdr >= 0xffff {
		return st, fmt.Errorf("core: %d mappings: more than an ELF header can count without extended numbering, which taiji does not write", len(p.Segments))
	}
	notes, err := p.notes()
	if err != nil {
		return st, err
	}
	page := p.PageSize
	if page == 0 {
		page = 4096
	}
	noteOff := uint64(64 + 56*nphdr)
	dataOff := (noteOff + uint64(len(notes)) + page - 1) &^ (page - 1)

	var hdr bytes.Buffer
	ident := [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	if bo == binary.BigEndian {
		ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	}
	binary.Write(&hdr, bo, elf.Header64{
		Ident: ident, Type: uint16(elf.ET_CORE), Machine: uint16(a.Machine), Version: uint32(elf.EV_CURRENT),
		Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: uint16(nphdr),
	})
	binary.Write(&hdr, bo, elf.Prog64{Type: uint32(elf.PT_NOTE), Off: noteOff, Filesz: uint64(len(notes))})
	off := dataOff
	for _, s := range p.Segments {
		binary.Write(&hdr, bo, elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(progFlags(s.Perm)), Off: off,
			Vaddr: s.Start, Filesz: s.Dump, Memsz: s.End - s.Start, Align: page})
		off += s.Dump
	}
	hdr.Write(notes)
	if _, err := w.WriteAt(hdr.Bytes(), 0); err != nil {
		return st, fmt.Errorf("core: %w", err)
	}
	st.Size = int64(off)
	if err := w.Truncate(st.Size); err != nil {
		return st, fmt.Errorf("core: %w", err)
	}
	off = dataOff
	buf := make([]byte, 1<<20)
	for _, s := range p.Segments {
		for done := uint64(0); done < s.Dump; {
			chunk := buf[:min(uint64(len(buf)), s.Dump-done)]
			n, bad, werr := copyChunk(w, p.Memory, chunk, s.Start+done, int64(off+done), page)
			if werr != nil {
				return st, fmt.Errorf("core: %w", werr)
			}
			st.Written += n
			st.Unreadable += bad
			done += uint64(len(chunk))
		}
		off += s.Dump
	}
	return st, nil
}

// copyChunk copies len(chunk) bytes of memory at addr to w at off,
// leaving holes for pages of zeros and pages it cannot read (bad counts
// those).
func copyChunk(w io.WriterAt, mem io.ReaderAt, chunk []byte, addr uint64, off int64, page uint64) (written int64, bad int, err error) {
	bad = copyMemory(mem, chunk, addr, page)
	for p := uint64(0); p < uint64(len(chunk)); p += page {
		pg := chunk[p:min(p+page, uint64(len(chunk)))]
		if allZero(pg) {
			continue
		}
		if _, err := w.WriteAt(pg, off+int64(p)); err != nil {
			return written, bad, err
		}
		written += int64(len(pg))
	}
	return written, bad, nil
}

// copyMemory fills buf with the memory at addr, page by page where the
// bulk read fails; it returns how many pages could not be read (left zero).
func copyMemory(mem io.ReaderAt, buf []byte, addr, page uint64) (bad int) {
	n, err := mem.ReadAt(buf, int64(addr))
	if err == nil {
		return 0
	}
	clear(buf[n:])
	for p := (uint64(n) + page - 1) &^ (page - 1); p < uint64(len(buf)); p += page {
		pg := buf[p:min(p+page, uint64(len(buf)))]
		if k, err := mem.ReadAt(pg, int64(addr+p)); err != nil {
			clear(pg[k:])
			bad++
		}
	}
	return bad
}

// zeroPage is compared against: bytes.Equal is memcmp, many times faster
// than a loop over the bytes on the megabytes of untouched heap a Go
// process maps.
var zeroPage = make([]byte, 64<<10)

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func progFlags(perm string) elf.ProgFlag {
	var f elf.ProgFlag
	if len(perm) > 2 {
		if perm[0] == 'r' {
			f |= elf.PF_R
		}
		if perm[1] == 'w' {
			f |= elf.PF_W
		}
		if perm[2] == 'x' {
			f |= elf.PF_X
		}
	}
	return f
}

// notes returns the PT_NOTE segment's contents, in the kernel's order: the
// first thread's NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE,
// its NT_FPREGSET and other register sets; then each other thread's
// NT_PRSTATUS, NT_FPREGSET and other register sets.
// gdb ties a register note to the NT_PRSTATUS before it.
func (p *Process) notes() ([]byte, error) {
	if len(p.Threads) == 0 {
		return nil, fmt.Errorf("core: no thread to write")
	}
	var b bytes.Buffer
	bo := p.Arch.ByteOrder
	for i, t := range p.Threads {
		pr, err := p.prstatus(&t)
		if err != nil {
			return nil, err
		}
		putNote(&b, bo, "CORE", elf.NT_PRSTATUS, pr)
		if i == 0 {
			putNote(&b, bo, "CORE", elf.NT_PRPSINFO, p.prpsinfo())
			if t.Siginfo != nil {
				putNote(&b, bo, "CORE", ntSiginfo, t.Siginfo)
			}
			if p.Auxv != nil {
				putNote(&b, bo, "CORE", ntAuxv, p.Auxv)
			}
			putNote(&b, bo, "CORE", ntFile, p.fileNote())
		}
		if t.FPRegs != nil {
			putNote(&b, bo, "CORE", elf.NT_FPREGSET, t.FPRegs)
		}
		for _, r := range t.Regsets {
			putNote(&b, bo, "LINUX", r.Type, r.Data)
		}
	}
	return b.Bytes(), nil
}

func putNote(b *bytes.Buffer, bo binary.ByteOrder, name string, typ elf.NType, desc []byte) {
	var h [12]byte
	bo.PutUint32(h[0:], uint32(len(name)+1))
	bo.PutUint32(h[4:], uint32(len(desc)))
	bo.PutUint32(h[8:], uint32(typ))
	b.Write(h[:])
	b.WriteString(name)
	b.WriteByte(0)
	pad4(b)
	b.Write(desc)
	pad4(b)
}

func pad4(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

// prstatus returns t's 64-bit struct elf_prstatus: the common part (see
// prReg), pr_reg, pr_fpvalid and padding to 8 bytes.
func (p *Process) prstatus(t *ThreadState) ([]byte, error) {
	nregs := len(p.Arch.CoreRegs) * 8
	if len(t.Regs) != nregs {
		return nil, fmt.Errorf("core: thread %d: %d bytes of general registers, elf_gregset_t of %s has %d", t.TID, len(t.Regs), p.Arch.Name, nregs)
	}
	bo := p.Arch.ByteOrder
	d := make([]byte, prReg+nregs+8)
	bo.PutUint32(d[prInfoSigno:], uint32(t.Signal))
	bo.PutUint16(d[prCursig:], uint16(t.Signal))
	bo.PutUint64(d[16:], t.SigPend)
	bo.PutUint64(d[24:], t.SigHold)
	bo.PutUint32(d[prPid:], uint32(t.TID))
	bo.PutUint32(d[prPid+4:], uint32(p.PPid))
	bo.PutUint32(d[prPid+8:], uint32(p.Pgrp))
	bo.PutUint32(d[prPid+12:], uint32(p.Sid))
	copy(d[prReg:], t.Regs)
	if t.FPRegs != nil {
		bo.PutUint32(d[prReg+nregs:], 1)
	}
	return d, nil
}

// prpsinfo returns the 64-bit struct elf_prpsinfo (see parsePsinfo).
func (p *Process) prpsinfo() []byte {
	bo := p.Arch.ByteOrder
	d := make([]byte, 136)
	// pr_state is the index of the state letter in the kernel's
	// task_state_array ("RSDTtXZPI"), as fill_psinfo computes it.
	if i := bytes.IndexByte([]byte("RSDTtXZPI"), p.State); i >= 0 {
		d[0] = byte(i)
	}
	d[1] = p.State
	if p.State == 'Z' {
		d[2] = 1
	}
	d[3] = byte(p.Nice)
	bo.PutUint64(d[8:], p.Flags)
	bo.PutUint32(d[16:], p.UID)
	bo.PutUint32(d[20:], p.GID)
	bo.PutUint32(d[24:], uint32(p.Pid))
	bo.PutUint32(d[28:], uint32(p.PPid))
	bo.PutUint32(d[32:], uint32(p.Pgrp))
	bo.PutUint32(d[36:], uint32(p.Sid))
	copy(d[40:55], p.Name)
	copy(d[56:135], p.Args)
	return d
}

// fileNote returns NT_FILE for the segments that map a file.
func (p *Process) fileNote() []byte {
	bo := p.Arch.ByteOrder
	page := p.PageSize
	if page == 0 {
		page = 4096
	}
	var ents, names bytes.Buffer
	n := 0
	for _, s := range p.Segments {
		if s.Inode == 0 || len(s.Path) == 0 || s.Path[0] != '/' {
			continue
		}
		var e [24]byte
		bo.PutUint64(e[0:], s.Start)
		bo.PutUint64(e[8:], s.End)
		bo.PutUint64(e[16:], s.Offset/page)
		ents.Write(e[:])
		names.WriteString(s.Path)
		names.WriteByte(0)
		n++
	}
	var h [16]byte
	bo.PutUint64(h[0:], uint64(n))
	bo.PutUint64(h[8:], page)
	return append(append(h[:], ents.Bytes()...), names.Bytes()...)
}
