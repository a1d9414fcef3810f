package core

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/target"
)

// memFile is an in-memory WriterAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memFile) Truncate(n int64) error {
	if int(n) > len(m.b) {
		m.b = append(m.b, make([]byte, int(n)-len(m.b))...)
	}
	m.b = m.b[:n]
	return nil
}

const (
	stackAddr = 0x7ffd0000
	textAddr  = 0x400000
)

// testProcess is a two-thread process of architecture a whose register
// slot i holds 0x1000*(thread+1)+i, with a stack of known bytes and an
// executable mapping of libPath.
func testProcess(a *arch.Arch, libPath string) *Process {
	stack := make([]byte, 8192)
	for i := range stack {
		stack[i] = byte(i * 7)
	}
	p := &Process{Arch: a, PageSize: 4096, Pid: 100, PPid: 1, Name: "target", Args: "target --flag", State: 'S',
		Auxv:   make([]byte, 32),
		Memory: target.NewSegmentReader([]target.Segment{{Addr: stackAddr, Data: stack}}, nil),
		Segments: []Segment{
			{Mapping: target.Mapping{Start: textAddr, End: textAddr + 0x2000, Perm: "r-xp", Inode: 7, Path: libPath}},
			{Mapping: target.Mapping{Start: stackAddr, End: stackAddr + 8192, Perm: "rw-p", Path: "[stack]"}, Dump: 8192},
		},
	}
	for t := range 2 {
		regs := make([]byte, 8*len(a.CoreRegs))
		for i := range a.CoreRegs {
			a.ByteOrder.PutUint64(regs[8*i:], uint64(0x1000*(t+1)+i))
		}
		p.Threads = append(p.Threads, ThreadState{TID: 101 - t, Regs: regs, Signal: 11 * (1 - t)})
	}
	return p
}

func writeCore(t testing.TB, p *Process) []byte {
	t.Helper()
	var f memFile
	if _, err := Write(&f, p); err != nil {
		t.Fatal(err)
	}
	return f.b
}

// A core Write makes of any architecture reads back with every register
// where arch.CoreRegs puts it, in the arch's byte order (s390x is
// big-endian), and the memory, mappings and process details it holds.
func TestWriteReadEveryArch(t *testing.T) {
	for _, name := range arch.Names() {
		t.Run(name, func(t *testing.T) {
			a, _ := arch.ByName(name)
			b := writeCore(t, testProcess(a, "/nonexistent/lib.so"))
			c, err := NewCore(bytes.NewReader(b), int64(len(b)), "test", Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := c.Snapshot
			if s.Arch != a || s.Pid != 100 || len(s.Threads) != 2 || c.Args != "target --flag" || c.Signal != 11 || c.SignalTID != 101 {
				t.Fatalf("arch %v pid %d threads %d args %q signal %d in %d", s.Arch.Name, s.Pid, len(s.Threads), c.Args, c.Signal, c.SignalTID)
			}
			// Leader first, then by TID.
			if s.Threads[0].TID != 100 || s.Threads[1].TID != 101 || s.Threads[0].Info.Name != "target" || s.Threads[0].Info.State != "S" {
				t.Errorf("threads %d %d, name %q state %q", s.Threads[0].TID, s.Threads[1].TID, s.Threads[0].Info.Name, s.Threads[0].Info.State)
			}
			for ti, th := range s.Threads {
				base := uint64(0x1000 * (2 - ti)) // TID 100 was written second
				for i, slot := range a.CoreRegs {
					want := base + uint64(i)
					switch slot {
					case arch.SlotPC:
						if th.Regs.PC != want {
							t.Errorf("thread %d: PC %#x, want %#x", th.TID, th.Regs.PC, want)
						}
					case arch.SlotTLS:
						if th.TLS != want {
							t.Errorf("thread %d: TLS %#x, want %#x", th.TID, th.TLS, want)
						}
					case arch.SlotSkip:
					default:
						if v, ok := th.Regs.Get(slot); !ok || v != want {
							t.Errorf("thread %d: %s = %#x (%v), want %#x", th.TID, a.RegName(slot), v, ok, want)
						}
					}
				}
			}
			buf := make([]byte, 16)
			if _, err := s.Memory().ReadAt(buf, stackAddr+100); err != nil || buf[0] != byte(700%256) {
				t.Errorf("stack read: %v %x", err, buf)
			}
			// The text was not dumped and its file is missing: reads fail.
			if _, err := s.Memory().ReadAt(buf, textAddr); err == nil {
				t.Errorf("read of text not in the core succeeded")
			}
			if m := target.Find(s.Maps, textAddr); m == nil || m.Path != "/nonexistent/lib.so" || !m.Exec() {
				t.Errorf("text mapping %+v", m)
			}
		})
	}
}

// A missing file is named in one note, and opened by no one; a core of
// another arch without a sysroot says so.
func TestMissingFilesNote(t *testing.T) {
	host := arch.Host()
	for _, name := range arch.Names() {
		a, _ := arch.ByName(name)
		b := writeCore(t, testProcess(a, "/nonexistent/lib.so"))
		c, err := NewCore(bytes.NewReader(b), int64(len(b)), "test", Options{})
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, w := range c.Snapshot.Warnings {
			if strings.Contains(w, "/nonexistent/lib.so") {
				notes = append(notes, w)
			}
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "not found") {
			t.Errorf("%s: want one note naming the missing file, got %q", name, c.Snapshot.Warnings)
		}
		if foreign := strings.Contains(strings.Join(notes, ""), "ran on "+name); foreign != (a != host) {
			t.Errorf("%s: note %q: says whether the core is of another arch: %v", name, notes, foreign)
		}
		m := target.Find(c.Snapshot.Maps, textAddr)
		if p, _ := c.Snapshot.MappedFile(*m, ""); p != "" {
			t.Errorf("%s: a missing file is still offered to be opened as %q", name, p)
		}
	}
}

// --exe stands for the executable; one of another arch is refused in a note.
func TestExeOfAnotherArch(t *testing.T) {
	exe, err := os.Executable() // the test binary: the host's arch
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range arch.Names() {
		a, _ := arch.ByName(name)
		b := writeCore(t, testProcess(a, "/somewhere/prog"))
		c, err := NewCore(bytes.NewReader(b), int64(len(b)), "test", Options{Exe: exe})
		if err != nil {
			t.Fatal(err)
		}
		m := target.Find(c.Snapshot.Maps, textAddr)
		p, _ := c.Snapshot.MappedFile(*m, "")
		if a == arch.Host() {
			if p != exe || len(c.Snapshot.Warnings) != 0 {
				t.Errorf("%s: --exe opened as %q, notes %q", name, p, c.Snapshot.Warnings)
			}
			// What the core left out of a file mapping is read from the file.
			magic := make([]byte, 4)
			if _, err := c.Snapshot.Memory().ReadAt(magic, textAddr); err != nil || string(magic) != elf.ELFMAG {
				t.Errorf("%s: text read from the mapped file: %q, %v", name, magic, err)
			}
			continue
		}
		if p != "" || len(c.Snapshot.Warnings) != 1 || !strings.Contains(c.Snapshot.Warnings[0], "is a "+arch.Host().Name+" file") {
			t.Errorf("%s: --exe of the host's arch: opened as %q, notes %q", name, p, c.Snapshot.Warnings)
		}
	}
}

// Bad input: one error line each, never a panic.
func TestBadInput(t *testing.T) {
	exe, _ := os.Executable()
	if _, err := Open(exe, Options{}); !errors.Is(err, ErrNotCore) || strings.Contains(err.Error(), "\n") {
		t.Errorf("an executable: %v", err)
	}
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte("not an ELF file at all"), 0o644)
	var fe *FormatError
	if _, err := Open(text, Options{}); !errors.As(err, &fe) {
		t.Errorf("a text file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	zst := filepath.Join(dir, "bad.zst")
	os.WriteFile(zst, append(append([]byte{}, zstdMagic...), "garbage"...), 0o644)
	if _, err := Open(zst, Options{}); !errors.As(err, &fe) || !strings.Contains(err.Error(), "zstd") {
		t.Errorf("corrupt zstd: %v", err)
	}
	// Truncated at every length: an error or a warning, never a panic.
	b := writeCore(t, testProcess(arch.Host(), "/x"))
	ef, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	notesEnd := int(ef.Progs[0].Off + ef.Progs[0].Filesz)
	for n := 0; n < len(b); n += 7 {
		c, err := NewCore(bytes.NewReader(b[:n]), int64(n), "cut", Options{})
		if err == nil && n < notesEnd {
			t.Errorf("cut at %d: no error", n)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("cut at %d: %q spans lines", n, err)
		}
		if err == nil && n < len(b) && !strings.Contains(strings.Join(c.Snapshot.Warnings, " "), "truncated") {
			t.Errorf("cut at %d: read without a word of truncation: %q", n, c.Snapshot.Warnings)
		}
		if err == nil && strings.Count(strings.Join(c.Snapshot.Warnings, "\n"), "truncated") > 1 {
			t.Errorf("cut at %d: truncation said more than once: %q", n, c.Snapshot.Warnings)
		}
	}
}

func FuzzNewCore(f *testing.F) {
	for _, name := range []string{"amd64", "s390x", "arm64"} {
		a, _ := arch.ByName(name)
		f.Add(writeCore(f, testProcess(a, "/lib/x.so")))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewCore(bytes.NewReader(b), int64(len(b)), "fuzz", Options{Sysroot: "/nonexistent"})
		if err != nil {
			return
		}
		mem := c.Snapshot.Memory()
		buf := make([]byte, 64)
		for _, th := range c.Snapshot.Threads {
			sp, _ := th.Regs.Get(c.Snapshot.Arch.SP)
			mem.ReadAt(buf, int64(sp))
		}
		c.Close()
	})
}
