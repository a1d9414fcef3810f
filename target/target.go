// Package target is what taiji inspects, as plain data: a snapshot of a
// process's threads (registers as arch.Regs, in DWARF numbering), its
// memory mappings, the memory copied while the threads stood still, and
// how to read the rest and open the mapped files.
//
// A snapshot is produced by a live process (proc.Freeze, through ptrace
// and /proc) and, later, by a core file; it is consumed by the unwinder.
// Nothing here depends on the host: the package builds for any GOOS, and a
// snapshot of one architecture can be analysed on another (Snapshot.Arch).
// The name follows delve's pkg/proc "target": the thing being debugged,
// whatever it is backed by.
package target

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/taijidbg/taiji/arch"
)

// Snapshot is the state of a process at one moment: what a producer copied
// from it, and, for what was not copied, how to read it afterwards.
type Snapshot struct {
	Pid      int
	Exe      string     // the executable's path, as the process names it
	Arch     *arch.Arch // the architecture the process runs on
	Maps     []Mapping  // sorted by address, as /proc/PID/maps lists them
	Threads  []*Thread  // the leader first, then by TID
	VDSO     []byte     // the [vdso] image, copied (nil if the process has none)
	VDSOAddr uint64
	Warnings []string  // things the user should know, one sentence each
	Extra    []Segment // more memory the producer copied (FreezeOptions.Copy)

	// Live reads memory that was not copied (a live process's, read after
	// it ran again); nil when there is none (a core: every byte is in it).
	Live io.ReaderAt
	// Files says where the files of mappings are opened; nil opens the
	// path a mapping names, below the root the opener is given.
	Files Files

	mem                  io.ReaderAt // Memory's reader, built for these:
	memThreads, memExtra int
	memLive              io.ReaderAt
}

// Thread is one thread's state at the moment it was stopped.
type Thread struct {
	TID       int
	Info      TaskInfo // read before stopping it
	Kernel    []KernelFrame
	KernelErr error
	Regs      arch.Regs // DWARF numbering, PC separate
	TLS       uint64    // thread pointer (FS base on amd64), 0 if unknown
	Stack     Segment   // the bytes from SP upward, copied while stopped
	Frozen    time.Duration
	// Signal is the number of a signal that arrived while the producer was
	// stopping the thread (0 if none). A live producer passed it back on
	// detach, so the thread still receives it.
	Signal int
	// Err is set if the thread's registers could not be read (it exited
	// during the snapshot, or never stopped and /proc told nothing of it);
	// the other fields may be partially filled.
	Err error
	// NotStopped, when set, is why the thread was never stopped (for a live
	// process, a *proc.NotStoppedError). Err is nil then, but the capture is
	// partial: Regs holds only the PC, the SP and the system call's argument
	// registers; Stack and Kernel were read while the thread slept.
	// Callee-saved registers and the frame pointer are unknown, so an
	// unwind may end early.
	NotStopped error
}

// TaskInfo is what the kernel says of a thread besides its registers
// (/proc/PID/task/TID/stat for a live process, NT_PRPSINFO in a core).
type TaskInfo struct {
	Name  string // comm: the thread's name, at most 15 bytes
	State string // "R", "S", "D", "T" (stopped), "t" (ptrace stop), "Z", ...
	PPid  int    // the parent process (of the thread group)
	// Flags are the kernel's PF_* task flags (include/linux/sched.h);
	// PFKThread marks a kernel thread.
	Flags uint64
	// ExitCode is a zombie's exit status as wait(2) encodes it (0 when
	// unknown: the kernel shows it only to those allowed to trace it).
	ExitCode int
}

// PFKThread is the PF_KTHREAD task flag: the task is a kernel thread, with
// no user space at all.
const PFKThread = 0x00200000

// KernelThread reports whether the task is a kernel thread.
func (t TaskInfo) KernelThread() bool { return t.Flags&PFKThread != 0 }

// KernelFrame is one frame of a thread's kernel stack, as
// /proc/PID/task/TID/stack gives it: "[<0>] pipe_read+0x2f0/0x410 [module]".
// The kernel hides the addresses (the "<0>") from everyone, root included,
// so a frame is a symbol, an offset into it and its size.
type KernelFrame struct {
	Function     string
	Offset, Size uint64
	Module       string // "" for the kernel image itself
}

func (f KernelFrame) String() string {
	s := fmt.Sprintf("%s+%#x/%#x", f.Function, f.Offset, f.Size)
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// Mapping is one memory mapping: a line of /proc/PID/maps, an NT_FILE entry
// of a core.
type Mapping struct {
	Start, End uint64 // [Start, End)
	Offset     uint64 // file offset of Start
	Perm       string // "r-xp"
	Dev        string // "fe:00"
	Inode      uint64
	Path       string // file name, "[stack]", "[vdso]", "" for anonymous memory
}

// Contains reports whether addr lies in the mapping.
func (m *Mapping) Contains(addr uint64) bool { return m.Start <= addr && addr < m.End }

// Exec reports whether the mapping is executable.
func (m *Mapping) Exec() bool { return len(m.Perm) > 2 && m.Perm[2] == 'x' }

// Find returns the mapping containing addr, or nil. maps must be sorted, as
// /proc/PID/maps is.
func Find(maps []Mapping, addr uint64) *Mapping {
	i := sort.Search(len(maps), func(i int) bool { return maps[i].End > addr })
	if i < len(maps) && maps[i].Contains(addr) {
		return &maps[i]
	}
	return nil
}

// Files says how to open, from taiji's own file system, the file a mapping
// names. A live process's producer looks through the process's root and
// /proc/PID/map_files (proc.MappedFile); a core's would look below a
// sysroot.
type Files interface {
	// MappedFile returns the path of the file mapped at m and the root
	// below which to open it and look for its debug files ("" or root):
	// the file is viaRoot+path. root is the directory the caller would
	// open files below (module.Options.Root). When no file matches, it
	// returns m.Path and root, for the opener to say what is wrong; or
	// "" when the producer knows the file is missing or is not the one
	// the process mapped, and said so in Snapshot.Warnings: the file is
	// then opened by no one and its frames are shown unnamed (a core read
	// on another machine).
	MappedFile(m Mapping, root string) (path, viaRoot string)
}

// MappedFile is s.Files.MappedFile, or m.Path below root if s has no Files.
func (s *Snapshot) MappedFile(m Mapping, root string) (path, viaRoot string) {
	if s.Files == nil {
		return m.Path, root
	}
	return s.Files.MappedFile(m, root)
}

// Memory returns a reader of the process's memory that serves the copied
// stacks, vDSO and extra segments from the snapshot, and other addresses
// from s.Live (an error wrapping io.ErrUnexpectedEOF if s.Live is nil).
func (s *Snapshot) Memory() io.ReaderAt {
	// Built once per set of segments: a goroutine listing keeps a
	// million of them, and every read goes through here.
	if s.mem != nil && s.memThreads == len(s.Threads) && s.memExtra == len(s.Extra) && s.memLive == s.Live {
		return s.mem
	}
	segs := make([]Segment, 0, len(s.Threads)+1+len(s.Extra))
	for _, t := range s.Threads {
		segs = append(segs, t.Stack)
	}
	if s.VDSO != nil {
		segs = append(segs, Segment{Addr: s.VDSOAddr, Data: s.VDSO})
	}
	segs = append(segs, s.Extra...)
	s.mem, s.memThreads, s.memExtra, s.memLive = NewSegmentReader(segs, s.Live), len(s.Threads), len(s.Extra), s.Live
	return s.mem
}
