package goruntime

import (
	"debug/elf"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/taijidbg/taiji/internal/testprog"
)

// elfMem reads an ELF file's loadable segments at their link-time
// addresses, as the program sees them before relocation (zeros past a
// segment's file bytes).
type elfMem struct{ f *elf.File }

func (m elfMem) ReadAt(b []byte, addr int64) (int, error) {
	for _, p := range m.f.Progs {
		a := uint64(addr)
		if p.Type != elf.PT_LOAD || a < p.Vaddr || a+uint64(len(b)) > p.Vaddr+p.Memsz {
			continue
		}
		clear(b)
		off := a - p.Vaddr
		if off < p.Filesz {
			n := min(uint64(len(b)), p.Filesz-off)
			if _, err := p.ReadAt(b[:n], int64(off)); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	return 0, fmt.Errorf("%#x+%d is not in a loadable segment: %w", addr, len(b), io.EOF)
}

func symbol(t *testing.T, f *elf.File, name string) elf.Symbol {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no symbol %s", name)
	return elf.Symbol{}
}

// TestStringTablesMatchBinaries reads runtime.waitReasonStrings and
// runtime.gStatusStrings from a program each toolchain built: they must be
// the generated tables of its release, element for element and of the
// symbols' lengths (a stale zstrings.go fails here: run
// scripts/gen-goruntime), and WaitReasonsAt must refuse the status table.
func TestStringTablesMatchBinaries(t *testing.T) {
	tcs := testprog.Toolchains(t)
	if len(tcs) == 0 {
		t.Skip("no Go toolchains listed (scripts/go-toolchains --install)")
	}
	dir := writeProgram(t, varsProgram)
	for _, tc := range tcs {
		t.Run(tc.Version, func(t *testing.T) {
			t.Parallel()
			f, _ := openGo(t, buildFor(t, tc, "amd64", dir))
			mem := elfMem{f}
			ws := symbol(t, f, "runtime.waitReasonStrings")
			want := WaitReasons(tc.Version)
			if int(ws.Size) != 16*len(want) {
				t.Errorf("runtime.waitReasonStrings has %d entries, the table %d", ws.Size/16, len(want))
			}
			got, err := WaitReasonsAt(mem, ws.Value, 8, f.ByteOrder, len(want))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the binary's wait reasons:\n%q\ngenerated:\n%q", got, want)
			}

			gs := symbol(t, f, "runtime.gStatusStrings")
			status, err := readStrings(mem, gs.Value, 8, f.ByteOrder, int(gs.Size/16), 64)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range status {
				if got := StatusString(tc.Version, uint32(i)); got != s {
					t.Errorf("StatusString(%s, %d) = %q, the binary has %q", tc.Version, i, got, s)
				}
			}
			if got := StatusString(tc.Version, uint32(len(status))); got != "???" {
				t.Errorf("StatusString past the table: %q", got)
			}
			if _, err := WaitReasonsAt(mem, gs.Value, 8, f.ByteOrder, len(status)); err == nil {
				t.Error("WaitReasonsAt took runtime.gStatusStrings for the wait reasons")
			}
			if _, err := WaitReasonsAt(mem, ws.Value+16, 8, f.ByteOrder, len(want)-1); err == nil {
				t.Error("WaitReasonsAt took a table that does not start with waitReasonZero")
			}
		})
	}
}

// TestStatusStrings: the names goroutineheader prints, the scan bit
// dropped, and the neighbours' names for a release without a table.
func TestStatusStrings(t *testing.T) {
	for _, c := range []struct {
		release string
		status  uint32
		want    string
	}{
		{"go1.26.1", StatusLeaked, "leaked"},
		{"go1.26", StatusDeadExtra, "waiting for cgo callback"},
		{"go1.27", StatusScan | StatusWaiting, "waiting"},
		{"go1.19", StatusPreempted, "preempted"},
		{"go1.19", StatusLeaked, "???"},
		{"go1.20.3", StatusRunning, "running"}, // between go1.19 and go1.21, which agree
		{"go1.24", StatusSyscall, "syscall"},
		{"go1.24", StatusLeaked, "???"}, // no _Gleaked before go1.26
		{"", StatusRunning, "???"},
	} {
		if got := StatusString(c.release, c.status); got != c.want {
			t.Errorf("StatusString(%q, %#x) = %q, want %q", c.release, c.status, got, c.want)
		}
	}
	if WaitReasons("not a version") != nil {
		t.Error("WaitReasons of no release")
	}
	// go1.20 lies between go1.19 and go1.21: the names they agree on.
	w, lo, hi := WaitReasons("go1.20.2"), WaitReasons("go1.19"), WaitReasons("go1.21")
	if len(w) != min(len(lo), len(hi)) || w[1] != "GC assist marking" {
		t.Fatalf("go1.20: %q", w)
	}
	for i := range w {
		if (lo[i] == hi[i]) != (w[i] == lo[i]) && lo[i] != "" {
			t.Errorf("go1.20 wait reason %d = %q; go1.19 %q, go1.21 %q", i, w[i], lo[i], hi[i])
		}
	}
}
