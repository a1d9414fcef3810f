package core

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"golang.org/x/sys/unix"
)

// DumpOptions says what Dump writes.
type DumpOptions struct {
	// AllMappings writes every readable mapping, file-backed text
	// included, whatever /proc/PID/coredump_filter says: the core is then
	// read without the process's files.
	AllMappings bool
	// Timeout bounds the wait for the threads to stop (proc.FreezeOptions).
	Timeout time.Duration
}

// DumpResult says what Dump did.
type DumpResult struct {
	WriteStats
	Threads  int
	Segments int           // mappings, each a PT_LOAD
	Dumped   int           // of which with bytes in the core
	Frozen   time.Duration // how long the process stood still
	Warnings []string
}

// coredump_filter bits (core(5)).
const (
	filterAnonPrivate = 1 << iota
	filterAnonShared
	filterFilePrivate
	filterFileShared
	filterELFHeaders
	filterHugePrivate
	filterHugeShared
)

// defaultFilter is the kernel's default coredump_filter.
const defaultFilter = filterAnonPrivate | filterAnonShared | filterELFHeaders | filterHugePrivate

// Dump writes an ELF core of the live process pid to path, as the kernel
// would if it crashed and as gdb's gcore does: every thread's registers
// (NT_PRSTATUS, NT_FPREGSET), NT_PRPSINFO, NT_AUXV, NT_FILE, NT_SIGINFO
// when a thread has one, and the memory /proc/PID/coredump_filter selects
// (opts.AllMappings: every readable mapping). The process is stopped
// (proc.Freeze) only while its registers and memory are copied; on any
// error or interruption (ctx cancelled: the command line cancels it on
// SIGINT and SIGTERM) it is resumed and path removed. Errors wrap proc's
// (ErrNoProcess, ErrPermission, ErrInterrupted, ...).
func Dump(ctx context.Context, pid int, path string, opts DumpOptions) (res *DumpResult, err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := proc.NotUser(pid); err != nil {
		return nil, err
	}
	// Everything that needs no stop is read first: the stop lasts only
	// for the registers and the memory.
	info, err := readProcInfo(pid)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600) // a core holds secrets
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("core: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
			res = nil
		}
	}()
	// interrupted reports a cancellation that came while Freeze was not
	// watching for it (it resumes the threads on its own).
	interrupted := func(when string) error {
		if ctx.Err() == nil {
			return nil
		}
		return &proc.Error{Msg: fmt.Sprintf("interrupted (%v) %s; no core written", context.Cause(ctx), when), Err: proc.ErrInterrupted}
	}

	a := arch.Host()
	page := uint64(os.Getpagesize())
	res = &DumpResult{}
	// The memory is copied while the threads are stopped into buffers
	// faulted in beforehand, and written to the file once they run again:
	// the stop then lasts one memcpy per byte. Writing the file while
	// stopped (page cache allocation, zero-page scans, system calls) took
	// twice as long. The buffers are planned from the maps read now; what
	// the maps show new when stopped gets a buffer then.
	arena := planArena(pid, info, opts, page)
	defer arena.free()
	if err := interrupted(fmt.Sprintf("before PID %d was stopped", pid)); err != nil {
		return nil, err
	}
	var (
		hookErr error
		start   time.Time
		p       *Process
		direct  bool // too large to buffer: written while stopped
	)
	copyAll := func(view *target.Snapshot) []target.Segment {
		start = time.Now()
		defer func() { res.Frozen = time.Since(start) }()
		hookErr = func() error {
			// The maps again, now that nothing can change them.
			maps, err := proc.Maps(pid)
			if err != nil {
				maps = view.Maps
			}
			p = &Process{Arch: a, PageSize: page, Auxv: info.auxv, Memory: view.Live}
			info.fill(p)
			for _, t := range view.Threads {
				ts := ThreadState{TID: t.TID}
				if ts.Regs, err = proc.Regset(t.TID, elf.NT_PRSTATUS); err != nil {
					res.Warnings = append(res.Warnings, fmt.Sprintf("thread %d left out: its registers could not be read: %v", t.TID, err))
					continue
				}
				ts.FPRegs, _ = proc.Regset(t.TID, elf.NT_FPREGSET)
				for _, n := range a.CoreRegsets {
					if d, err := proc.Regset(t.TID, n); err == nil && len(d) > 0 {
						ts.Regsets = append(ts.Regsets, Regset{Type: n, Data: d})
					}
				}
				ts.Siginfo, _ = proc.RawSiginfo(t.TID)
				p.Threads = append(p.Threads, ts)
			}
			p.Segments = segments(maps, info, opts, view.Live, page)
			res.Threads, res.Segments = len(p.Threads), len(p.Segments)
			if arena == nil {
				direct = true
				res.WriteStats, err = Write(f, p)
				return err
			}
			var copies []target.Segment
			for _, sg := range p.Segments {
				if sg.Dump == 0 {
					continue
				}
				buf := arena.take(sg.Start, sg.Dump)
				res.Unreadable += copyMemory(view.Live, buf, sg.Start, page)
				copies = append(copies, target.Segment{Addr: sg.Start, Data: buf})
			}
			p.Memory = target.NewSegmentReader(copies, nil)
			return nil
		}()
		return nil
	}
	snap, err := proc.Freeze(ctx, pid, proc.FreezeOptions{StackBytes: 64, Timeout: opts.Timeout, Copy: copyAll})
	if err != nil {
		return nil, err
	}
	if hookErr != nil {
		return nil, hookErr
	}
	if start.IsZero() {
		return nil, &proc.Error{Msg: fmt.Sprintf("no thread of PID %d could be stopped: no core written", pid), Err: proc.ErrExited}
	}
	for _, sg := range p.Segments {
		if sg.Dump > 0 {
			res.Dumped++
		}
	}
	if !direct {
		bad := res.Unreadable
		if res.WriteStats, err = Write(f, p); err != nil {
			return nil, err
		}
		res.Unreadable += bad
	}
	if err := interrupted(fmt.Sprintf("while writing %s (PID %d runs on)", path, pid)); err != nil {
		return nil, err
	}
	for _, t := range snap.Threads {
		if t.NotStopped != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("thread %d left out: %v", t.TID, t.NotStopped))
		}
	}
	res.Warnings = append(res.Warnings, snap.Warnings...)
	if res.Unreadable > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d pages could not be read and read back as zeros", res.Unreadable))
	}
	return res, nil
}

// segments returns a core's segment for every mapping, with the bytes
// dumpSize selects.
func segments(maps []target.Mapping, info *procInfo, opts DumpOptions, mem io.ReaderAt, page uint64) []Segment {
	out := make([]Segment, 0, len(maps))
	for _, m := range maps {
		sm, ok := info.smaps[m.Start]
		if !ok {
			sm.anon = true // mapped since smaps was read: written to, surely
		}
		out = append(out, Segment{Mapping: m, Dump: dumpSize(m, sm, info.filter, opts.AllMappings, mem, page)})
	}
	return out
}

// arena is memory faulted in before the stop, cut into one buffer per
// segment planned from the maps read before it.
type arena struct {
	mem   []byte
	slots map[[2]uint64][]byte // (start, bytes) -> buffer
}

// planArena maps and faults in a buffer for the segments the maps read
// now select, or returns nil if they exceed half the memory available
// (the copy is then written to the file while the process is stopped).
func planArena(pid int, info *procInfo, opts DumpOptions, page uint64) *arena {
	maps, err := proc.Maps(pid)
	if err != nil {
		return nil
	}
	segs := segments(maps, info, opts, proc.NewMemory(pid), page)
	var total uint64
	for _, s := range segs {
		total += s.Dump
	}
	if total == 0 || total > memAvailable()/2 {
		return nil
	}
	mem, err := unix.Mmap(-1, 0, int(total), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil
	}
	a := &arena{mem: mem, slots: map[[2]uint64][]byte{}}
	off := uint64(0)
	for _, s := range segs {
		if s.Dump > 0 {
			a.slots[[2]uint64{s.Start, s.Dump}] = mem[off : off+s.Dump : off+s.Dump]
			off += s.Dump
		}
	}
	return a
}

// take returns the buffer planned for n bytes at start, or a new one.
func (a *arena) take(start, n uint64) []byte {
	if b, ok := a.slots[[2]uint64{start, n}]; ok {
		delete(a.slots, [2]uint64{start, n})
		return b
	}
	return make([]byte, n)
}

func (a *arena) free() {
	if a != nil {
		unix.Munmap(a.mem)
	}
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes, 0 if
// unknown.
func memAvailable() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// dumpSize says how many bytes of mapping m a core holds, by the kernel's
// rules (vma_dump_size in fs/coredump.c): none of what the process cannot
// read or the kernel marks VM_DONTDUMP or VM_IO, all of the vDSO, and
// otherwise what the filter selects by kind: anonymous or file-backed,
// private or shared, hugetlb; a private file mapping the process wrote to
// counts as anonymous, and of one not dumped the first page is kept if it
// is an ELF header (its build-id tells a reader which file was mapped).
func dumpSize(m target.Mapping, sm smapsInfo, filter uint64, all bool, mem io.ReaderAt, page uint64) uint64 {
	size := m.End - m.Start
	switch {
	case len(m.Perm) < 4 || m.Perm[0] != 'r' || m.Path == "[vsyscall]" || sm.vmflags["dd"] || sm.vmflags["io"]:
		return 0
	case m.Path == "[vdso]" || all:
		return size
	}
	shared := m.Perm[3] == 's' || sm.vmflags["sh"]
	fileBacked := m.Inode != 0
	if sm.vmflags["ht"] {
		if (shared && filter&filterHugeShared != 0) || (!shared && filter&filterHugePrivate != 0) {
			return size
		}
		return 0
	}
	if shared {
		// Shared memory without a name (shmem, memfd, a deleted file)
		// is anonymous to the kernel.
		anon := !fileBacked || strings.HasSuffix(m.Path, " (deleted)") || strings.HasPrefix(m.Path, "/dev/zero") || strings.HasPrefix(m.Path, "/SYSV")
		if (anon && filter&filterAnonShared != 0) || (!anon && filter&filterFileShared != 0) {
			return size
		}
		return 0
	}
	if sm.anon && filter&filterAnonPrivate != 0 {
		return size
	}
	if !fileBacked {
		return 0
	}
	if filter&filterFilePrivate != 0 {
		return size
	}
	if filter&filterELFHeaders != 0 && m.Offset == 0 {
		var magic [4]byte
		if n, _ := mem.ReadAt(magic[:], int64(m.Start)); n == 4 && string(magic[:]) == elf.ELFMAG {
			return min(page, size)
		}
	}
	return 0
}

// smapsInfo is what /proc/PID/smaps says of one mapping beyond maps.
type smapsInfo struct {
	anon    bool            // it has anonymous pages (the kernel's vma->anon_vma)
	vmflags map[string]bool // "dd" (VM_DONTDUMP), "io", "sh", "ht" (hugetlb)
}

// procInfo is what Dump reads of the process before stopping it.
type procInfo struct {
	pid, ppid, pgrp, sid int
	state                byte
	nice                 int8
	flags                uint64
	uid, gid             uint32
	name, args           string
	auxv                 []byte
	filter               uint64
	smaps                map[uint64]smapsInfo // by start address
}

func (pi *procInfo) fill(p *Process) {
	p.Pid, p.PPid, p.Pgrp, p.Sid = pi.pid, pi.ppid, pi.pgrp, pi.sid
	p.State, p.Nice, p.Flags, p.UID, p.GID = pi.state, pi.nice, pi.flags, pi.uid, pi.gid
	p.Name, p.Args = pi.name, pi.args
}

func readProcInfo(pid int) (*procInfo, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	pi := &procInfo{pid: pid, filter: defaultFilter}
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return nil, procErr(pid, err)
	}
	open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		return nil, fmt.Errorf("core: %sstat: unexpected format", dir)
	}
	pi.name = string(stat[open+1 : close])
	f := strings.Fields(string(stat[close+1:]))
	if len(f) < 17 || len(f[0]) != 1 {
		return nil, fmt.Errorf("core: %sstat: unexpected format", dir)
	}
	num := func(i int) int64 { n, _ := strconv.ParseInt(f[i], 10, 64); return n }
	pi.state = f[0][0]
	pi.ppid, pi.pgrp, pi.sid = int(num(1)), int(num(2)), int(num(3))
	pi.flags, pi.nice = uint64(num(6)), int8(num(16))
	if b, err := os.ReadFile(dir + "cmdline"); err == nil {
		pi.args = strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	}
	if b, err := os.ReadFile(dir + "status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if fs := strings.Fields(v); len(fs) > 0 && (k == "Uid" || k == "Gid") {
				n, _ := strconv.ParseUint(fs[0], 10, 32)
				if k == "Uid" {
					pi.uid = uint32(n)
				} else {
					pi.gid = uint32(n)
				}
			}
		}
	}
	if pi.auxv, err = os.ReadFile(dir + "auxv"); err != nil {
		return nil, procErr(pid, err)
	}
	if b, err := os.ReadFile(dir + "coredump_filter"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64); err == nil {
			pi.filter = v
		}
	}
	if pi.smaps, err = readSmaps(dir + "smaps"); err != nil {
		return nil, procErr(pid, err)
	}
	return pi, nil
}

func procErr(pid int, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &proc.Error{Msg: fmt.Sprintf("no process %d", pid), Err: proc.ErrNoProcess}
	case errors.Is(err, os.ErrPermission):
		return &proc.Error{Msg: fmt.Sprintf("not allowed to read the memory map of PID %d: run as root or as its owner", pid), Err: proc.ErrPermission}
	}
	return fmt.Errorf("core: %w", err)
}

// readSmaps reads, per mapping, whether it has anonymous pages and its
// VmFlags.
func readSmaps(name string) (map[uint64]smapsInfo, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[uint64]smapsInfo{}
	var cur uint64
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		switch {
		case ok && k == "Anonymous":
			fs := strings.Fields(v)
			if len(fs) > 0 && fs[0] != "0" {
				si := out[cur]
				si.anon = true
				out[cur] = si
			}
		case ok && k == "VmFlags":
			si := out[cur]
			si.vmflags = map[string]bool{}
			for _, fl := range strings.Fields(v) {
				si.vmflags[fl] = true
			}
			out[cur] = si
		default:
			// A mapping's first line: "start-end perms offset dev inode path".
			if i := strings.IndexByte(line, '-'); i > 0 && !strings.Contains(line[:i], " ") {
				if start, err := strconv.ParseUint(line[:i], 16, 64); err == nil {
					cur = start
					out[cur] = smapsInfo{}
				}
			}
		}
	}
	return out, sc.Err()
}
