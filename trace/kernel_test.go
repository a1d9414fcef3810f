package trace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/link"

	"github.com/taijidbg/taiji/arch"
)

// TestCheckKernel runs the check on this machine's /sys and on copies of
// its layout with one piece missing: BTF is needed only for --stack.
func TestCheckKernel(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err == nil {
		if err := CheckKernel("/sys", true); err != nil {
			t.Fatalf("this kernel: %v", err)
		}
	}
	mk := func(paths ...string) string {
		d := t.TempDir()
		for _, p := range paths {
			if err := os.MkdirAll(filepath.Join(d, filepath.Dir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, p), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	noBTF := mk("bus/event_source/devices/uprobe/type")
	for _, c := range []struct {
		sys   string
		stack bool
		want  string
	}{
		{noBTF, true, "--stack needs kernel BTF"},
		{mk("kernel/btf/vmlinux"), false, "without uprobes"},
		{mk("kernel/btf/vmlinux"), true, "without uprobes"},
	} {
		err := CheckKernel(c.sys, c.stack)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line saying %q", c.sys, err, c.want)
		}
	}
	if err := CheckKernel(noBTF, false); err != nil {
		t.Errorf("no BTF, no --stack: %v", err)
	}
	for _, stack := range []bool{false, true} {
		if err := CheckKernel(mk("kernel/btf/vmlinux", "bus/event_source/devices/uprobe/type"), stack); err != nil {
			t.Errorf("complete sysfs: %v", err)
		}
	}
}

// TestAttachErrorUnsupported: a "not supported" from cilium/ebpf becomes
// trace.ErrUnsupported and keeps both identities: errors.ErrUnsupported
// (taiji's one "not supported") and ebpf's own.
func TestAttachErrorUnsupported(t *testing.T) {
	err := attachError(fmt.Errorf("uprobe_multi: %w", link.ErrNotSupported))
	for _, want := range []error{ErrUnsupported, errors.ErrUnsupported, link.ErrNotSupported} {
		if !errors.Is(err, want) {
			t.Errorf("%v: errors.Is(%v) is false", err, want)
		}
	}
}

// TestCheckArch: the arches with trace data are traced, s390x is refused
// for its uprobes (arch.UprobesUnsafe) and mips64le, loong64 for want of
// data, each in one line naming the arch.
func TestCheckArch(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"amd64", ""}, {"arm64", ""}, {"ppc64le", ""}, {"riscv64", ""},
		{"s390x", "trace does not support s390x: uprobes on this kernel broke"},
		{"mips64le", "trace does not support mips64le yet (it does amd64, arm64, ppc64le, riscv64)"},
		{"loong64", "trace does not support loong64 yet"},
	} {
		a, err := arch.ByName(c.name)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckArch(a)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: %v, want one line with %q", c.name, err, c.want)
		}
	}
}
