package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/taijidbg/taiji/target"
)

// Mapping is one line of /proc/PID/maps (target.Mapping: the snapshot
// carries it).
type Mapping = target.Mapping

// Find returns the mapping containing addr, or nil (target.Find).
func Find(maps []Mapping, addr uint64) *Mapping { return target.Find(maps, addr) }

// Root returns the directory through which the process sees its own file
// system: file names in its maps resolve below it (containers, chroots).
func Root(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/root" }

func procPath(pid int, rest string) string { return "/proc/" + strconv.Itoa(pid) + "/" + rest }

func taskPath(pid, tid int, rest string) string {
	return "/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/" + rest
}

// Maps returns the memory mappings of pid.
func Maps(pid int) ([]Mapping, error) {
	name := procPath(pid, "maps")
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fileError(pid, err)
	}
	return ParseMaps(name, b)
}

// ParseMaps parses the contents of a /proc/PID/maps file named name.
func ParseMaps(name string, b []byte) ([]Mapping, error) {
	var maps []Mapping
	for off := 0; off < len(b); {
		line := b[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		if len(line) > 0 {
			m, err := parseMapsLine(string(line))
			if err != nil {
				return nil, &FormatError{File: name, Offset: int64(off), Msg: err.Error()}
			}
			maps = append(maps, m)
		}
		off += len(line) + 1
	}
	return maps, nil
}

// parseMapsLine parses "start-end perm offset dev inode   path". The path is
// everything after the inode and its padding: it may contain spaces.
func parseMapsLine(line string) (Mapping, error) {
	var m Mapping
	rest := line
	field := func() string {
		rest = strings.TrimLeft(rest, " ")
		i := strings.IndexByte(rest, ' ')
		if i < 0 {
			f := rest
			rest = ""
			return f
		}
		f := rest[:i]
		rest = rest[i+1:]
		return f
	}
	rng, perm, offset, dev, inode := field(), field(), field(), field(), field()
	lo, hi, ok := strings.Cut(rng, "-")
	if !ok {
		return m, fmt.Errorf("bad address range %q", rng)
	}
	var err error
	if m.Start, err = strconv.ParseUint(lo, 16, 64); err != nil {
		return m, fmt.Errorf("bad start address %q", lo)
	}
	if m.End, err = strconv.ParseUint(hi, 16, 64); err != nil || m.End < m.Start {
		return m, fmt.Errorf("bad end address %q", hi)
	}
	if len(perm) != 4 {
		return m, fmt.Errorf("bad permissions %q", perm)
	}
	m.Perm = perm
	if m.Offset, err = strconv.ParseUint(offset, 16, 64); err != nil {
		return m, fmt.Errorf("bad offset %q", offset)
	}
	if !strings.Contains(dev, ":") {
		return m, fmt.Errorf("bad device %q", dev)
	}
	m.Dev = dev
	if m.Inode, err = strconv.ParseUint(inode, 10, 64); err != nil {
		return m, fmt.Errorf("bad inode %q", inode)
	}
	m.Path = strings.TrimLeft(rest, " ")
	return m, nil
}

// Tasks returns the thread IDs of pid, sorted, the thread-group leader
// (pid itself) first.
func Tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(procPath(pid, "task"))
	if err != nil {
		return nil, fileError(pid, err)
	}
	tids := make([]int, 0, len(ents))
	leader := false
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if tid == pid {
			leader = true
			continue
		}
		tids = append(tids, tid)
	}
	sort.Ints(tids)
	if leader {
		tids = append([]int{pid}, tids...)
	}
	return tids, nil
}

// TaskInfo is what /proc/PID/task/TID/stat says about a thread.
type TaskInfo = target.TaskInfo

// PFKThread is the PF_KTHREAD task flag (target.PFKThread).
const PFKThread = target.PFKThread

// Task returns what /proc says of thread tid of pid: its name, scheduling
// state, parent and flags.
func Task(pid, tid int) (TaskInfo, error) {
	name := taskPath(pid, tid, "stat")
	b, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return TaskInfo{}, &Error{Msg: fmt.Sprintf("no thread %d in PID %d", tid, pid), Err: ErrNoProcess}
		}
		return TaskInfo{}, fileError(pid, err)
	}
	return ParseStat(name, b)
}

// ParseStat parses a /proc/PID/stat file (proc(5)): the name, state,
// parent, flags and exit code. The name is in parentheses and may itself
// contain spaces and ')': it ends at the last ')'. Only the name and state
// are required; the numeric fields are read when present.
func ParseStat(name string, b []byte) (TaskInfo, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return TaskInfo{}, &FormatError{File: name, Offset: 0, Msg: "no (comm) field"}
	}
	rest := b[closing+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] == ' ' || rest[1] == '\n' {
		return TaskInfo{}, &FormatError{File: name, Offset: int64(closing + 1), Msg: "no state field"}
	}
	info := TaskInfo{Name: string(b[open+1 : closing]), State: string(rest[1:2])}
	// Fields after the state, numbered as in proc(5): 4 ppid, 9 flags,
	// 52 exit_code.
	fields := strings.Fields(string(rest[2:]))
	num := func(field int) uint64 {
		if i := field - 4; i < len(fields) {
			v, _ := strconv.ParseInt(fields[i], 10, 64)
			return uint64(v)
		}
		return 0
	}
	info.PPid, info.Flags, info.ExitCode = int(num(4)), num(9), int(num(52))
	return info, nil
}

// Tgid returns the process (thread group) that thread id belongs to: id
// itself when id is a process. /proc/ID exists for every thread, though
// only processes are listed in /proc.
func Tgid(id int) (int, error) {
	b, err := os.ReadFile(procPath(id, "status"))
	if err != nil {
		return 0, fileError(id, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
				return n, nil
			}
		}
	}
	return 0, &FormatError{File: procPath(id, "status"), Msg: "no Tgid line"}
}

// tracerOf returns the TracerPid of thread tid, 0 if none or unknown.
func tracerOf(pid, tid int) int {
	b, err := os.ReadFile(taskPath(pid, tid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// KernelFrame is one line of /proc/PID/task/TID/stack (target.KernelFrame).
type KernelFrame = target.KernelFrame

// KernelStack returns the kernel stack of thread tid of pid, innermost
// frame first. It is empty for a thread running in user space. Reading it
// needs root (CAP_SYS_ADMIN in the initial namespace).
func KernelStack(pid, tid int) ([]KernelFrame, error) {
	name := taskPath(pid, tid, "stack")
	b, err := os.ReadFile(name)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES) {
			return nil, &Error{Msg: fmt.Sprintf("not permitted to read %s: kernel stacks need root", name), Err: ErrPermission}
		}
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(taskPath(pid, tid, "stat")); serr == nil {
				return nil, fmt.Errorf("proc: %s: kernel built without CONFIG_STACKTRACE", name)
			}
			return nil, &Error{Msg: fmt.Sprintf("no thread %d in PID %d", tid, pid), Err: ErrNoProcess}
		}
		return nil, err
	}
	return ParseKernelStack(name, b)
}

// ParseKernelStack parses the contents of a /proc/PID/task/TID/stack file.
func ParseKernelStack(name string, b []byte) ([]KernelFrame, error) {
	var frames []KernelFrame
	for off := 0; off < len(b); {
		line := b[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		if len(line) > 0 {
			f, err := parseKernelLine(string(line))
			if err != nil {
				return nil, &FormatError{File: name, Offset: int64(off), Msg: err.Error()}
			}
			frames = append(frames, f)
		}
		off += len(line) + 1
	}
	return frames, nil
}

func parseKernelLine(line string) (KernelFrame, error) {
	var f KernelFrame
	// Skip the address in brackets, "[<0>]" or "[<ffffffff8123>]".
	if strings.HasPrefix(line, "[<") {
		i := strings.Index(line, ">]")
		if i < 0 {
			return f, fmt.Errorf("bad address in %q", line)
		}
		line = line[i+2:]
	}
	line = strings.TrimSpace(line)
	sym, mod, _ := strings.Cut(line, " ")
	if mod = strings.TrimSpace(mod); mod != "" {
		if len(mod) < 2 || mod[0] != '[' || mod[len(mod)-1] != ']' {
			return f, fmt.Errorf("bad module %q", mod)
		}
		f.Module = mod[1 : len(mod)-1]
	}
	// "function+0xoff/0xsize"; the function name itself may contain '+'
	// or '.' (constprop clones), so split at the last '+'.
	plus := strings.LastIndexByte(sym, '+')
	if plus <= 0 {
		return f, fmt.Errorf("no offset in %q", sym)
	}
	f.Function = sym[:plus]
	o, s, ok := strings.Cut(sym[plus+1:], "/")
	if !ok {
		return f, fmt.Errorf("no size in %q", sym)
	}
	var err error
	if f.Offset, err = strconv.ParseUint(o, 0, 64); err != nil {
		return f, fmt.Errorf("bad offset in %q", sym)
	}
	if f.Size, err = strconv.ParseUint(s, 0, 64); err != nil {
		return f, fmt.Errorf("bad size in %q", sym)
	}
	return f, nil
}

// Exe returns the path of the process's executable, as the kernel shows it
// (with " (deleted)" appended if the file was removed).
func Exe(pid int) (string, error) {
	s, err := os.Readlink(procPath(pid, "exe"))
	if err != nil {
		return "", fileError(pid, err)
	}
	return s, nil
}

// SyscallState is what /proc/PID/task/TID/syscall says of a blocked
// thread: the system call it is in, with its arguments, and the user SP
// and PC it will return to. The kernel fills it for a thread that is not
// running, without stopping it.
type SyscallState struct {
	Nr     int       // the call's number; -1 when blocked outside one (a page fault)
	Args   [6]uint64 // the call's arguments, in order; zero when Nr is -1
	SP, PC uint64
}

// ErrRunning is returned by ThreadSyscall for a thread that is running:
// the kernel reports nothing of a running thread.
var ErrRunning = errors.New("proc: thread is running")

// ThreadSyscall reads /proc/PID/task/TID/syscall. It returns ErrRunning
// when the thread runs. Reading it needs the right to trace the thread.
func ThreadSyscall(pid, tid int) (SyscallState, error) {
	name := taskPath(pid, tid, "syscall")
	b, err := os.ReadFile(name)
	if err != nil {
		return SyscallState{}, fileError(pid, err)
	}
	return ParseSyscall(name, b)
}

// ParseSyscall parses the contents of a /proc/PID/task/TID/syscall file:
// "running", "-1 SP PC", or "NR ARG1 ... ARG6 SP PC", numbers but NR in
// hex (fs/proc/base.c, proc_pid_syscall).
func ParseSyscall(name string, b []byte) (SyscallState, error) {
	var s SyscallState
	f := strings.Fields(string(b))
	if len(f) == 1 && f[0] == "running" {
		return s, ErrRunning
	}
	if len(f) != 3 && len(f) != 9 {
		return s, &FormatError{File: name, Msg: fmt.Sprintf("%d fields, want 3 or 9", len(f))}
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil || nr < -1 || (nr == -1) != (len(f) == 3) {
		return s, &FormatError{File: name, Msg: fmt.Sprintf("bad system call number %q", f[0])}
	}
	s.Nr = nr
	var v [8]uint64
	for i, x := range f[1:] {
		if v[i], err = strconv.ParseUint(strings.TrimPrefix(x, "0x"), 16, 64); err != nil || !strings.HasPrefix(x, "0x") {
			return s, &FormatError{File: name, Msg: fmt.Sprintf("bad number %q", x)}
		}
	}
	if nr == -1 {
		s.SP, s.PC = v[0], v[1]
	} else {
		copy(s.Args[:], v[:6])
		s.SP, s.PC = v[6], v[7]
	}
	return s, nil
}
