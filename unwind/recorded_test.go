package unwind_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/taijidbg/taiji/arch"
	"github.com/taijidbg/taiji/internal/testprog"
	"github.com/taijidbg/taiji/internal/xarch"
	"github.com/taijidbg/taiji/module"
	"github.com/taijidbg/taiji/proc"
	"github.com/taijidbg/taiji/target"
	"github.com/taijidbg/taiji/unwind"
)

// record, when set (go test ./unwind -run TestRecordedSnapshot -record),
// makes TestRecordedSnapshot freeze a live target and rewrite its
// testdata/recorded/<goarch> directory instead of only reading it.
var record = flag.Bool("record", false, "record testdata/recorded/<GOARCH> from a live target (root)")

// recording is a snapshot saved as test data: what the unwinder reads of a
// process, and nothing else. Memory holds only the bytes the live unwind
// read; the binaries are stored gzipped beside it (Files: mapped path ->
// file name there).
type recording struct {
	Arch     string
	Pid      int
	Exe      string
	Maps     []target.Mapping
	Threads  []recordedThread
	VDSO     []byte
	VDSOAddr uint64
	Memory   []target.Segment
	Files    map[string]string
	// Want is the live unwind's text, thread by thread (unwind.Thread's
	// String, Frozen left out).
	Want []string
}

type recordedThread struct {
	TID  int
	Info target.TaskInfo
	Regs arch.Regs
	TLS  uint64
}

// recordedOptions are the unwind options of both the live and the offline
// unwind: kernel frames are the producer's, not the unwinder's.
var recordedOptions = unwind.Options{NoKernel: true}

// TestRecordedSnapshot unwinds, on any host and with no live process, a
// snapshot recorded from a live target: its registers, maps, the memory the
// unwinder read and the binary. The frames must be the ones the live
// unwind gave. Each snapshot is of the static native C target (CFI, a
// signal frame, inline frames, a recursion): amd64's recorded on a host,
// the others inside the VMs (scripts/xarch-test -record ARCH).
func TestRecordedSnapshot(t *testing.T) {
	if goarch, ok := xarch.InVM(); ok && xarch.Recording() {
		// Inside a VM booted by scripts/xarch-test -record: record there,
		// and print the recording for the script to save on the host.
		rel := "unwind/testdata/recorded/" + goarch
		dir := filepath.Join(t.TempDir(), "recorded")
		recordSnapshot(t, dir)
		if err := xarch.PrintRecording(os.Stdout, dir, rel); err != nil {
			t.Fatal(err)
		}
	} else if *record {
		recordSnapshot(t, filepath.Join("testdata", "recorded", runtime.GOARCH))
	}
	dirs, _ := filepath.Glob(filepath.Join("testdata", "recorded", "*"))
	if len(dirs) == 0 {
		t.Fatal("no recorded snapshots in testdata/recorded")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rec, s := loadRecording(t, dir)
			got := unwindText(t, s)
			if strings.Join(got, "") != strings.Join(rec.Want, "") {
				t.Errorf("offline unwind differs from the live one\ngot:\n%s\nwant:\n%s", strings.Join(got, ""), strings.Join(rec.Want, ""))
			}
		})
	}
}

// unwindText unwinds s with a fresh unwinder and renders every thread.
func unwindText(t *testing.T, s *target.Snapshot) []string {
	t.Helper()
	u := unwind.New(s.Arch, module.Options{})
	defer u.Close()
	threads, _ := u.Process(s, recordedOptions)
	var out []string
	for _, th := range threads {
		th.Frozen = 0
		out = append(out, th.String())
	}
	return out
}

// dirFiles opens every mapped file from a directory of recorded binaries.
type dirFiles struct {
	dir   string
	names map[string]string
}

func (d dirFiles) MappedFile(m target.Mapping, root string) (string, string) {
	if n, ok := d.names[m.Path]; ok {
		return filepath.Join(d.dir, n), ""
	}
	return m.Path, root
}

// loadRecording reads dir's recording and makes it a snapshot with no live
// memory: its binaries are inflated into a temporary directory.
func loadRecording(t *testing.T, dir string) (*recording, *target.Snapshot) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec recording
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	a, err := arch.ByName(rec.Arch)
	if err != nil {
		t.Fatal(err)
	}
	bins := t.TempDir()
	for _, name := range rec.Files {
		gz, err := os.ReadFile(filepath.Join(dir, name+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bins, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &target.Snapshot{
		Pid: rec.Pid, Exe: rec.Exe, Arch: a, Maps: rec.Maps,
		VDSO: rec.VDSO, VDSOAddr: rec.VDSOAddr, Extra: rec.Memory,
		Files: dirFiles{dir: bins, names: rec.Files},
	}
	for _, th := range rec.Threads {
		s.Threads = append(s.Threads, &target.Thread{TID: th.TID, Info: th.Info, Regs: th.Regs, TLS: th.TLS})
	}
	return &rec, s
}

// readLog serves reads from r and remembers every range read.
type readLog struct {
	r      io.ReaderAt
	ranges []target.Segment
}

func (l *readLog) ReadAt(p []byte, off int64) (int, error) {
	n, err := l.r.ReadAt(p, off)
	if n > 0 {
		l.ranges = append(l.ranges, target.Segment{Addr: uint64(off), Data: bytes.Clone(p[:n])})
	}
	return n, err
}

// merged returns the ranges read, overlapping or adjacent ones joined.
func (l *readLog) merged() []target.Segment {
	rs := append([]target.Segment(nil), l.ranges...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Addr < rs[j].Addr })
	var out []target.Segment
	for _, r := range rs {
		if n := len(out); n > 0 && r.Addr <= out[n-1].End() {
			last := &out[n-1]
			if r.End() > last.End() {
				last.Data = append(last.Data, r.Data[last.End()-r.Addr:]...)
			}
			continue
		}
		out = append(out, target.Segment{Addr: r.Addr, Data: bytes.Clone(r.Data)})
	}
	return out
}

// recordSnapshot freezes the static native target, unwinds it live, and
// writes what that unwind read to dir; then the offline unwind of what was
// written must match the live one.
func recordSnapshot(t *testing.T, dir string) {
	if os.Geteuid() != 0 {
		t.Fatal("-record needs root: ptrace")
	}
	var bin string
	if _, ok := xarch.InVM(); ok {
		var found bool
		if bin, found = xarch.Target("native"); !found {
			t.Fatal("the VM has no /targets/native (testdata/xarch/build)")
		}
	} else {
		bin = testprog.BuildC(t, "native", "-static")
	}
	p := testprog.Start(t, bin, "20")
	live, err := proc.Freeze(context.Background(), p.Pid, proc.FreezeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := unwindText(t, live)

	// The same unwind over a snapshot whose memory is all "live", through a
	// log: what it reads is what the recording must hold.
	log := &readLog{r: live.Memory()}
	view := *live
	view.Threads = nil
	for _, th := range live.Threads {
		c := *th
		c.Stack = target.Segment{}
		view.Threads = append(view.Threads, &c)
	}
	view.Extra, view.Live = nil, log
	if got := unwindText(t, &view); strings.Join(got, "") != strings.Join(want, "") {
		t.Fatalf("unwind through the read log differs:\n%s\nwant:\n%s", strings.Join(got, ""), strings.Join(want, ""))
	}

	rec := recording{
		Arch: live.Arch.Name, Pid: live.Pid, Exe: live.Exe, Maps: live.Maps,
		VDSO: live.VDSO, VDSOAddr: live.VDSOAddr, Memory: log.merged(),
		Files: map[string]string{}, Want: want,
	}
	for _, th := range live.Threads {
		if th.Err != nil || th.NotStopped != nil {
			t.Fatalf("thread %d not captured whole: %v %v", th.TID, th.Err, th.NotStopped)
		}
		rec.Threads = append(rec.Threads, recordedThread{TID: th.TID, Info: th.Info, Regs: th.Regs, TLS: th.TLS})
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range live.Maps {
		if !m.Exec() || !strings.HasPrefix(m.Path, "/") || rec.Files[m.Path] != "" {
			continue
		}
		name := filepath.Base(m.Path)
		rec.Files[m.Path] = name
		data, err := os.ReadFile(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".gz"), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.MarshalIndent(rec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "snapshot.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d threads, %d memory segments, %d files in %s", len(rec.Threads), len(rec.Memory), len(rec.Files), dir)
}
