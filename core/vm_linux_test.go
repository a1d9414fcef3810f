package core

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
)

// The kernel's NT_PRSTATUS register set, decoded with arch.CoreRegs, holds
// what proc's ptrace conversion (regsToArch, from PTRACE_GETREGS or the
// arch's equivalent) reads: the table is right for the host (and, under
// scripts/xarch-test, for the VM's arch).
func TestCoreRegsMatchPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (ptrace)")
	}
	bin, p := startNative(t)
	_ = bin
	a := arch.Host()
	checked := 0
	_, err := proc.Freeze(context.Background(), p.Pid, proc.FreezeOptions{Copy: func(s *target.Snapshot) []target.Segment {
		for _, th := range s.Threads {
			raw, err := proc.Regset(th.TID, elf.NT_PRSTATUS)
			if err != nil {
				t.Errorf("thread %d: %v", th.TID, err)
				continue
			}
			if len(raw) != 8*len(a.CoreRegs) {
				t.Fatalf("NT_PRSTATUS of %d bytes, arch.CoreRegs of %s has %d slots", len(raw), a.Name, len(a.CoreRegs))
			}
			regs, _ := decodeRegs(a, raw)
			if regs.PC != th.Regs.PC {
				t.Errorf("thread %d: PC %#x from the core layout, %#x from ptrace", th.TID, regs.PC, th.Regs.PC)
			}
			for n := 0; n < arch.MaxRegs; n++ {
				want, ok := th.Regs.Get(n)
				if !ok {
					continue
				}
				if got, _ := regs.Get(n); got != want {
					t.Errorf("thread %d: %s = %#x from the core layout, %#x from ptrace", th.TID, a.RegName(n), got, want)
				}
				checked++
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no register compared")
	}
}

// startNative starts the native C target: built with gcc on the host, the
// cross-built one in the VM.
func startNative(t *testing.T) (string, *testprog.Proc) {
	t.Helper()
	var bin string
	if _, ok := xarch.InVM(); ok {
		testprog.ReadyTimeout = 3 * time.Minute // emulated CPUs are slow
		b, ok := xarch.Target("native")
		if !ok {
			t.Fatal("target native missing from the VM (testdata/xarch/build)")
		}
		bin = b
	} else {
		bin = testprog.BuildC(t, "native", "-static")
	}
	return bin, testprog.Start(t, bin)
}

// TestDumpInVM dumps the native target inside scripts/xarch-test's VM, reads
// the core back there and checks it unwinds as the live process did; under
// scripts/xarch-test -record it also prints the core, the binary and that
// unwind on the console, for TestVMCores to read on the host (see
// docs/cores.md). On the host it does the same, printing nothing.
func TestDumpInVM(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (ptrace)")
	}
	goarch, inVM := xarch.InVM()
	bin, p := startNative(t)
	live := func() string {
		snap, err := proc.Freeze(context.Background(), p.Pid, proc.FreezeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return unwindText(snap, proc.Root(p.Pid))
	}
	before := live()
	path := filepath.Join(t.TempDir(), "core")
	if _, err := Dump(context.Background(), p.Pid, path, DumpOptions{}); err != nil {
		t.Fatal(err)
	}
	if after := live(); after != before {
		t.Skipf("the target moved between observations:\n%s\n%s", before, after)
	}
	c, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := unwindText(c.Snapshot, "")
	c.Close()
	if got != before {
		t.Fatalf("the core unwinds differently from the live process\ncore:\n%s\nlive:\n%s", got, before)
	}
	if !inVM || !xarch.Recording() {
		return
	}
	// scripts/xarch-test -record: the core (zstd, as systemd-coredump
	// keeps them), the binary and the unwind, for TestVMCores on the host.
	dir := filepath.Join(t.TempDir(), "rec")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	coreData, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var z, gz bytes.Buffer
	enc, _ := zstd.NewWriter(&z, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	enc.Write(coreData)
	enc.Close()
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	gw.Write(exe)
	gw.Close()
	for name, data := range map[string][]byte{"core.zst": z.Bytes(), "exe.gz": gz.Bytes(), "want.txt": []byte(got)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := xarch.PrintRecording(os.Stdout, dir, "core/testdata/vmcores/"+goarch); err != nil {
		t.Fatal(err)
	}
}
