package arch

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/loong64/loong64asm"
	"golang.org/x/arch/ppc64/ppc64asm"
	"golang.org/x/arch/riscv64/riscv64asm"
	"golang.org/x/arch/s390x/s390xasm"
	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"
)

// TestSyscallInstructions decodes every arch's system call and trap bytes
// with golang.org/x/arch's disassemblers (mips has none: its two fixed
// encodings are checked against the MIPS64 manual's SPECIAL opcodes).
func TestSyscallInstructions(t *testing.T) {
	dis := map[string]func(b []byte) string{
		"amd64": func(b []byte) string {
			i, err := x86asm.Decode(b, 64)
			if err != nil || i.Len != len(b) {
				return "?"
			}
			return x86asm.GNUSyntax(i, 0, nil)
		},
		"arm64": func(b []byte) string {
			i, err := arm64asm.Decode(b)
			if err != nil {
				return "?"
			}
			return arm64asm.GNUSyntax(i)
		},
		"riscv64": func(b []byte) string {
			i, err := riscv64asm.Decode(b)
			if err != nil {
				return "?"
			}
			return riscv64asm.GNUSyntax(i)
		},
		"loong64": func(b []byte) string {
			i, err := loong64asm.Decode(b)
			if err != nil {
				return "?"
			}
			return loong64asm.GNUSyntax(i)
		},
		"ppc64le": func(b []byte) string {
			i, err := ppc64asm.Decode(b, binary.LittleEndian)
			if err != nil {
				return "?"
			}
			return ppc64asm.GNUSyntax(i, 0)
		},
		"s390x": func(b []byte) string {
			i, err := s390xasm.Decode(b)
			if err != nil {
				return "?"
			}
			return s390xasm.GNUSyntax(i, 0)
		},
		"mips64le": func(b []byte) string {
			switch binary.LittleEndian.Uint32(b) {
			case 0x0000000c: // SPECIAL, function 001100
				return "syscall"
			case 0x0000000d: // SPECIAL, function 001101
				return "break"
			}
			return "?"
		},
	}
	want := map[string][2]string{
		"amd64":    {"syscall", "int3"},
		"arm64":    {"svc #0x0", "brk #0x0"},
		"riscv64":  {"ecall", "ebreak"},
		"loong64":  {"syscall 0x0", "break 0x0"},
		"ppc64le":  {"sc", "tw 31"}, // tw 31,0,0: trap always
		"s390x":    {"svc 0", "?"},  // 0x0001: the illegal opcode gdb plants
		"mips64le": {"syscall", "break"},
	}
	for _, name := range Names() {
		a, _ := ByName(name)
		s := a.Syscall
		d := dis[name]
		if d == nil {
			t.Errorf("%s: no disassembler in this test", name)
			continue
		}
		w := want[name]
		if got := d(s.Insn); !strings.HasPrefix(strings.ToLower(got), strings.Fields(w[0])[0]) || (len(strings.Fields(w[0])) > 1 && !strings.Contains(got, strings.Fields(w[0])[1])) {
			t.Errorf("%s: Insn % x decodes as %q, want %q", name, s.Insn, got, w[0])
		}
		if got := d(s.Trap); !strings.HasPrefix(strings.ToLower(got), strings.Fields(w[1])[0]) {
			t.Errorf("%s: Trap % x decodes as %q, want %q", name, s.Trap, got, w[1])
		}
		if len(s.Insn)%s.InsnAlign != 0 || len(s.Trap)%s.InsnAlign != 0 {
			t.Errorf("%s: instruction lengths not multiples of %d", name, s.InsnAlign)
		}
		if len(s.Args) != 6 {
			t.Errorf("%s: %d argument registers, want 6", name, len(s.Args))
		}
		for _, r := range append([]int{s.Nr, s.Ret}, s.Args...) {
			if _, ok := a.RegNames[r]; !ok && r != 64 {
				t.Errorf("%s: register %d has no name", name, r)
			}
		}
	}
}

// TestSyscallTables checks the generated tables against numbers from each
// kernel's syscall table and against golang.org/x/sys for the host.
func TestSyscallTables(t *testing.T) {
	known := map[string]map[string]int{
		"amd64":    {"getpid": 39, "mmap": 9, "restart_syscall": 219, "write": 1, "nanosleep": 35},
		"arm64":    {"getpid": 172, "mmap": 222, "restart_syscall": 128, "write": 64},
		"mips64le": {"getpid": 5038, "mmap": 5009, "restart_syscall": 5213, "write": 5001},
		"riscv64":  {"getpid": 172, "mmap": 222, "restart_syscall": 128},
		"loong64":  {"getpid": 172, "mmap": 222, "restart_syscall": 128},
		"ppc64le":  {"getpid": 20, "mmap": 90, "restart_syscall": 0},
		"s390x":    {"getpid": 20, "mmap": 90, "restart_syscall": 7},
	}
	for name, calls := range known {
		a, err := ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for call, want := range calls {
			if got, ok := a.SyscallNumber(call); !ok || got != want {
				t.Errorf("%s: %s = %d, %v; want %d", name, call, got, ok, want)
			}
		}
		if got := a.SyscallName(calls["getpid"]); got != "getpid" {
			t.Errorf("%s: SyscallName(%d) = %q", name, calls["getpid"], got)
		}
	}
	// Per-arch values that differ from the generic ones.
	mips, amd := MIPS64LE, AMD64
	if v, _ := mips.Const("MAP_ANONYMOUS"); v != 0x800 {
		t.Errorf("mips MAP_ANONYMOUS = %#x", v)
	}
	if v, _ := amd.Const("MAP_ANONYMOUS"); v != 0x20 {
		t.Errorf("amd64 MAP_ANONYMOUS = %#x", v)
	}
	if n, _ := mips.Errno("ENOSYS"); n != 89 || mips.ErrnoName(89) != "ENOSYS" {
		t.Errorf("mips ENOSYS = %d (name of 89: %q)", n, mips.ErrnoName(89))
	}
	if amd.ErrnoName(11) != "EAGAIN" || amd.ErrnoName(9) != "EBADF" {
		t.Errorf("amd64 errno names: 11=%q 9=%q", amd.ErrnoName(11), amd.ErrnoName(9))
	}
	if v, _ := ARM64.Const("O_DIRECTORY"); v != 0x4000 {
		t.Errorf("arm64 O_DIRECTORY = %#x", v)
	}
	// The host's table is x/sys's.
	h := Host()
	for call, want := range map[string]int{"getpid": unix.SYS_GETPID, "mmap": unix.SYS_MMAP, "munmap": unix.SYS_MUNMAP,
		"close": unix.SYS_CLOSE, "write": unix.SYS_WRITE, "rt_sigprocmask": unix.SYS_RT_SIGPROCMASK} {
		if got, _ := h.SyscallNumber(call); got != want {
			t.Errorf("host %s = %d, x/sys says %d", call, got, want)
		}
	}
	if n, _ := h.Errno("EBADF"); n != int(unix.EBADF) {
		t.Errorf("host EBADF = %d", n)
	}
	if v, _ := h.Const("PROT_EXEC"); v != unix.PROT_EXEC {
		t.Errorf("host PROT_EXEC = %d", v)
	}
}

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		a         *Arch
		ret, flag uint64
		value     int64
		errno     int
	}{
		{AMD64, uint64(0xfffffffffffffff7), 0, -1, 9}, // -EBADF
		{AMD64, 42, 0, 42, 0},
		{AMD64, 0x7f0000001000, 0, 0x7f0000001000, 0},
		{AMD64, uint64(0xfffffffffffff000), 0, -4096, 0}, // below -4095: a value
		{ARM64, uint64(0xfffffffffffffffe), 0, -1, 2},
		{MIPS64LE, 9, 1, -1, 9},
		{MIPS64LE, 9, 0, 9, 0},
		{PPC64LE, 9, 0x10000000, -1, 9},
		{PPC64LE, 9, 0x20000000, 9, 0},
		{S390X, uint64(0xfffffffffffffff2), 0, -1, 14},
	} {
		v, e := c.a.Decode(c.ret, c.flag)
		if v != c.value || e != c.errno {
			t.Errorf("%s.Decode(%#x, %#x) = %d, %d; want %d, %d", c.a.Name, c.ret, c.flag, v, e, c.value, c.errno)
		}
	}
}

func TestParseArgAndSyscall(t *testing.T) {
	for in, want := range map[string]uint64{
		"0": 0, "42": 42, "0x10": 16, "-1": ^uint64(0), "PROT_READ|PROT_WRITE": 3,
		"MAP_PRIVATE|MAP_ANONYMOUS": 0x22, "O_RDONLY": 0, "SIGUSR1": 10, "AT_FDCWD": uint64(0xffffffffffffff9c),
		"0xffffffffffffffff": ^uint64(0),
	} {
		if got, err := AMD64.ParseArg(in); err != nil || got != want {
			t.Errorf("ParseArg(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	if v, _ := MIPS64LE.ParseArg("MAP_PRIVATE|MAP_ANONYMOUS"); v != 0x802 {
		t.Errorf("mips MAP_PRIVATE|MAP_ANONYMOUS = %#x", v)
	}
	for _, bad := range []string{"", "hello", "PROT_READ|", "PROT_NOPE"} {
		if _, err := AMD64.ParseArg(bad); err == nil {
			t.Errorf("ParseArg(%q) succeeded", bad)
		}
	}
	if nr, name, err := AMD64.ParseSyscall("39"); err != nil || nr != 39 || name != "getpid" {
		t.Errorf("ParseSyscall(39) = %d %q %v", nr, name, err)
	}
	if nr, _, err := ARM64.ParseSyscall("GETPID"); err != nil || nr != 172 {
		t.Errorf("ParseSyscall(GETPID) on arm64 = %d %v", nr, err)
	}
	_, _, err := AMD64.ParseSyscall("getpidd")
	if err == nil || !strings.Contains(err.Error(), "did you mean getpid") {
		t.Errorf("ParseSyscall(getpidd): %v", err)
	}
	_, _, err = ARM64.ParseSyscall("dup2")
	if err == nil || !strings.Contains(err.Error(), "dup3") {
		t.Errorf("arm64 has no dup2; error should suggest dup3: %v", err)
	}
}

// FuzzParseArg: argument parsing must never panic, and a number it
// accepts must print back to the same value.
func FuzzParseArg(f *testing.F) {
	for _, s := range []string{"0", "-1", "0x7f", "PROT_READ|PROT_WRITE", "MAP_SHARED|0x20", "SIGKILL", "|", "O_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range []*Arch{AMD64, MIPS64LE, S390X} {
			a.ParseArg(s)
			a.ParseSyscall(s)
		}
	})
}
