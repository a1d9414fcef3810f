package proc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// sleeper starts sleep(1) and waits until it sleeps.
func sleeper(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	skipInVM(t, "runs /bin/sleep")
	bin := "/bin/sleep"
	if name != "" {
		// comm is the executable's base name: a copy named name.
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitState(t, cmd.Process.Pid, cmd.Process.Pid, "S")
	return cmd
}

func TestKernelStack(t *testing.T) {
	cmd := sleeper(t, "")
	pid := cmd.Process.Pid
	frames, err := KernelStack(pid, pid)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(taskPath(pid, pid, "stack"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); len(frames) != n || n == 0 {
		t.Fatalf("%d frames from %d lines:\n%s", len(frames), n, raw)
	}
	if !kernelMentions(frames, "nanosleep") {
		t.Errorf("sleep's kernel stack has no nanosleep: %v", frames)
	}
	for i, f := range frames {
		if f.Function == "" || f.Size == 0 || f.Offset >= f.Size {
			t.Errorf("frame %d: %+v", i, f)
		}
		// The parse round-trips to the kernel's text.
		if line := strings.Split(string(raw), "\n")[i]; !strings.HasSuffix(line, f.String()) {
			t.Errorf("frame %d prints %q, line is %q", i, f.String(), line)
		}
	}
	if _, err := KernelStack(pid, 1<<30); !errors.Is(err, ErrNoProcess) {
		t.Errorf("KernelStack of a missing thread: %v", err)
	}
}

func TestParseKernelStack(t *testing.T) {
	in := "[<0>] poll_schedule_timeout.constprop.0+0x37/0x90\n" +
		"[<ffffffffc0a01234>] nfs_wait_bit_killable+0x1f/0x80 [nfs]\n" +
		"[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e\n"
	got, err := ParseKernelStack("stack", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []KernelFrame{
		{Function: "poll_schedule_timeout.constprop.0", Offset: 0x37, Size: 0x90, Module: ""},
		{Function: "nfs_wait_bit_killable", Offset: 0x1f, Size: 0x80, Module: "nfs"},
		{Function: "entry_SYSCALL_64_after_hwframe", Offset: 0x76, Size: 0x7e, Module: ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"[<0>] nosize+0x10\n", "[<0>] x+0x1/0x2 [mod\n", "[<0 x+1/2\n", "[<0>] +0x1/0x2\n"} {
		_, err := ParseKernelStack("stack", []byte("[<0>] ok+0x1/0x2\n"+bad))
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Offset != int64(len("[<0>] ok+0x1/0x2\n")) {
			t.Errorf("%q: %v, want a FormatError at the second line", bad, err)
		}
	}
}

// TestTask reads the name and state of a process whose name has spaces
// and parentheses in it, as the kernel shows them.
func TestTask(t *testing.T) {
	name := "a) b (c"
	cmd := sleeper(t, name)
	pid := cmd.Process.Pid
	info, err := Task(pid, pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != name || info.State != "S" {
		t.Errorf("Task = %+v, want name %q state S", info, name)
	}
	if _, err := Task(pid, 1<<30); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Task of a missing thread: %v", err)
	}
	if _, err := ParseStat("stat", []byte("12 (x) ")); err == nil {
		t.Errorf("ParseStat accepted a missing state")
	}
}

func TestTasks(t *testing.T) {
	tg := start(t, program(t, "c"), "idle", "6")
	tids, err := Tasks(tg.pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) != 6 || tids[0] != tg.pid {
		t.Fatalf("Tasks = %v", tids)
	}
	for i := 2; i < len(tids); i++ {
		if tids[i] <= tids[i-1] {
			t.Errorf("not sorted: %v", tids)
		}
	}
	if _, err := Tasks(1 << 30); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Tasks of a missing process: %v", err)
	}
}

// TestMaps maps a file whose name has spaces into this process and finds
// it, with its offset, in Maps.
func TestMaps(t *testing.T) {
	name := filepath.Join(t.TempDir(), "with  two spaces (x)")
	page := os.Getpagesize() // 64 KiB on Debian's ppc64el kernels
	if err := os.WriteFile(name, make([]byte, 3*page), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	mem, err := unix.Mmap(int(fd.Fd()), int64(page), page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	maps, err := Maps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(name, &st)
	found := false
	for i, m := range maps {
		if i > 0 && m.Start < maps[i-1].End {
			t.Errorf("mappings overlap or are unsorted at %d", i)
		}
		if m.Path == name {
			found = true
			if m.Offset != uint64(page) || m.End-m.Start != uint64(page) || m.Perm != "r--s" || m.Inode != st.Ino {
				t.Errorf("mapping %+v", m)
			}
			if p := Find(maps, m.Start+10); p == nil || p.Path != name {
				t.Errorf("Find did not find the mapping")
			}
		}
	}
	if !found {
		t.Errorf("%q not in maps", name)
	}
	if exe, err := Exe(os.Getpid()); err != nil || exe != mustExecutable(t) {
		t.Errorf("Exe = %q, %v", exe, err)
	}
	if Root(42) != "/proc/42/root" {
		t.Errorf("Root(42) = %q", Root(42))
	}
}

func mustExecutable(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestMemory(t *testing.T) {
	data := []byte("taiji reads this through process_vm_readv")
	m := NewMemory(os.Getpid())
	defer m.Close()
	buf := make([]byte, len(data))
	if _, err := m.ReadAt(buf, int64(addrOf(data))); err != nil || string(buf) != string(data) {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	// The fallback reads the same bytes from /proc/PID/mem.
	if _, err := m.readFile(buf, int64(addrOf(data))); err != nil || string(buf) != string(data) {
		t.Fatalf("readFile = %q, %v", buf, err)
	}
	if n, err := m.ReadAt(buf, 0); err == nil || n != 0 {
		t.Errorf("ReadAt(0) = %d, %v", n, err)
	}
	if _, err := NewMemory(1<<30).ReadAt(buf, 4096); !errors.Is(err, ErrExited) {
		t.Errorf("ReadAt of a missing process: %v", err)
	}
}

func procSeeds(f *testing.F, file string) {
	for _, pid := range []string{"self", "1", strconv.Itoa(os.Getppid())} {
		if b, err := os.ReadFile("/proc/" + pid + "/" + file); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseMaps(f *testing.F) {
	procSeeds(f, "maps")
	f.Fuzz(func(t *testing.T, b []byte) {
		maps, err := ParseMaps("maps", b)
		if err != nil {
			return
		}
		for _, m := range maps {
			if m.End < m.Start || len(m.Perm) != 4 {
				t.Fatalf("bad mapping %+v", m)
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	procSeeds(f, "stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := ParseStat("stat", b); err == nil && len(info.State) != 1 {
			t.Fatalf("state %q", info.State)
		}
	})
}

func FuzzParseKernelStack(f *testing.F) {
	procSeeds(f, "stack")
	f.Add([]byte("[<0>] nfs_wait_bit_killable+0x1f/0x80 [nfs]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKernelStack("stack", b)
	})
}

// TestParseSyscall reads the three shapes of /proc/PID/task/TID/syscall,
// and a live thread blocked in a known call.
func TestParseSyscall(t *testing.T) {
	s, err := ParseSyscall("syscall", []byte("58 0x56069bd63289 0x0 0xfbad0087 0x7f6e04d88850 0x0 0x75 0x7ffcf696a7c0 0x7f6e04e493b8\n"))
	if err != nil || s.Nr != 58 || s.Args[0] != 0x56069bd63289 || s.Args[5] != 0x75 || s.SP != 0x7ffcf696a7c0 || s.PC != 0x7f6e04e493b8 {
		t.Errorf("in a call: %+v, %v", s, err)
	}
	if s, err := ParseSyscall("syscall", []byte("-1 0x7ffc0 0x401000\n")); err != nil || s.Nr != -1 || s.SP != 0x7ffc0 || s.PC != 0x401000 {
		t.Errorf("outside a call: %+v, %v", s, err)
	}
	if _, err := ParseSyscall("syscall", []byte("running\n")); !errors.Is(err, ErrRunning) {
		t.Errorf("running: %v", err)
	}
	for _, bad := range []string{"", "58 0x1 0x2\n", "-1 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8", "x 0x1 0x2", "-1 12 0x2", "-2 0x1 0x2"} {
		var fe *FormatError
		if _, err := ParseSyscall("syscall", []byte(bad)); !errors.As(err, &fe) {
			t.Errorf("%q: %v, want a FormatError", bad, err)
		}
	}
	cmd := sleeper(t, "sleeper") // sleeping when it returns
	pid := cmd.Process.Pid
	s, err = ThreadSyscall(pid, pid)
	if name := arch.Host().SyscallName(s.Nr); err != nil || !strings.HasSuffix(name, "nanosleep") || s.SP == 0 || s.PC == 0 {
		t.Errorf("sleep(1): %+v (%s), %v; want it in nanosleep with an SP and a PC", s, name, err)
	}
}

// TestTaskFlags: Task tells a kernel thread by its PF_KTHREAD flag, and
// gives a process's parent.
func TestTaskFlags(t *testing.T) {
	self, err := Task(os.Getpid(), os.Getpid())
	if err != nil || self.KernelThread() || self.PPid != os.Getppid() {
		t.Errorf("Task(self) = %+v, %v; want parent %d, no PF_KTHREAD", self, err, os.Getppid())
	}
	if k, err := Task(2, 2); err == nil && k.Name == "kthreadd" && !k.KernelThread() {
		t.Errorf("kthreadd is not a kernel thread: %+v", k)
	}
}

func FuzzParseSyscall(f *testing.F) {
	procSeeds(f, "syscall")
	f.Add([]byte("58 0x56069bd63289 0x0 0xfbad0087 0x7f6e04d88850 0x0 0x75 0x7ffcf696a7c0 0x7f6e04e493b8\n"))
	f.Add([]byte("-1 0x7ffc0 0x401000\n"))
	f.Add([]byte("running\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseSyscall("syscall", b); err == nil && s.Nr < -1 {
			t.Fatalf("call number %d", s.Nr)
		}
	})
}
