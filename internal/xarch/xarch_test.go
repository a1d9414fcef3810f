package xarch

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/taijidbg/taiji/arch"
	"golang.org/x/sys/unix"
)

// envChild makes the test binary a ptrace target instead of running tests:
// it stores the variable's value in childMagic, says "ready" and blocks
// reading stdin until the parent closes it.
const envChild = "TAIJI_XARCH_TEST_CHILD"

// childMagic is read by the parent through PTRACE_PEEKDATA. Only the child
// assigns it, at run time, so the parent cannot be reading its own copy or
// the file's initial value by mistake.
var childMagic uint64

func TestMain(m *testing.M) {
	if v := os.Getenv(envChild); v != "" {
		childMagic, _ = strconv.ParseUint(v, 0, 64)
		os.Stdout.WriteString("ready\n")
		var b [1]byte
		for {
			if _, err := os.Stdin.Read(b[:]); err != nil {
				os.Exit(0)
			}
		}
	}
	os.Exit(m.Run())
}

// unameMachine maps GOARCH to what uname(2) reports for a 64-bit kernel.
var unameMachine = map[string]string{
	"amd64":    "x86_64",
	"arm64":    "aarch64",
	"mips64le": "mips64",
	"riscv64":  "riscv64",
	"loong64":  "loongarch64",
	"ppc64le":  "ppc64le",
	"s390x":    "s390x",
}

// TestArchIsReal checks that the machine is the architecture it claims:
// the harness's intent, the Go runtime, the kernel and the executable agree.
func TestArchIsReal(t *testing.T) {
	if want, ok := InVM(); ok && runtime.GOARCH != want {
		t.Fatalf("harness booted %s but this binary is GOARCH=%s", want, runtime.GOARCH)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	machine := unix.ByteSliceToString(uts.Machine[:])
	want, ok := unameMachine[runtime.GOARCH]
	if !ok {
		t.Skipf("no uname machine known for GOARCH=%s (kernel says %s)", runtime.GOARCH, machine)
	}
	if machine != want {
		t.Errorf("uname machine = %q, want %q for GOARCH=%s", machine, want, runtime.GOARCH)
	}
	t.Logf("kernel %s %s, %d CPUs", unix.ByteSliceToString(uts.Release[:]), machine, runtime.NumCPU())

	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := arch.ForELF(f)
	if err != nil {
		t.Fatal(err)
	}
	if a != arch.Host() || a.Name != runtime.GOARCH {
		t.Errorf("arch.ForELF(/proc/self/exe) = %s, arch.Host() = %s, GOARCH = %s", a.Name, arch.Host().Name, runtime.GOARCH)
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(maps, []byte(" "+exe+"\n")) {
		t.Errorf("/proc/self/maps does not map %s:\n%s", exe, maps)
	}
}

// prstatusPC gives, per GOARCH, the size of the NT_PRSTATUS register set
// and the index of the PC among its 8-byte words (x86-64 user_regs_struct
// rip; arm64 user_pt_regs pc; mips64 EF_CP0_EPC of the n64 gregset;
// ppc64 nip of the 48-word ELF_NGREG gregset; s390x psw.addr of s390_regs
// (psw, 16 gprs, 16 4-byte acrs, orig_gpr2); riscv64 user_regs_struct pc).
var prstatusPC = map[string]struct{ size, pc int }{
	"amd64":    {27 * 8, 16},
	"arm64":    {34 * 8, 32},
	"mips64le": {45 * 8, 34},
	"ppc64le":  {48 * 8, 32},
	"s390x":    {27 * 8, 1},
	"riscv64":  {32 * 8, 0},
	"loong64":  {45 * 8, 33}, // user_pt_regs: r0-r31, orig_a0, csr_era (the PC), csr_badv, reserved[10]
}

// TestPtrace shows the basics the ptrace engine builds on work on this
// kernel: PTRACE_SEIZE + PTRACE_INTERRUPT stop a running thread, its
// registers come out of PTRACE_GETREGSET with the PC inside executable
// memory, its memory reads back a value only it wrote, and PTRACE_DETACH
// lets it go on and exit normally.
func TestPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		if b, _ := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); strings.TrimSpace(string(b)) != "0" && len(b) > 0 {
			t.Skip("needs root or ptrace_scope 0 to attach to a child without PTRACE_TRACEME")
		}
	}
	const magic = 0x7a1f1d6e5c0ffee1
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%#x", envChild, uint64(magic)))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	pid := cmd.Process.Pid

	// Every ptrace request must come from the thread that attached.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(pid); err != nil {
		t.Fatalf("PTRACE_SEIZE: %v", err)
	}
	attached := true
	defer func() {
		if attached {
			unix.PtraceDetach(pid)
		}
	}()
	if err := unix.PtraceInterrupt(pid); err != nil {
		t.Fatalf("PTRACE_INTERRUPT: %v", err)
	}
	// A signal can reach the child (Go's preemption signal, SIGURG, among
	// them) before the interrupt: its signal-delivery stop comes first. It
	// is passed on and the interrupt, still pending, stops the child next.
	var ws unix.WaitStatus
	for try := 0; ; try++ {
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			t.Fatalf("wait4: %v", err)
		}
		if !ws.Stopped() || ws.TrapCause() == unix.PTRACE_EVENT_STOP || try == 10 {
			break
		}
		t.Logf("signal-delivery stop (%v) before the interrupt's: passed on", ws.StopSignal())
		if err := unix.PtraceCont(pid, int(ws.StopSignal())); err != nil {
			t.Fatalf("PTRACE_CONT: %v", err)
		}
	}
	if !ws.Stopped() || ws.TrapCause() != unix.PTRACE_EVENT_STOP {
		t.Fatalf("wait4 status %#x: want a PTRACE_EVENT_STOP", uint32(ws))
	}

	var buf [4096]byte
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGSET, uintptr(pid),
		uintptr(elf.NT_PRSTATUS), uintptr(unsafe.Pointer(&iov)), 0, 0)
	if errno != 0 {
		t.Fatalf("PTRACE_GETREGSET NT_PRSTATUS: %v", errno)
	}
	n := int(iov.Len)
	if n <= 0 || n >= len(buf) || n%8 != 0 {
		t.Fatalf("PTRACE_GETREGSET returned %d bytes", n)
	}
	if bytes.Count(buf[:n], []byte{0}) == n {
		t.Fatalf("PTRACE_GETREGSET returned %d zero bytes", n)
	}
	if want, ok := prstatusPC[runtime.GOARCH]; !ok {
		t.Logf("NT_PRSTATUS is %d bytes; no PC layout known for %s", n, runtime.GOARCH)
	} else if n != want.size {
		t.Errorf("NT_PRSTATUS is %d bytes, want %d", n, want.size)
	} else {
		pc := arch.Host().ByteOrder.Uint64(buf[want.pc*8:])
		if !inExecMapping(t, pid, pc) {
			t.Errorf("PC %#x from NT_PRSTATUS is not in an executable mapping of the child", pc)
		}
		t.Logf("child stopped at PC %#x (%d-byte NT_PRSTATUS)", pc, n)
	}

	// The child is this same executable: if it is not position-independent,
	// childMagic has the same address there.
	if f, err := elf.Open("/proc/self/exe"); err == nil && f.Type == elf.ET_EXEC {
		f.Close()
		var word [8]byte
		if _, err := unix.PtracePeekData(pid, uintptr(unsafe.Pointer(&childMagic)), word[:]); err != nil {
			t.Errorf("PTRACE_PEEKDATA: %v", err)
		} else if got := arch.Host().ByteOrder.Uint64(word[:]); got != magic {
			t.Errorf("PTRACE_PEEKDATA read %#x from the child, want %#x", got, uint64(magic))
		}
	} else {
		t.Log("position-independent executable: memory read not checked")
	}

	if err := unix.PtraceDetach(pid); err != nil {
		t.Fatalf("PTRACE_DETACH: %v", err)
	}
	attached = false
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("child after detach: %v", err)
	}
}

// inExecMapping reports whether pc falls in an executable mapping of pid.
func inExecMapping(t *testing.T, pid int, pc uint64) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.Contains(f[1], "x") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && l <= pc && pc < h {
			return true
		}
	}
	return false
}

// uprobeTarget is where TestUprobe places its probe.
//
//go:noinline
func uprobeTarget(x int) int { return x*3 + 1 }

// tracefs returns the tracefs mount, or "" if there is none.
func tracefs() string {
	for _, d := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		if _, err := os.Stat(filepath.Join(d, "uprobe_events")); err == nil {
			return d
		}
	}
	return ""
}

// TestUprobe shows the kernel's uprobes work here: a probe on a function of
// this binary, defined through tracefs, records every call. It uses a
// private trace instance so it neither sees nor clears anyone else's events.
func TestUprobe(t *testing.T) {
	_, inVM := InVM()
	if os.Geteuid() != 0 {
		t.Skip("uprobes need root")
	}
	dir := tracefs()
	if dir == "" {
		// Hosts often leave tracefs unmounted until a tracer asks for it.
		if err := unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, ""); err == nil {
			dir = tracefs()
		}
	}
	if dir == "" {
		if inVM {
			t.Fatal("no uprobe_events in tracefs: the kernel lacks CONFIG_UPROBE_EVENTS or /init did not mount tracefs")
		}
		t.Skip("no tracefs with uprobe_events")
	}
	pc := runtime.FuncForPC(reflect.ValueOf(uprobeTarget).Pointer()).Entry()
	exe, off, err := fileOffset(uint64(pc))
	if err != nil {
		t.Fatal(err)
	}
	group := fmt.Sprintf("taiji_xarch_%d", os.Getpid())
	event := group + "/hit"
	write := func(file, s string) error {
		f, err := os.OpenFile(filepath.Join(dir, file), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(s)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if err := write("uprobe_events", fmt.Sprintf("p:%s %s:%#x\n", event, exe, off)); err != nil {
		t.Fatalf("defining uprobe %s at %s:%#x: %v", event, exe, off, err)
	}
	defer write("uprobe_events", "-:"+event+"\n")
	inst := filepath.Join("instances", group)
	if err := os.Mkdir(filepath.Join(dir, inst), 0o755); err != nil {
		t.Fatalf("trace instance: %v", err)
	}
	defer os.Remove(filepath.Join(dir, inst))
	enable := filepath.Join(inst, "events", event, "enable")
	if err := write(enable, "1"); err != nil {
		t.Fatal(err)
	}
	const calls = 5
	sum := 0
	for i := 0; i < calls; i++ {
		sum += uprobeTarget(i)
	}
	if err := write(enable, "0"); err != nil {
		t.Fatal(err)
	}
	trace, err := os.ReadFile(filepath.Join(dir, inst, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	hits := strings.Count(string(trace), " hit: (")
	// A Go function may be entered twice when its prologue grows the stack.
	if hits < calls {
		t.Errorf("uprobe at %s:%#x recorded %d hits for %d calls (sum %d); trace:\n%s", exe, off, hits, calls, sum, trace)
	}
	t.Logf("uprobe at %s:%#x: %d hits for %d calls", filepath.Base(exe), off, hits, calls)
}

// fileOffset returns the executable's path and the file offset of the
// code at pc, from /proc/self/maps: uprobes are placed by file offset, and
// this needs no symbol table (go test links without one).
func fileOffset(pc uint64) (string, uint64, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "", 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		// start-end perms offset dev inode path
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if err1 == nil && err2 == nil && err3 == nil && l <= pc && pc < h {
			return f[5], pc - l + off, nil
		}
	}
	return "", 0, fmt.Errorf("pc %#x is in no file mapping of /proc/self/maps", pc)
}

// TestBPF loads the smallest BPF program there is (r0 = 0; exit) as a
// socket filter: the bpf(2) system call and the verifier work here.
func TestBPF(t *testing.T) {
	_, inVM := InVM()
	if os.Geteuid() != 0 {
		t.Skip("BPF_PROG_LOAD needs root on most kernels")
	}
	// Both instructions have zero registers and immediates, so their bytes
	// are the same in either byte order: just the opcodes.
	insns := [16]byte{0: 0xb7, 8: 0x95} // BPF_ALU64|BPF_MOV|BPF_K; BPF_JMP|BPF_EXIT
	license := []byte("GPL\x00")
	var logBuf [4096]byte
	// union bpf_attr, BPF_PROG_LOAD part, up to kern_version.
	attr := struct {
		progType, insnCnt uint32
		insns, license    uint64
		logLevel, logSize uint32
		logBuf            uint64
		kernVersion       uint32
		_                 [108]byte
	}{
		progType: 1, // BPF_PROG_TYPE_SOCKET_FILTER
		insnCnt:  2,
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1,
		logSize:  uint32(len(logBuf)),
		logBuf:   uint64(uintptr(unsafe.Pointer(&logBuf[0]))),
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(&insns)
	runtime.KeepAlive(license)
	runtime.KeepAlive(&logBuf)
	if errno != 0 {
		msg := fmt.Sprintf("BPF_PROG_LOAD: %v; verifier log: %s", errno, bytes.TrimRight(logBuf[:], "\x00"))
		if !inVM && (errors.Is(errno, unix.ENOSYS) || errors.Is(errno, unix.EPERM)) {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	unix.Close(int(fd))
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	t.Logf("BPF program loaded; kernel BTF: %v", err == nil)
}

func TestParseVerdict(t *testing.T) {
	var ta Tally
	ta.Passed, ta.Failed = 12, 0
	line := ta.Verdict("arm64")
	if line != "arm64: 12 passed, 0 failed" {
		t.Fatalf("Verdict = %q", line)
	}
	a, p, f, ok := ParseVerdict(line + "\r")
	if !ok || a != "arm64" || p != 12 || f != 0 {
		t.Errorf("ParseVerdict(%q) = %q %d %d %v", line, a, p, f, ok)
	}
	for _, bad := range []string{"", "arm64: 12 passed", "arm64: 12 passed, 1 failed now",
		"arm64: +1 passed, 0 failed", "arm 64: 1 passed, 0 failed", ": 1 passed, 0 failed",
		"arm64: -1 passed, 0 failed"} {
		if _, _, _, ok := ParseVerdict(bad); ok {
			t.Errorf("ParseVerdict(%q) accepted", bad)
		}
	}
}

// tallySource is a test package whose results are known: 4 PASS lines
// (TestPass, TestSub/a, TestSub/c/d, TestSub/c), 3 FAIL (TestFail, TestSub/b,
// TestSub), 1 SKIP; with TALLY_EXIT set it dies without a FAIL line.
const tallySource = `package tally

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv("TALLY_EXIT") != "" {
		os.Stdout.WriteString("=== RUN   TestGone\n")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func TestPass(t *testing.T) {}
func TestFail(t *testing.T) { t.Error("--- PASS: not a result line, just a message") }
func TestSkip(t *testing.T) { t.Skip("skipped") }
func TestSub(t *testing.T) {
	t.Run("a", func(t *testing.T) {})
	t.Run("b", func(t *testing.T) { t.Fail() })
	t.Run("c", func(t *testing.T) { t.Run("d", func(t *testing.T) {}) })
}
`

// TestTally feeds Tally the output of a real `go test -c` binary. It needs
// the Go toolchain, so it does not run in the VM.
func TestTally(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain (inside the xarch VM, or not installed)")
	}
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":        "module tally\n\ngo 1.21\n",
		"tally_test.go": tallySource,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "tally.test")
	build := exec.Command(gobin, "test", "-c", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}

	var ta Tally
	run := func(env string) {
		cmd := exec.Command(bin, "-test.v")
		cmd.Env = append(os.Environ(), env)
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			ta.Line(line)
		}
		if ta.End(err) {
			t.Errorf("End(%v) = true for a failing binary; output:\n%s", err, out)
		}
	}
	run("TALLY_EXIT=")
	if ta.Passed != 4 || ta.Failed != 3 || ta.Skipped != 1 {
		t.Fatalf("after a normal run: %+v, want 4 passed, 3 failed, 1 skipped", ta)
	}
	run("TALLY_EXIT=1")
	if ta.Passed != 4 || ta.Failed != 4 || ta.Binaries != 2 || ta.BinariesFailed != 2 {
		t.Errorf("after a binary that exits without FAIL lines: %+v, want 4 passed, 4 failed, 2 of 2 binaries failed", ta)
	}
	ta.Line("--- PASS: TestCR (0.00s)\r")
	if !ta.End(nil) || ta.Passed != 5 {
		t.Errorf("a passing binary with a CR-terminated line: %+v", ta)
	}
}

// TestTargets runs, inside the VM, the programs the harness cross-built for
// this package: the Go one from xarch_targets.txt and the C one from the
// testdata/xarch/build hook. Both must be of the guest's architecture and
// run there. On the host there is nothing to run.
func TestTargets(t *testing.T) {
	if _, ok := InVM(); !ok {
		t.Skip("targets are cross-built only for the xarch VM")
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"gohello", "gohello GOARCH=" + runtime.GOARCH + "\n"},
		{"gohello-stripped", "gohello GOARCH=" + runtime.GOARCH + "\n"},
		{"hello-c", "hello-c machine=" + unix.ByteSliceToString(uts.Machine[:]) + "\n"},
	} {
		path, ok := Target(tc.name)
		if !ok {
			t.Errorf("target %s was not built into %s", tc.name, os.Getenv(EnvTargets))
			continue
		}
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := arch.ForELF(f)
		// The build flags of xarch_targets.txt reach go build: -ldflags=-s
		// drops the symbol table.
		stripped := f.Section(".symtab") == nil
		f.Close()
		if err != nil || a != arch.Host() {
			t.Errorf("%s: arch %v, %v; want %s", path, a, err, arch.Host().Name)
		}
		if want := strings.HasSuffix(tc.name, "-stripped"); stripped != want {
			t.Errorf("%s: stripped = %v, want %v", path, stripped, want)
		}
		out, err := exec.Command(path).CombinedOutput()
		if err != nil || string(out) != tc.want {
			t.Errorf("%s: %q, %v; want %q", path, out, err, tc.want)
		}
	}
	if _, ok := Target("../init"); ok {
		t.Error(`Target("../init") escaped the targets directory`)
	}
}

// FuzzParseVerdict checks that ParseVerdict accepts exactly what Verdict
// prints and that Tally never panics, on lines seeded from real test output.
func FuzzParseVerdict(f *testing.F) {
	for _, s := range []string{
		"arm64: 101 passed, 0 failed", "mips64le: 6 passed, 2 failed\r",
		"--- PASS: TestArchIsReal (0.02s)", "    --- FAIL: TestZZFail/sub (0.00s)",
		"--- SKIP: TestTally (0.00s)", "=== RUN   TestPtrace", "PASS", "FAIL",
		"panic: unexpected call to os.Exit(0) during test [recovered, repanicked]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var ta Tally
		ta.Line(line)
		if ta.Passed+ta.Failed+ta.Skipped > 1 {
			t.Fatalf("one line counted as %+v", ta)
		}
		goarch, p, n, ok := ParseVerdict(line)
		if !ok {
			return
		}
		ta = Tally{Passed: p, Failed: n}
		if got := ta.Verdict(goarch); got != strings.TrimSpace(line) {
			t.Fatalf("ParseVerdict(%q) = %q, %d, %d; Verdict prints %q", line, goarch, p, n, got)
		}
	})
}
